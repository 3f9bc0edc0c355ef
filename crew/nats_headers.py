"""nats-py parses the headers of every message it receives in pure Python before anyone sees
them: about 11 µs for an event's ten headers, a tenth of a rebuild's time (docs/performance.md).
`parse_header_lines` gives the same dict, byte for byte, in about 4 µs: the whitespace check is
one C-level split instead of a Python generator per header name, and each name is checked
once and kept (`_NAMES`).

crew installs it in place of nats-py's own (`Client._parse_header_lines`, a private static
method) when the kernel is imported (crew/__init__.py). tests/unit/test_nats_headers.py checks
it agrees with nats-py's on any bytes, and that it is the one in use: a nats-py release that
renames the method fails that test instead of silently parsing slower."""

from __future__ import annotations

import sys
from typing import Any

from nats.aio.client import Client

NATS_OWN: Any = Client.__dict__.get("_parse_header_lines")  # the original, for the tests


def parse_header_lines(raw: bytes) -> dict[str, str]:
    """`Name: Value` per CRLF-ended line. As nats-py: lines without a colon, names that are not
    ASCII or hold whitespace are skipped; values are stripped and decoded as UTF-8, a malformed
    byte becoming U+FFFD; a later header of the same name wins."""
    out: dict[str, str] = {}
    for line in raw.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if colon:
            key = _NAMES[name] if name in _NAMES else _name(name)
            if key is not None:
                out[key] = value.strip().decode("utf-8", "replace")
    return out


_NAMES: dict[bytes, str | None] = {}
"""A name as sent, and the header it is (None: skipped): every event carries the same ten, so
each is checked once and all of a rebuild's messages share one string per name, instead of a
million new ones (a tenth of the memory a batch of events holds)."""
NAMES_KEPT = 1024  # names past this many are checked every time: a sender cannot grow it


def _name(raw: bytes) -> str | None:
    stripped = raw.strip()
    key: str | None = None
    if stripped.isascii():
        text = stripped.decode("ascii")
        if not text or text.split() == [text]:  # str.split: unicode whitespace, as isspace
            key = sys.intern(text)
    if len(_NAMES) < NAMES_KEPT:
        _NAMES[raw] = key
    return key


def install() -> None:
    if NATS_OWN is not None:
        Client._parse_header_lines = staticmethod(parse_header_lines)  # type: ignore[method-assign,assignment]
