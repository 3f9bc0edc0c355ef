"""Reading the log in order: an ephemeral pull consumer from a given sequence, in batches.

Pull, not push: the reader asks for the next batch only when it has room, so a slow reader
(a rebuild folding a million events) is never sent more than it asked for. An ordered push
consumer was tried first: past a few hundred thousand events it overran the client's pending
queue, dropped messages and, once, stalled (measured in make bench --size full)."""

from __future__ import annotations

import contextlib
from datetime import datetime

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from crew import subjects
from crew.eventstore import Recorded

POLL_S = 5.0  # how long one fetch waits for new events when there are none


def recorded(msg: Msg) -> Recorded:
    meta = msg.metadata
    stamp: datetime = meta.timestamp
    return Recorded(meta.sequence.stream, msg.subject, msg.data, msg.headers or {}, stamp)


class Replay:
    """Every event from `start` on, in stream order, for as long as it runs (no acks, no state
    on the server worth keeping: the reader keeps its own checkpoint)."""

    def __init__(self, nc: NATS, start: int, subject: str = subjects.EVENTS_ALL) -> None:
        self._nc = nc
        self._start = max(start, 1)
        self._subject = subject
        self._sub: JetStreamContext.PullSubscription | None = None

    async def start(self) -> Replay:
        js = self._nc.jetstream()
        self._sub = await js.pull_subscribe(
            self._subject,
            stream=subjects.STREAM,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=self._start,
                ack_policy=AckPolicy.NONE,
                inactive_threshold=120.0,  # cleaned up by the server if we vanish
                mem_storage=True,
            ),
        )
        return self

    async def take(self, limit: int, timeout: float | None = None) -> list[Recorded]:
        """Up to `limit` events, waiting for at least one (or `timeout`, then [])."""
        assert self._sub is not None, "start() first"
        while True:
            try:
                msgs = await self._sub.fetch(
                    limit, timeout=timeout if timeout is not None else POLL_S
                )
            except nats.errors.TimeoutError:
                if timeout is not None:
                    return []
                continue
            batch = [recorded(m) for m in msgs if not (m.headers and m.headers.get("Status"))]
            if batch or timeout is not None:
                return batch

    async def stop(self) -> None:
        if self._sub is not None:
            sub, self._sub = self._sub, None
            with contextlib.suppress(Exception):
                info = await sub.consumer_info()
                await self._nc.jetstream().delete_consumer(subjects.STREAM, info.name)
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
