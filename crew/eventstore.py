"""The event store: JetStream stream CREW_EVENTS, plus a KV bucket of command outcomes.

Appends carry the expected last sequence of the aggregate's subjects, so two writers can never
both decide on the same state. Several events of one command go in one atomic batch. An
aggregate is loaded with one batched Direct Get from the sequence the caller already knows.

A command's first event carries the command id as `Nats-Msg-Id`, and the stream deduplicates
on it for as long as the house lives (DUPLICATE_WINDOW): an id used again for another append
is refused by JetStream itself, in the same fsynced write, so an accepted command needs no
second write to be told apart from a reuse. Refusals and "already true" leave no event: the
outcomes bucket keeps those.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js.api import (
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.kv import KeyValue

from crew import subjects
from crew.personal import ensure_vault
from crew.requests import Requests

WRONG_LAST_SEQUENCE = 10071
DUPLICATE_IN_BATCH = 10201  # "atomic publish batch contains duplicate message id"
DIRECT_GET_BATCH = 1000
NOT_FOUND = "404"
# JetStream keeps every message id seen within this window (and rebuilds it from the stream on
# restart), like a KV key per command. A hundred years: a command id is never forgotten.
DUPLICATE_WINDOW = 100 * 365 * 24 * 3600.0


class _StoreError(msgspec.Struct):
    err_code: int = 0
    description: str = ""


class _PublishAck(msgspec.Struct):
    """JetStream's answer to a publish: where it was stored, or why not."""

    seq: int = 0
    duplicate: bool = False
    error: _StoreError | None = None


_ack_decoder = msgspec.json.Decoder(_PublishAck)


class ConcurrencyConflict(Exception):
    """Someone appended to the aggregate since we loaded it."""


class DuplicateCommand(Exception):
    """JetStream has an append with this command id already (its `Nats-Msg-Id`)."""


class StoreUnavailable(Exception):
    """JetStream did not answer in time or refused for a reason of its own (e.g. full)."""


class StoreFull(StoreUnavailable):
    """JetStream refused the write for want of storage (its `max_file_store`, or the disk)."""


def refused_by_store(description: str) -> StoreUnavailable:
    """What JetStream's refusal of a write means for the command: full, or otherwise unwell."""
    if "insufficient" in description.lower() or "storage" in description.lower():
        return StoreFull(description)
    return StoreUnavailable(description)


@dataclass(frozen=True, slots=True)
class NewEvent:
    type: str  # "<context>.<name>"
    data: bytes
    headers: Mapping[str, str]


class Recorded(msgspec.Struct, frozen=True, gc=False):
    """An event as the log holds it. A Struct, made for every event read: a tenth of the cost of
    a frozen dataclass's (a rebuild makes a million), and no work for the collector."""

    seq: int
    subject: str
    data: bytes
    headers: Mapping[str, str] = {}
    recorded_at: datetime | None = None  # when JetStream stored it

    @property
    def type(self) -> str:
        return self.headers.get(subjects.EVENT_TYPE, "")


class EventStore(Protocol):
    async def read(self, context: str, aggregate_id: str, after: int = 0) -> list[Recorded]: ...

    async def append(
        self, context: str, aggregate_id: str, expected: int, events: Sequence[NewEvent]
    ) -> list[int]: ...

    async def outcome(self, command_id: str) -> bytes | None: ...

    async def record_outcome(self, command_id: str, value: bytes) -> bytes | None:
        """Keep `value` unless an outcome is kept already; then return that one instead."""
        ...


def stream_config(replicas: int = 1) -> StreamConfig:
    """Safe settings for an event store: nothing is ever dropped or deleted. File storage, no
    caps, and a full stream refuses new writes rather than dropping old events (JetStream's
    default is to discard the oldest); no delete, no purge."""
    return StreamConfig(
        name=subjects.STREAM,
        description="crew: every fact of the house, in order",
        subjects=[subjects.EVENTS_ALL],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.NEW,
        max_msgs=-1,
        max_bytes=-1,
        max_age=0,
        num_replicas=replicas,
        deny_delete=True,
        deny_purge=True,
        allow_direct=True,
        allow_atomic=True,
        duplicate_window=DUPLICATE_WINDOW,
    )


