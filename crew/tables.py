"""How rows are shown, by the CLI and the coordinators' SQL box: a table on a terminal, CSV,
JSON, Parquet; never a raw control character, never a spreadsheet formula."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import msgspec

# What a value must not bring to a terminal raw: C0 and C1 controls (an escape sequence can
# rewrite the screen or the title; a carriage return hides what came before), DEL, and the
# Unicode line separators and bidirectional overrides that reorder what is shown.
CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP: CSV injection).
FORMULA_START = ("=", "+", "-", "@")


def visible(text: str) -> str:
    """The text with every control character written out (\\x1b, \\r, \\n), never raw."""
    return CONTROLS.sub(_written_out, text)


def _written_out(match: re.Match[str]) -> str:
    c = match.group()
    return NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return visible(value)
    return visible(msgspec.json.encode(value).decode().strip('"'))


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    cell = _cell(value)
    # Only text is neutralised: a number, a negative one too, stays a number.
    if isinstance(value, str) and cell.startswith(FORMULA_START):
        return "'" + cell
    return cell


def format_rows(columns: list[str], rows: list[list[Any]], fmt: str) -> str:
    if fmt == "json":  # JSON escapes every control character itself
        return msgspec.json.encode([dict(zip(columns, row, strict=True)) for row in rows]).decode()
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([_csv_cell(c) for c in columns])
        writer.writerows([[_csv_cell(v) for v in row] for row in rows])
        return out.getvalue().rstrip("\n")
    names = [visible(c) for c in columns]
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(names)]
    line = lambda values: " │ ".join(v.ljust(w) for v, w in zip(values, widths, strict=True))  # noqa: E731
    rule = "─┼─".join("─" * w for w in widths)
    count = f"({len(rows)} row{'s' if len(rows) != 1 else ''})"
    return "\n".join([line(names), rule, *(line(r) for r in cells), count])


def write_parquet(out: Path, columns: list[str], types: list[str], rows: list[list[Any]]) -> None:
    """Parquet with the view's own column types (from the query service's reply), not guessed
    from the values: an empty view or an all-NULL column keeps its type."""
    import tempfile

    import duckdb

    def literal(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    # JSON values arrive as text, and DuckDB reads no ISO 8601 duration: both are read as text
    read_as = {"JSON": "VARCHAR", "INTERVAL": "VARCHAR"}
    spec = ", ".join(
        f"{literal(c)}: {literal(read_as.get(t, t))}" for c, t in zip(columns, types, strict=True)
    )
    select = ", ".join(
        f'cast("{c}" as JSON) as "{c}"' if t == "JSON" else f'"{c}"'
        for c, t in zip(columns, types, strict=True)
    )
    with tempfile.TemporaryDirectory() as tmp:
        lines = Path(tmp) / "rows.jsonl"
        lines.write_bytes(
            b"".join(msgspec.json.encode(dict(zip(columns, r, strict=True))) + b"\n" for r in rows)
        )
        source = (
            f"read_json({literal(str(lines))}, format = 'newline_delimited', columns = {{{spec}}})"
        )
        con = duckdb.connect()
        try:
            con.execute(
                f"copy (select {select} from {source}) to {literal(str(out))} (format parquet)"
            )
        finally:
            con.close()


def parquet_bytes(columns: list[str], types: list[str], rows: list[list[Any]]) -> bytes:
    """The rows as a Parquet file's bytes (as write_parquet writes them), for a download."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.parquet"
        write_parquet(out, columns, types, rows)
        return out.read_bytes()
