"""Following another context's events, one at a time in stream order, from a position of the
follower's own. Shared by the services that react to each other (meals follows the rota's meal
days; the rota follows meals withdrawals).

Why not a durable consumer on the log: the observer user must be allowed the unnamed
consumer create that nats-py's ordered consumers use, and nats-server 2.15.1 lets that create
name an existing consumer in its body and change it (its filter, so the follower would stop).
So the log keeps no state of a follower's: each reads it with a consumer whose name no one
else can learn (crew/replay.py), and keeps its position, the last stream sequence it finished
handling, under its own key in the KV bucket `CREW_FOLLOWERS`, which only it (and the house)
may write. A crash between handling an event and writing the position handles that event
again: the followers make each command id from the event's sequence, so the command shell's
outcomes answer the repeat as the first time and nothing changes twice.

The key is also a lease: the instance named in it handles the events, any other instance of
the same service waits. So, as with the shared durable before, one event is handled at a time
across instances, in order. The holder renews the key every `RENEW_S`; an instance that sees
the key unchanged for `LEASE_S` takes over (a compare-and-set on the key's revision, so only
one does), and a holder whose own write then fails stops. A stopping instance frees the key."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import msgspec
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NATS
from nats.js.api import AckPolicy, DeliverPolicy, KeyValueConfig, StorageType
from nats.js.kv import KeyValue

from crew import subjects
from crew.eventstore import Recorded
from crew.replay import Replay
from crew.shell import CommandMeta

log = structlog.get_logger("crew.follow")

BUCKET = "CREW_FOLLOWERS"  # one key per follower: its position and the instance holding it
LEASE_S = 15.0  # a holder not heard of for this long is gone: another instance takes over
RENEW_S = 5.0  # how often the holder renews the key while it has nothing to handle
RETRY_S = 2.0  # an event the reactor could not handle now is tried again after this
MAX_TRIES = 50  # a lasting failure is given up (logged), so the events after it go on
INSTANCE = secrets.token_hex(8)  # this process: a companion restarted in it takes its key back

# The reactor's answer for one event and its attempt (1, 2, ...): True when it is handled (or
# can never be: unreadable), so the position moves past it; False to try it again later.
React = Callable[[Recorded, int], Awaitable[bool]]


@dataclass(frozen=True)
class Follower:
    name: str  # its key in CREW_FOLLOWERS; also the name of its durable in older houses
    description: str
    filter_subjects: list[str]


class Position(msgspec.Struct, frozen=True):
    seq: int  # the last stream sequence the follower finished handling (0: none yet)
    holder: str = ""  # the instance handling the events now; "" when none


_decode_position = msgspec.json.Decoder(Position).decode


class LeaseLost(Exception):
    """Another instance took the key over: this one stops handling events."""


async def bucket(nc: NATS, replicas: int = 1) -> KeyValue:
    """The followers' positions. Created by the house (`prepare`); the services only use it.
    The same safe settings as the other buckets: on disk, replicated as the stream is."""
    js = nc.jetstream()
    try:
        return await js.key_value(BUCKET)
    except nats.js.errors.BucketNotFoundError:
        return await js.create_key_value(
            KeyValueConfig(
                bucket=BUCKET,
                description="crew: where each follower of the log is, and who follows",
                history=1,
                storage=StorageType.FILE,
                replicas=replicas,
                direct=True,  # gets are Direct Gets, which the role table grants per key
            )
        )


def stop_if_cancelled() -> None:
    """Raise the cancellation a request may have swallowed. nats-py waits for each answer with
    Python 3.11's `asyncio.wait_for`, which drops a cancel that comes as the answer arrives;
    a loop that goes on asking would then never stop (found: a follower outlived its house)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Lease:
    """One follower's key, held by this instance."""

    def __init__(self, kv: KeyValue, key: str, instance: str = INSTANCE) -> None:
        self._kv = kv
        self.key = key
        self.instance = instance
        self.seq = 0
        self._revision = 0
        self._lock = asyncio.Lock()  # renewals and position writes take turns on the revision
        self.lost = asyncio.Event()

    async def acquire(self, nc: NATS) -> None:
        """Wait until no other live instance holds the key, then hold it. A follower without a
        key starts where the durable of an older house left off (`migrated_position`)."""
        seen: tuple[int | None, float] = (-1, 0.0)  # the revision last seen, and since when
        while True:
            stop_if_cancelled()
            try:
                entry = await self._kv.get(self.key)
            except nats.js.errors.KeyNotFoundError:
                entry = None
            try:
                if entry is None or entry.value is None:
                    seq = await migrated_position(nc, self.key)
                    self._revision = await self._kv.create(self.key, self._value(seq))
                    self.seq = seq
                    return
                position = _decode_position(entry.value)
                now = time.monotonic()
                if entry.revision != seen[0]:
                    seen = (entry.revision, now)
                free = position.holder in ("", self.instance) or now - seen[1] >= LEASE_S
                if free:
                    seq = await _within_log(nc, self.key, position.seq)
                    self._revision = await self._kv.update(
                        self.key, self._value(seq), last=entry.revision
                    )
                    self.seq = seq
                    return
            except nats.js.errors.KeyWrongLastSequenceError:
                continue  # another instance wrote first: look again
            await asyncio.sleep(RENEW_S)

    def _value(self, seq: int, holder: str | None = None) -> bytes:
        return msgspec.json.encode(
            Position(seq=seq, holder=self.instance if holder is None else holder)
        )

    async def _write(self, seq: int, holder: str | None = None) -> None:
        async with self._lock:
            if self.lost.is_set():
                raise LeaseLost(self.key)
            try:
                self._revision = await self._kv.update(
                    self.key, self._value(seq, holder), last=self._revision
                )
            except nats.js.errors.KeyWrongLastSequenceError as exc:
                self.lost.set()
                raise LeaseLost(self.key) from exc
            self.seq = seq

    async def advance(self, seq: int) -> None:
        """The event at `seq` is handled. Written until the server takes it (or someone took
        the key over): a position lost here would only handle the event again."""
        while True:
            try:
                await self._write(seq)
                return
            except (nats.errors.Error, nats.js.errors.Error):  # LeaseLost goes on up
                log.warning("follower_position_not_written", follower=self.key, seq=seq)
                await asyncio.sleep(1)

    async def keep(self) -> None:
        """Renew the key every RENEW_S until it is lost (a failed renewal is tried again)."""
        while not self.lost.is_set():
            await asyncio.sleep(RENEW_S)
            stop_if_cancelled()
            try:
                await self._write(self.seq)
            except LeaseLost:
                return
            except (nats.errors.Error, nats.js.errors.Error):
                log.warning("follower_lease_not_renewed", follower=self.key)

    async def release(self) -> None:
        """Free the key for another instance (best effort: else it waits LEASE_S)."""
        with contextlib.suppress(LeaseLost, nats.errors.Error, nats.js.errors.Error):
            await asyncio.wait_for(self._write(self.seq, holder=""), timeout=2)


