"""crew's header parser gives what nats-py's own gives, on any bytes, and is the one in use."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from nats.aio.client import Client

from crew import nats_headers
from crew.nats_headers import NATS_OWN, parse_header_lines

# What headers are made of, and what may go wrong in them: separators, whitespace of every
# kind (str.isspace has \x1c-\x1f too), colons, non-ASCII and malformed UTF-8.
PIECES = st.sampled_from(
    [b"Crew-Event-Type", b"Nats-Msg-Id", b"a", b"", b":", b": ", b" ", b"\t", b"\x0b", b"\x1c",
     b"\x1f", b"\x85", b"\xc3\xa6", b"\xff", b"\r", b"\n", b"\r\n", b"meals.volunteered", b"1"]
)  # fmt: skip
BLOCKS = st.lists(st.lists(PIECES, max_size=8).map(b"".join), max_size=8).map(b"\r\n".join)


@settings(max_examples=2000)
@given(st.one_of(BLOCKS, st.binary(max_size=200)))
def test_it_parses_any_bytes_as_nats_py_does(raw: bytes) -> None:
    assert parse_header_lines(raw) == NATS_OWN.__func__(raw)


def test_an_events_headers_come_out_whole() -> None:
    raw = b"Crew-Event-Type: meals.volunteered_to_cook\r\nCrew-Actor: kiosk:hall\r\nNats-Msg-Id: c1\r\n\r\n"
    assert parse_header_lines(raw) == {
        "Crew-Event-Type": "meals.volunteered_to_cook",
        "Crew-Actor": "kiosk:hall",
        "Nats-Msg-Id": "c1",
    }


def test_it_is_the_parser_nats_py_uses() -> None:
    assert NATS_OWN is not None, "nats-py no longer has _parse_header_lines: look again"
    assert Client._parse_header_lines is parse_header_lines


def test_every_message_shares_one_string_per_name() -> None:
    first = parse_header_lines(b"Crew-Event-Type: a\r\n\r\n")
    again = parse_header_lines(b"Crew-Event-Type: b\r\n\r\n")
    assert next(iter(first)) is next(iter(again))


def test_names_kept_are_bounded_whatever_a_sender_sends() -> None:
    for n in range(2 * nats_headers.NAMES_KEPT):
        assert parse_header_lines(f"X-{n}: v\r\n\r\n".encode()) == {f"X-{n}": "v"}
    assert len(nats_headers._NAMES) <= nats_headers.NAMES_KEPT
