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
import secrets
import time
from collections.abc import Sequence
from datetime import datetime

import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from crew import subjects
from crew.eventstore import Recorded

log = structlog.get_logger("crew.replay")

POLL_S = 5.0  # how often an idle reader checks that its consumer is still in step
FETCH_S = 0.5  # the longest one fetch waits: the most a news event can sit unseen (see take)


def _status(msg: Msg) -> bool:
    return bool(msg.headers and msg.headers.get("Status"))


def recorded(msg: Msg) -> Recorded:
    meta = msg.metadata
    stamp: datetime = meta.timestamp
    return Recorded(meta.sequence.stream, msg.subject, msg.data, msg.headers or {}, stamp)


class Replay:
    """Every event from `start` on, in stream order, for as long as it runs (no acks, no state
    on the server worth keeping: the reader keeps its own checkpoint)."""

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
        self._sub: JetStreamContext.PullSubscription | None = None
        self._delivered = 0  # the consumer sequence of the last message taken

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
        self._sub = await js.pull_subscribe_bind(consumer=name, stream=self._stream)
        self._delivered = 0
        return self

    async def take(self, limit: int, timeout: float | None = None) -> list[Recorded]:
        """Up to `limit` events, waiting for at least one (or `timeout`, then []).

        No single fetch waits longer than FETCH_S. A message delivered to a fetch that was just
        giving up reaches the next one, which (nats-py 2.16) then waits for the rest of its
        batch until its own time is up: with one long fetch a lone event could sit unseen for
        the whole wait (measured: 30 s in the notices service, until the next event came).

        The consumer lives in the server's memory: when the server restarts (or it expired
        while we were cut off), it is made again from the next sequence we have not seen, so a
        reader never stalls and never skips."""
        assert self._sub is not None, "start() first"
        now = time.monotonic()
        deadline = None if timeout is None else now + timeout
        checked = now  # when the consumer was last seen to be in step
        while True:
            left = FETCH_S if deadline is None else deadline - time.monotonic()
            try:
                msgs = await self._sub.fetch(limit, timeout=max(min(left, FETCH_S), 0.001))
            except TimeoutError:  # nats' own, or asyncio's that a pull gives up with
                now = time.monotonic()
                over = deadline is not None and now >= deadline
                if over or now - checked >= POLL_S:
                    checked = now
                    if not await self._consumer_in_step():
                        await self._resume()
                if over:
                    return []
                continue
            except (nats.errors.Error, nats.js.errors.Error) as exc:  # cut off, or gone
                log.warning("replay_interrupted", error=type(exc).__name__, next_seq=self._start)
                await asyncio.sleep(0.5)
                await self._resume()
                continue
            batch = self._in_order([m for m in msgs if not _status(m)])
            if batch is None:  # a message went missing on the way: ask again from the gap
                await self._resume()
                continue
            if batch or (deadline is not None and time.monotonic() >= deadline):
                return batch

    def _in_order(self, msgs: list[Msg]) -> list[Recorded] | None:
        """The batch if it continues exactly where the last one ended, else its part that does
        (None when that is nothing). The consumer numbers what it delivers without holes (no
        acks, so no redeliveries), whatever its filter; a reader of the whole stream checks the
        stream's sequences too (the stream never deletes, so they have no holes either)."""
        whole = self._subjects == [subjects.EVENTS_ALL]
        batch: list[Recorded] = []
        for msg in msgs:
            meta = msg.metadata.sequence
            expected = self._delivered + 1
            if meta.consumer != expected or (whole and meta.stream != self._start):
                log.warning(
                    "replay_gap",
                    expected_seq=self._start,
                    got_seq=meta.stream,
                    expected_delivery=expected,
                    got_delivery=meta.consumer,
                )
                return batch or None
            self._delivered = meta.consumer
            batch.append(recorded(msg))
            self._start = meta.stream + 1
        return batch

    async def _consumer_in_step(self) -> bool:
        """False when the consumer is gone (a server restart), or when it delivered more than
        reached us: a message sent to a fetch that was just giving up is lost to this consumer
        (no acks, so no redelivery), and with no message after it no gap would ever show."""
        assert self._sub is not None
        try:
            info = await self._sub.consumer_info()
        except nats.js.errors.NotFoundError:
            return False
        except (nats.errors.Error, nats.js.errors.Error):
            return True  # cannot tell now; the next fetch says more
        delivered = info.delivered.consumer_seq if info.delivered else None
        return (delivered or 0) <= self._delivered

    async def _resume(self) -> None:
        """A new consumer from the next unseen sequence (the old one, if any, expires)."""
        old, self._sub = self._sub, None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.unsubscribe()
        while self._sub is None:
            try:
                await self.start()
                log.info("replay_resumed", next_seq=self._start)
            except (nats.errors.Error, nats.js.errors.Error) as exc:
                log.warning("replay_resume_failed", error=type(exc).__name__)
                await asyncio.sleep(1)

    async def stop(self) -> None:
        if self._sub is not None:
            sub, self._sub = self._sub, None
            with contextlib.suppress(Exception):
                info = await sub.consumer_info()
                await self._nc.jetstream().delete_consumer(self._stream, info.name)
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
