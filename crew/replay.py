"""Reading the log in order: an ephemeral pull consumer from a given sequence, in batches.

Pull, not push: the reader asks for the next batch only when it has room, so a slow reader
(a rebuild folding a million events) is never sent more than it asked for. An ordered push
consumer was tried first: past a few hundred thousand events it overran the client's pending
queue, dropped messages and, once, stalled (measured in make bench --size full).

Like an ordered consumer, the reader checks that each batch continues exactly where the last
one ended (the consumer's own sequence has no holes, whatever the filter); on a gap it makes a
new consumer from there, so nothing is ever skipped.

The consumer's name comes from `secrets`: no one else can look it up (consumer names and lists
are refused to every user but the house's own), so no one can change or stop it by name.
The projector, backups, the CLI and the services that follow another context share it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NamedTuple

import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from crew import subjects
from crew.eventstore import Recorded

log = structlog.get_logger("crew.replay")

POLL_S = 5.0  # how often an idle reader checks that its consumer is still in step
FETCH_S = 0.5  # the longest one pull waits for news: the reader looks up at least this often
ANSWER_S = 2.0  # past its own wait, how long a pull may go unanswered before it counts as lost


class Delivery(NamedTuple):
    """What the reader needs of a JetStream message's reply subject."""

    stream_seq: int
    consumer_seq: int
    timestamp: datetime


def delivery_of(reply: str) -> Delivery:
    """`$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ns>.<pending>`, or
    with a domain and an account hash after `$JS.ACK` (ADR-15), read as nats-py's
    `Msg.metadata` reads it, without its two frozen dataclasses per message (5 % of a
    rebuild). tests/unit/test_replay_delivery.py holds it to nats-py's."""
    tokens = reply.split(".")
    if tokens[:2] != ["$JS", "ACK"] or not (len(tokens) == 9 or len(tokens) >= 11):
        raise nats.errors.Error(f"not a JetStream delivery: {reply[:64]!r}")
    at = 5 if len(tokens) == 9 else 7
    ns = int(tokens[at + 2])
    return Delivery(int(tokens[at]), int(tokens[at + 1]), datetime.fromtimestamp(ns / 1e9, UTC))


def recorded(msg: Msg, delivery: Delivery) -> Recorded:
    stamp = delivery.timestamp
    return Recorded(delivery.stream_seq, msg.subject, msg.data, msg.headers or {}, stamp)


