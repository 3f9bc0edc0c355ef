"""Every pattern the house checks and publishes means the whole text, in Python and in ECMA."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from house.contract import asyncapi
from schemas.common import END, ID_PATTERN, Id
from schemas.registry import COMMAND_TYPES, EVENT_TYPES

PUBLISHED = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from patterns(value)


def every_schema() -> list[Any]:
    kinds = [*COMMAND_TYPES.values(), *EVENT_TYPES.values()]
    return [msgspec.json.schema(kind) for kind in kinds] + [asyncapi()]


HAS_ID = msgspec.json.Decoder(msgspec.defstruct("HasId", [("meal_id", Id)]))


def test_an_id_with_a_final_newline_is_not_an_id() -> None:
    assert HAS_ID.decode(b'{"meal_id": "m1"}').meal_id == "m1"  # type: ignore[attr-defined]
    with pytest.raises(msgspec.ValidationError, match=r"at `\$\.meal_id`"):
        HAS_ID.decode(b'{"meal_id": "m1\\n"}')


def test_every_pattern_ends_at_the_end_of_the_text_not_before_a_newline() -> None:
    found = {p for schema in every_schema() for p in patterns(schema)}
    assert ID_PATTERN in found
    for pattern in found:
        # `$` passes "x\n" in Python; `\Z` is not ECMA (a JSON Schema reader sees a plain Z)
        assert pattern.endswith(END), pattern
        assert "\\Z" not in pattern and not pattern.endswith("$"), pattern


def test_the_published_schemas_are_the_ones_the_code_makes() -> None:
    published = {
        p
        for path in PUBLISHED.rglob("*.json")
        for p in patterns(json.loads(path.read_text(encoding="utf-8")))
    }
    made = {p for schema in every_schema() for p in patterns(schema)}
    assert published == made, "run `crew schemas --out docs/schemas`"


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run ECMA regex")
def test_the_published_id_pattern_is_valid_ecma_and_means_the_same() -> None:
    found = sorted({p for schema in every_schema() for p in patterns(schema)})
    script = (
        "const ps = JSON.parse(process.argv[1]);"
        "for (const p of ps) { new RegExp(p, 'u'); }"  # a syntax error throws: node exits 1
        "const id = new RegExp(process.argv[2], 'u');"
        "console.log(JSON.stringify(['m1', 'm1\\n', 'm.1', 'x'.repeat(65)].map(s => id.test(s))));"
    )
    out = subprocess.run(
        ["node", "-e", script, json.dumps(found), ID_PATTERN],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert json.loads(out) == [True, False, False, False]
