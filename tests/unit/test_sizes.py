"""Small enough to hold in one's head: no source file outside tests/ over 500 lines, and no
function over 60. `python -m tests.unit.test_sizes` prints the ten longest functions."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("crew", "house", "services", "projections", "schemas", "bench")
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 60


def sources() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def functions() -> Iterator[tuple[int, str]]:
    """(lines, "path:line name") for every function and method, decorators excluded."""
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                yield lines, f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"


def test_no_source_file_is_over_500_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in sources()
        if (n := len(path.read_text().splitlines())) > MAX_FILE_LINES
    }
    assert long == {}


def test_no_function_is_over_60_lines() -> None:
    long = sorted(f for f in functions() if f[0] > MAX_FUNCTION_LINES)
    assert long == []


if __name__ == "__main__":
    for lines, where in sorted(functions(), reverse=True)[:10]:
        print(f"{lines:4d}  {where}")
