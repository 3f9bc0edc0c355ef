"""Keeping docs/contract.md's refusal tables honest: the codes a decider gives per command,
found by trying commands against states, against the codes the table lists for them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from crew.decider import Refusal

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "contract.md"


def codes_given(
    decide: Callable[[Any, Any], object], tries: Iterable[tuple[Any, Mapping[str, list[Any]]]]
) -> dict[str, set[str]]:
    """{command: codes} refused when each state meets each of its commands."""
    seen: dict[str, set[str]] = {}
    for state, commands in tries:
        for name, attempts in commands.items():
            seen.setdefault(name, set())
            for command in attempts:
                try:
                    decide(state, command)
                except Refusal as refusal:
                    seen[name].add(refusal.code)
    return seen


def codes_documented(context: str) -> dict[str, set[str]]:
    table = re.findall(rf"^\| `{context}\.(\w+)` \|[^|]*\|([^|]*)\|$", CONTRACT.read_text(), re.M)
    return {name: set(re.findall(r"`([a-z_]+)`", codes)) for name, codes in table}