async def _within_log(nc: NATS, name: str, seq: int) -> int:
    """A position past the end of the log (a house restored from a backup that saved the
    positions after the log) would skip the new events that get those sequences: it starts at
    the log's end instead, and whatever it handles again is answered as before."""
    last = (await nc.jetstream().stream_info(subjects.STREAM)).state.last_seq
    if seq > last:
        log.warning("follower_position_past_the_log", follower=name, seq=seq, last_seq=last)
        return last
    return seq


async def migrated_position(nc: NATS, name: str) -> int:
    """Where a follower without a key starts: after the last event its durable consumer of an
    older house acknowledged (its ack floor), or at the beginning when there is none. The
    durable is deleted once the key holds the position (`forget_durable`)."""
    try:
        info = await nc.jetstream().consumer_info(subjects.STREAM, name)
    except nats.js.errors.NotFoundError:
        return 0
    config = info.config
    # Only the follower itself acks its durable (the role table denies everyone else its
    # acks), and a durable that delivers all from the start has its floor moved by acks alone.
    # One made otherwise is not ours: start at the beginning (commands are idempotent).
    if config.deliver_policy != DeliverPolicy.ALL or config.ack_policy != AckPolicy.EXPLICIT:
        log.warning("follower_durable_not_ours", follower=name)
        return 0
    seq = info.ack_floor.stream_seq if info.ack_floor and info.ack_floor.stream_seq else 0
    log.info("follower_migrated", follower=name, seq=seq)
    return seq


async def forget_durable(nc: NATS, name: str) -> None:
    """Delete the durable an older house followed with (its position is in the key now)."""
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await nc.jetstream().delete_consumer(subjects.STREAM, name)
        log.info("follower_durable_deleted", follower=name)


async def follow_in_order(
    nc: NATS, follower: Follower, react: React, instance: str = INSTANCE
) -> None:
    """Hand each event after the follower's position to `react`, one at a time, in stream
    order, while this instance holds the follower's key; wait for it otherwise."""
    kv = await bucket(nc)  # made by `crew prepare`; a NATS without users lets us make it
    while True:
        lease = Lease(kv, follower.name, instance)
        await lease.acquire(nc)
        await forget_durable(nc, follower.name)
        log.info("follower_started", follower=follower.name, seq=lease.seq)
        try:
            await _follow(nc, follower, lease, react)
        except LeaseLost:
            log.warning("follower_lease_lost", follower=follower.name, seq=lease.seq)


async def _follow(nc: NATS, follower: Follower, lease: Lease, react: React) -> None:
    replay = Replay(nc, lease.seq + 1, follower.filter_subjects, description=follower.description)
    keeping = asyncio.create_task(lease.keep())
    try:
        await replay.start()
        while not lease.lost.is_set():
            stop_if_cancelled()
            for event in await replay.take(1, timeout=RENEW_S):
                await _handle(event, lease, react, follower.name)
                await lease.advance(event.seq)
        raise LeaseLost(follower.name)
    finally:
        keeping.cancel()
        await replay.stop()
        if not lease.lost.is_set():
            await lease.release()


async def _handle(event: Recorded, lease: Lease, react: React, name: str) -> None:
    for attempt in range(1, MAX_TRIES + 1):
        if await react(event, attempt):
            return
        await asyncio.sleep(RETRY_S)
        if lease.lost.is_set():
            raise LeaseLost(name)
    log.warning("follower_gave_up", follower=name, seq=event.seq, tries=MAX_TRIES)


def retry_later(event: Recorded, attempt: int, what: str) -> bool:
    """Log that the event waits for another try; the answer for the reactor to return."""
    log.warning(what, seq=event.seq, attempt=attempt)
    return False


def command_meta(event: Recorded, command_id: str, source: str, actor: str) -> CommandMeta:
    """The headers of the command an event asks for: the event's actor and correlation carry
    on, and the command id is derived from the event, so handling it again changes nothing
    twice."""
    headers = event.headers
    return CommandMeta(
        command_id=command_id,
        actor=headers.get(subjects.ACTOR, actor),
        source=source,
        correlation_id=headers.get(subjects.CORRELATION_ID, ""),
    )