async def ensure_event_store(nc: NATS, replicas: int = 1, admin: bool = False) -> None:
    """Create the stream and the outcomes bucket if missing. Services never update the event
    stream; an `admin` (crew up, crew prepare) widens an older house's 2-minute duplicate
    window to DUPLICATE_WINDOW, and an older keys bucket (crew.personal)."""
    js = nc.jetstream()
    try:
        info = await js.stream_info(subjects.STREAM)
        if admin and (info.config.duplicate_window or 0) < DUPLICATE_WINDOW:
            info.config.duplicate_window = DUPLICATE_WINDOW
            await js.update_stream(info.config)
    except nats.js.errors.NotFoundError:
        try:
            await js.add_stream(stream_config(replicas))
        except nats.js.errors.BadRequestError:
            await js.stream_info(subjects.STREAM)  # created by a sibling meanwhile
    await ensure_vault(nc, replicas, admin)
    try:
        await js.key_value(subjects.OUTCOMES_BUCKET)
    except nats.js.errors.BucketNotFoundError:
        await js.create_key_value(
            KeyValueConfig(
                bucket=subjects.OUTCOMES_BUCKET,
                description="crew: the reply each command id got, for idempotent retries",
                history=1,
                storage=StorageType.FILE,
                replicas=replicas,
                direct=True,  # gets are Direct Gets: no API round-trip through the leader
            )
        )


async def read_matching(
    nc: NATS, filter_subject: str, after: int = 0, timeout: float = 5.0
) -> list[Recorded]:
    """Every event on subjects matching `filter_subject` after sequence `after`, in order, by
    batched Direct Gets: no consumer is created, and the end is known exactly (EOB)."""
    found: list[Recorded] = []
    start = after + 1
    while True:
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        more = False
        try:
            request = {"seq": start, "next_by_subj": filter_subject, "batch": DIRECT_GET_BATCH}
            await nc.publish(
                f"$JS.API.DIRECT.GET.{subjects.STREAM}", json.dumps(request).encode(), reply=inbox
            )
            while True:
                try:
                    msg = await sub.next_msg(timeout=timeout)
                except nats.errors.TimeoutError as exc:
                    raise StoreUnavailable("no answer reading the event store") from exc
                headers = msg.headers or {}
                if headers.get("Status") is not None:  # 404 nothing (more), 204 end of batch
                    break
                seq = int(headers["Nats-Sequence"])
                stamp = headers.get("Nats-Time-Stamp")
                recorded = (
                    datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00") if stamp else None
                )
                found.append(Recorded(seq, headers["Nats-Subject"], msg.data, headers, recorded))
                more = headers.get("Nats-Num-Pending", "0") != "0"
                start = seq + 1
        finally:
            await sub.unsubscribe()
        if not more:
            return found


