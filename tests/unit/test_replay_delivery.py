"""The reader reads a delivery's reply subject as nats-py's `Msg.metadata` does."""

from __future__ import annotations

import nats.errors
import pytest
from hypothesis import given
from hypothesis import strategies as st
from nats.aio.msg import Msg

from crew.replay import delivery_of

SEQ = st.integers(min_value=1, max_value=2**63 - 1)
NS = st.integers(min_value=0, max_value=4_102_444_800_000_000_000)  # up to 2100


@given(SEQ, SEQ, NS, st.booleans(), st.booleans())
def test_it_reads_both_forms_of_the_subject_as_nats_py_does(
    stream_seq: int, consumer_seq: int, ns: int, with_domain: bool, with_token: bool
) -> None:
    tail = f"CREW_EVENTS.c1.1.{stream_seq}.{consumer_seq}.{ns}.0"
    reply = f"$JS.ACK.hub.ACCHASH.{tail}" if with_domain else f"$JS.ACK.{tail}"
    if with_domain and with_token:
        reply += ".r4nd0m"  # the v2 form may end in a random token
    theirs = Msg.Metadata._from_reply(reply)
    ours = delivery_of(reply)
    assert ours == (theirs.sequence.stream, theirs.sequence.consumer, theirs.timestamp)


@pytest.mark.parametrize(
    "reply",
    ["", "_INBOX.x", "$JS.ACK.S.c.1.2.3.4", "$JS.ACK.d.h.S.c.1.2.3.4", "$JS.NAK.S.c.1.2.3.4.5"],
)
def test_anything_else_is_not_a_delivery(reply: str) -> None:
    with pytest.raises(nats.errors.Error):
        delivery_of(reply)
    with pytest.raises(nats.errors.Error):
        Msg.Metadata._from_reply(reply)
