"""Reading the crew list a house brings along (`crew import-crew members.csv`), row by row.

Everything wrong with a row is found here and named, so the import can report each row and
still import the good ones: text that is not UTF-8, broken quoting, too many fields. Rows
are numbered by the lines they start and end on, so a quoted field spanning lines does not
shift the numbers of the rows after it. Whether a row's values are valid is for the service
to say, as for any command."""

from __future__ import annotations

import base64
import csv
import io
import os
from collections.abc import Callable
from typing import Any

import msgspec

COLUMNS = ("crew_id", "display_name", "contact")


class BadFile(ValueError):
    """The file as a whole cannot be read as a crew list (e.g. its header has no names)."""


class Member(msgspec.Struct, frozen=True, kw_only=True):
    first_line: int
    last_line: int
    crew_id: str  # "" when the file gives none: the import makes one
    display_name: str
    contact: str = ""


class BadRow(msgspec.Struct, frozen=True, kw_only=True):
    first_line: int
    last_line: int
    problem: str


class MembersFile(msgspec.Struct, frozen=True, kw_only=True):
    rows: list[Member | BadRow]
    ignored_columns: list[str] = []


def new_crew_id(random: Callable[[int], bytes] = os.urandom) -> str:
    """A pseudonym for someone the file gives no crew id: `c-` and 8 random base32 letters.
    Never derived from the name, so it gives nothing of the person away."""
    return "c-" + base64.b32encode(random(5)).decode().lower()


def _not_utf8(values: list[str]) -> str | None:
    for value in values:
        for char in value:
            if "\udc80" <= char <= "\udcff":  # an undecodable byte, kept by surrogateescape
                return f"byte 0x{ord(char) - 0xDC00:02x} is not UTF-8 text"
    return None


def _header(reader: Any) -> list[str]:
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise BadFile(
            "the file is empty; it needs a header row: crew_id,display_name,contact"
        ) from None
    except csv.Error as exc:
        raise BadFile(f"the header row is not CSV: {exc}") from None
    if (problem := _not_utf8(header)) or "display_name" not in header:
        raise BadFile(
            f"the header row names no display_name column ({problem or ', '.join(header)}); "
            "it should read crew_id,display_name,contact"
        )
    return header


def _row(header: list[str], values: list[str], first: int, last: int) -> Member | BadRow:
    if problem := _not_utf8(values):
        return BadRow(
            first_line=first,
            last_line=last,
            problem=f'{problem}: save the file as UTF-8 ("CSV UTF-8" in a spreadsheet)',
        )
    if len(values) > len(header):
        return BadRow(
            first_line=first,
            last_line=last,
            problem=f"{len(values)} fields, the header has {len(header)} "
            "(a comma in a name needs quotes around the name)",
        )
    row = dict(zip(header, values, strict=False))
    return Member(
        first_line=first,
        last_line=last,
        crew_id=row.get("crew_id", "").strip(),
        display_name=row.get("display_name", "").strip(),
        contact=row.get("contact", "").strip(),
    )


def read_members(data: bytes) -> MembersFile:
    """The rows of a CSV file with a header naming `display_name` and optionally `crew_id`
    and `contact`."""
    text = data.decode("utf-8", "surrogateescape").removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header = _header(reader)
    rows: list[Member | BadRow] = []
    last = reader.line_num
    while True:
        first = last + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            last = reader.line_num
            rows.append(BadRow(first_line=first, last_line=last, problem=f"broken quoting: {exc}"))
            continue
        last = reader.line_num
        if any(v.strip() for v in values):  # not a blank line
            rows.append(_row(header, values, first, last))
    return MembersFile(rows=rows, ignored_columns=[c for c in header if c not in COLUMNS])