class JetStreamEventStore:
    def __init__(self, nc: NATS, timeout: float = 5.0) -> None:
        self._nc = nc
        self._js = nc.jetstream(timeout=timeout)
        self._timeout = timeout
        self._kv: KeyValue | None = None
        self._requests = Requests(nc)  # the append and the outcome lookup of every command

    async def read(self, context: str, aggregate_id: str, after: int = 0) -> list[Recorded]:
        """Every event of one aggregate after sequence `after`, in order."""
        return await read_matching(
            self._nc, subjects.aggregate_subjects(context, aggregate_id), after, self._timeout
        )

    async def append(
        self, context: str, aggregate_id: str, expected: int, events: Sequence[NewEvent]
    ) -> list[int]:
        """Append all of `events` or none, only if the aggregate's last sequence is `expected`
        and no append carried the first event's `Nats-Msg-Id` before (DuplicateCommand)."""
        if not events:
            return []
        guard = {
            "Nats-Expected-Last-Subject-Sequence": str(expected),
            "Nats-Expected-Last-Subject-Sequence-Subject": subjects.aggregate_subjects(
                context, aggregate_id
            ),
        }
        if len(events) == 1:
            event = events[0]
            subject = subjects.event_subject(event.type, aggregate_id)
            return [await self._stored(subject, event.data, {**event.headers, **guard})]
        return await self._append_batch(aggregate_id, events, guard)

    async def _append_batch(
        self, aggregate_id: str, events: Sequence[NewEvent], guard: Mapping[str, str]
    ) -> list[int]:
        batch_id = uuid.uuid4().hex
        last = len(events)
        for n, event in enumerate(events, start=1):
            headers = {**event.headers, "Nats-Batch-Id": batch_id, "Nats-Batch-Sequence": str(n)}
            if n == 1:
                headers.update(guard)
            subject = subjects.event_subject(event.type, aggregate_id)
            if n < last:
                await self._nc.publish(subject, event.data, headers=headers)
                continue
            headers["Nats-Batch-Commit"] = "1"
            final = await self._stored(subject, event.data, headers)
            return list(range(final - last + 1, final + 1))
        raise AssertionError("unreachable")

    async def _stored(self, subject: str, data: bytes, headers: dict[str, str]) -> int:
        """Publish one message, or a batch's last, and the seq JetStream stored it at: the one
        reading of its answer for both (a conflict, a duplicate, a refusal, no answer)."""
        try:
            msg = await self._requests.request(subject, data, headers, self._timeout)
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError) as exc:
            raise StoreUnavailable("the event store did not acknowledge") from exc
        try:
            ack = _ack_decoder.decode(msg.data)
        except msgspec.DecodeError as exc:
            raise StoreUnavailable("the event store's acknowledgement was unreadable") from exc
        if ack.error is not None:
            if ack.error.err_code == WRONG_LAST_SEQUENCE:
                raise ConcurrencyConflict(ack.error.description)
            if ack.error.err_code == DUPLICATE_IN_BATCH:
                raise DuplicateCommand(ack.error.description)
            raise refused_by_store(ack.error.description or "refused")
        if ack.duplicate:
            raise DuplicateCommand(f"already appended at {ack.seq}")
        if ack.seq < 1:
            raise StoreUnavailable("the event store acknowledged without a sequence")
        return ack.seq

    async def _outcomes(self) -> KeyValue:
        if self._kv is None:
            self._kv = await self._js.key_value(subjects.OUTCOMES_BUCKET)
        return self._kv

    async def outcome(self, command_id: str) -> bytes | None:
        """The outcome kept for `command_id`: a Direct Get of its key's last value."""
        bucket = subjects.OUTCOMES_BUCKET
        try:
            msg = await self._requests.request(
                f"$JS.API.DIRECT.GET.KV_{bucket}.$KV.{bucket}.{command_id}",
                timeout=self._timeout,
            )
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError) as exc:
            raise StoreUnavailable("the outcomes bucket did not answer") from exc
        headers = msg.headers or {}
        if (status := headers.get("Status")) is not None:
            if status == NOT_FOUND:
                return None
            raise StoreUnavailable(f"the outcomes bucket answered {status}")
        if headers.get("KV-Operation") in ("DEL", "PURGE"):
            return None  # a deleted key, as nats-py's `kv.get` reads it
        return msg.data

    async def record_outcome(self, command_id: str, value: bytes) -> bytes | None:
        kv = await self._outcomes()
        try:
            await kv.create(command_id, value)
            return None
        except nats.js.errors.KeyWrongLastSequenceError:
            return (await kv.get(command_id)).value  # another instance answered first
        except nats.errors.TimeoutError as exc:
            raise StoreUnavailable("the outcomes bucket did not answer") from exc
        except nats.js.errors.APIError as exc:
            raise refused_by_store(str(exc)) from exc


class InMemoryEventStore:
    """The same contract in memory: for fast tests of the shell and of deciders in context."""

    def __init__(self) -> None:
        self.log: list[Recorded] = []
        self.outcomes: dict[str, bytes] = {}
        self.message_ids: set[str] = set()  # JetStream's deduplication
        self._lock = asyncio.Lock()

    def _of(self, context: str, aggregate_id: str) -> list[Recorded]:
        prefix = f"crew.evt.{context}.{aggregate_id}."
        return [r for r in self.log if r.subject.startswith(prefix)]

    async def read(self, context: str, aggregate_id: str, after: int = 0) -> list[Recorded]:
        return [r for r in self._of(context, aggregate_id) if r.seq > after]

    async def append(
        self, context: str, aggregate_id: str, expected: int, events: Sequence[NewEvent]
    ) -> list[int]:
        async with self._lock:
            mine = self._of(context, aggregate_id)
            if (mine[-1].seq if mine else 0) != expected:
                raise ConcurrencyConflict(f"wrong last sequence: {expected}")
            ids = {e.headers["Nats-Msg-Id"] for e in events if "Nats-Msg-Id" in e.headers}
            if ids & self.message_ids:
                raise DuplicateCommand("already appended")
            self.message_ids |= ids
            seqs = []
            for event in events:
                seq = len(self.log) + 1
                subject = subjects.event_subject(event.type, aggregate_id)
                self.log.append(Recorded(seq, subject, event.data, dict(event.headers)))
                seqs.append(seq)
            return seqs

    async def outcome(self, command_id: str) -> bytes | None:
        return self.outcomes.get(command_id)

    async def record_outcome(self, command_id: str, value: bytes) -> bytes | None:
        if command_id in self.outcomes:
            return self.outcomes[command_id]
        self.outcomes[command_id] = value
        return None