class Replay:
    """Every event from `start` on, in stream order, for as long as it runs (no acks, no state
    on the server worth keeping: the reader keeps its own checkpoint).

    The reader pulls on an inbox of its own, subscribed once per consumer: what the server sends
    lands in a list from the subscription's callback. No task, future or timer is made per
    message (nats-py's `fetch` makes all three: a tenth of a rebuild), and a message sent to a
    pull the reader stopped waiting for is kept for the next `take`, never lost. One pull is
    open at a time: first without waiting (everything there now, then the server's 404), and
    when that brought nothing, one that waits up to FETCH_S for the next event (the server's
    408 ends it)."""

    def __init__(
        self,
        nc: NATS,
        start: int,
        subject: str | Sequence[str] = subjects.EVENTS_ALL,
        stream: str = subjects.STREAM,
        description: str | None = None,
    ) -> None:
        self._nc = nc
        self._start = max(start, 1)
        self._subjects = [subject] if isinstance(subject, str) else list(subject)
        self._stream = stream
        self._description = description
        self._name: str | None = None  # the consumer's
        self._inbox_sub: Subscription | None = None
        self._inbox = ""
        self._delivered = 0  # the consumer sequence of the last message taken
        self._buffer: list[Msg] = []  # arrived, not taken yet
        self._owed = 0  # messages the open pull may still bring; 0: no pull is open
        self._waiting = False  # the open pull waits for news (else it takes what is there)
        self._quiet = False  # the last pull brought nothing: the next one waits for news
        self._troubled = False  # the server answered a pull with a status other than "none"
        self._arrival = asyncio.Event()

    @property
    def next_seq(self) -> int:
        """The stream sequence the reader has not seen yet (where a new consumer starts)."""
        return self._start

    async def start(self) -> Replay:
        js = self._nc.jetstream()
        name = secrets.token_hex(16)
        one = len(self._subjects) == 1
        await js.add_consumer(
            self._stream,
            ConsumerConfig(
                filter_subject=self._subjects[0] if one else None,
                filter_subjects=None if one else self._subjects,
                name=name,
                description=self._description,
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=self._start,
                ack_policy=AckPolicy.NONE,
                inactive_threshold=120.0,  # cleaned up by the server if we vanish
                mem_storage=True,
            ),
        )
        self._inbox = self._nc.new_inbox()
        self._inbox_sub = await self._nc.subscribe(self._inbox, cb=self._on_message)
        self._name = name
        self._delivered = 0
        self._buffer, self._owed = [], 0
        return self

    async def _on_message(self, msg: Msg) -> None:
        self._arrived(msg)

    def _arrived(self, msg: Msg) -> None:
        """What the server sent on the inbox: a message, or a status that ends the pull (404
        nothing there now, 408 the wait is over; any other, such as 409 or 503, says the
        consumer may be gone, and the reader looks)."""
        status = msg.headers.get("Status") if msg.headers else None
        if status is None:
            self._buffer.append(msg)
            self._owed = max(self._owed - 1, 0)
        elif status != "100":  # 100: an idle heartbeat, not an answer
            self._owed = 0
            self._troubled = self._troubled or status not in ("404", "408")
        if self._settled():
            self._arrival.set()  # once per pull, not per message: the reader wakes once

    def _settled(self) -> bool:
        """Whether the open pull has given what the reader waits for: all of it when it takes
        what is there, its first message when it waits for news."""
        return self._owed == 0 or (self._waiting and bool(self._buffer))

    async def _pull(self, limit: int, wait: float | None) -> None:
        """Open the next pull: everything there now (None), or the next events within `wait`
        seconds (after a pull that brought nothing)."""
        assert self._name is not None, "start() first"
        self._waiting = wait is not None
        request: dict[str, object] = {"batch": limit}
        if wait is None:
            request["no_wait"] = True
        else:
            request["expires"] = int(max(wait, 0.01) * 1e9)
        self._owed = limit
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{self._stream}.{self._name}"
        await self._nc.publish(subject, json.dumps(request).encode(), reply=self._inbox)

    async def _settle(self, wait: float) -> bool:
        """Wait for the open pull: to its end when it takes what is there, to its first message
        when it waits for news. False when the server said nothing in time (the pull was lost:
        a restart, or a connection cut)."""
        if not self._settled():
            self._arrival.clear()
            try:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a
                # cancellation that comes as the wait ends, and a follower then never stops.
                async with asyncio.timeout(wait):
                    await self._arrival.wait()
            except TimeoutError:
                self._owed = 0
                return False
        return True

    async def take(self, limit: int, timeout: float | None = None) -> list[Recorded]:
        """Up to `limit` events, waiting for at least one (or `timeout`, then []).

        No single pull waits longer than FETCH_S, so the reader looks up now and then. The
        consumer lives in the server's memory: when the server restarts (or it expired while
        we were cut off), it is made again from the next sequence we have not seen, so a reader
        never stalls and never skips."""
        now = time.monotonic()
        deadline = None if timeout is None else now + timeout
        checked = now  # when the consumer was last seen to be in step
        while True:
            if self._buffer and not self._filling(limit):
                msgs, self._buffer = self._buffer[:limit], self._buffer[limit:]
                batch = self._in_order(msgs)
                if batch is None:  # a message went missing on the way: ask again from the gap
                    await self._resume()
                    continue
                self._quiet = False
                return batch
            left = FETCH_S if deadline is None else deadline - time.monotonic()
            wait = max(min(left, FETCH_S), 0.0)
            try:
                if self._owed == 0:
                    await self._pull(limit, wait if self._quiet else None)
                answered = await self._settle(wait + ANSWER_S)
            except (nats.errors.Error, nats.js.errors.Error) as exc:  # cut off, or gone
                log.warning("replay_interrupted", error=type(exc).__name__, next_seq=self._start)
                await asyncio.sleep(0.5)
                await self._resume()
                continue
            if self._buffer:
                continue
            self._quiet = True  # nothing there: the next pull waits for news
            now = time.monotonic()
            over = deadline is not None and now >= deadline
            if not answered or self._troubled or over or now - checked >= POLL_S:
                checked, self._troubled = now, False
                if not await self._consumer_in_step():
                    await self._resume()
            if over:
                return []

    async def prefetch(self, limit: int) -> None:
        """Ask for the next `limit` events now, when no pull is open and none wait here: they
        arrive (and nats-py parses them) while the caller is busy with the last batch, such as
        a rebuild folding it in a thread, and the next `take` finds them. Nothing is taken, so
        nothing can be lost; a pull that fails here is opened again by `take`."""
        if self._name is None or self._owed or self._buffer:
            return
        try:
            await self._pull(limit, None)
        except (nats.errors.Error, nats.js.errors.Error):
            self._owed = 0

    def _filling(self, limit: int) -> bool:
        """A pull of what is there (a prefetch) is still bringing the rest of its batch."""
        return bool(self._owed) and not self._waiting and len(self._buffer) < limit

    def _in_order(self, msgs: list[Msg]) -> list[Recorded] | None:
        """The batch if it continues exactly where the last one ended, else its part that does
        (None when that is nothing). The consumer numbers what it delivers without holes (no
        acks, so no redeliveries), whatever its filter; a reader of the whole stream checks the
        stream's sequences too (the stream never deletes, so they have no holes either)."""
        whole = self._subjects == [subjects.EVENTS_ALL]
        batch: list[Recorded] = []
        for msg in msgs:
            delivery = delivery_of(msg.reply)
            expected = self._delivered + 1
            if delivery.consumer_seq != expected or (whole and delivery.stream_seq != self._start):
                log.warning(
                    "replay_gap",
                    expected_seq=self._start,
                    got_seq=delivery.stream_seq,
                    expected_delivery=expected,
                    got_delivery=delivery.consumer_seq,
                )
                return batch or None
            self._delivered = delivery.consumer_seq
            batch.append(recorded(msg, delivery))
            self._start = delivery.stream_seq + 1
        return batch

    async def _consumer_in_step(self) -> bool:
        """False when the consumer is gone (a server restart), or when it delivered more than
        reached us (no acks, so no redelivery; with no message after the lost one no gap would
        ever show)."""
        assert self._name is not None
        try:
            info = await self._nc.jetstream().consumer_info(self._stream, self._name)
        except nats.js.errors.NotFoundError:
            return False
        except (nats.errors.Error, nats.js.errors.Error):
            return True  # cannot tell now; the next pull says more
        delivered = info.delivered.consumer_seq if info.delivered else None
        return (delivered or 0) <= self._delivered + len(self._buffer)

    async def _forget_consumer(self) -> None:
        """Stop listening on this consumer's inbox; what it still sends is dropped with it."""
        sub, self._inbox_sub, self._name = self._inbox_sub, None, None
        self._buffer, self._owed = [], 0
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _resume(self) -> None:
        """A new consumer from the next unseen sequence (the old one, if any, expires)."""
        await self._forget_consumer()
        while self._name is None:
            try:
                await self.start()
                log.info("replay_resumed", next_seq=self._start)
            except (nats.errors.Error, nats.js.errors.Error) as exc:
                log.warning("replay_resume_failed", error=type(exc).__name__)
                await asyncio.sleep(1)

    async def stop(self) -> None:
        name = self._name
        await self._forget_consumer()
        if name is not None:
            with contextlib.suppress(Exception):
                await self._nc.jetstream().delete_consumer(self._stream, name)
