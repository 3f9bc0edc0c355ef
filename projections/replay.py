"""Reading the log in order: an ordered push consumer from a given sequence, taken in batches."""

from __future__ import annotations

import asyncio

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from crew import subjects
from crew.eventstore import Recorded

MAX_BUFFERED = 20_000


class Replay:
    """Every event from `start` on, in stream order, for as long as it runs (no acks, no state
    on the server: the reader keeps its own checkpoint)."""

    def __init__(self, nc: NATS, start: int, subject: str = subjects.EVENTS_ALL) -> None:
        self._nc = nc
        self._subject = subject
        self._start = max(start, 1)
        self._buffer: list[Recorded] = []
        self._ready = asyncio.Event()
        self._room = asyncio.Event()  # set while the buffer has room
        self._room.set()
        self._sub: JetStreamContext.PushSubscription | None = None

    async def start(self) -> Replay:
        js = self._nc.jetstream()
        self._sub = await js.subscribe(
            self._subject,
            stream=subjects.STREAM,
            ordered_consumer=True,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self._start
            ),
            cb=self._received,
            pending_msgs_limit=200_000,
            pending_bytes_limit=256 * 1024 * 1024,
        )
        return self

    async def _received(self, msg: Msg) -> None:
        if len(self._buffer) >= MAX_BUFFERED:
            # Backpressure: while this waits, no flow-control reply goes back and the server
            # pauses, so memory stays flat however long the log is.
            self._room.clear()
            await self._room.wait()
        meta = msg.metadata
        self._buffer.append(
            Recorded(meta.sequence.stream, msg.subject, msg.data, msg.headers or {}, meta.timestamp)
        )
        self._ready.set()

    async def take(self, limit: int, timeout: float | None = None) -> list[Recorded]:
        """Up to `limit` events, waiting for at least one (or `timeout`, then [])."""
        if not self._buffer:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return []
        batch, self._buffer = self._buffer[:limit], self._buffer[limit:]
        if len(self._buffer) < MAX_BUFFERED // 2:
            self._room.set()
        return batch

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None
