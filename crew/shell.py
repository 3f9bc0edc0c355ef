"""The command shell, written once for every context: decode -> load -> decide -> append -> reply.

A retry with the same command id gets the first reply and appends nothing:
- every event carries its command id as causation, so a retry on the same aggregate finds the
  events it appended, also after a crash between the append and the reply;
- the command's first event carries the id as `Nats-Msg-Id`, which JetStream deduplicates for
  the house's lifetime: the id reused for an append elsewhere is refused in the same fsynced
  write (an accepted command costs one write);
- a refusal or an "already true" appends nothing, so its reply is kept in the outcomes KV
  bucket, with a fingerprint of what it addressed, so a reused id on another command is told
  apart.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import time
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import msgspec
import structlog

from crew import logs, subjects
from crew.decider import Decider, Refusal
from crew.eventstore import (
    ConcurrencyConflict,
    DuplicateCommand,
    EventStore,
    NewEvent,
    Recorded,
    StoreFull,
    StoreUnavailable,
)
from crew.personal import InMemoryVault, Vault, seal_event
from schemas.common import (
    ID_PATTERN,
    Accepted,
    EventRef,
    FieldError,
    Invalid,
    Refused,
    Reply,
    Unavailable,
    reply_decoder,
)
from schemas.registry import decode_event
from schemas.upcast import version_of

log = structlog.get_logger("crew.shell")

MAX_BODY_BYTES = 64 * 1024
MAX_ATTEMPTS = 10
_ID = re.compile(ID_PATTERN)
_AT = re.compile(r"^(?P<message>.*?) - at `(?P<path>\$[^`]*)`$")
_MISSING = re.compile(
    r"^Object missing required field `(?P<field>[^`]+)`(?: - at `(?P<path>\$[^`]*)`)?$"
)

S = TypeVar("S")
REUSED = Refused(
    code="command_id_reused", message="this command id was already used for a different command"
)


class StillConflicting(Exception):
    """Other writers moved the aggregate on every one of MAX_ATTEMPTS tries."""


class CommandMeta(msgspec.Struct, frozen=True, kw_only=True):
    """What a command's headers carry besides the command itself (docs: DESIGN's headers)."""

    command_id: str  # Crew-Command-Id: the caller's idempotency key
    actor: str = "anonymous"  # Crew-Actor: a crew id, coordinator:<name>, a service
    source: str = "unknown"  # Crew-Source: a kiosk, a service, the cli
    correlation_id: str | None = None  # Crew-Correlation-Id; None: the command id

    @classmethod
    def of_headers(cls, headers: Mapping[str, str]) -> CommandMeta:
        return cls(
            command_id=headers.get(subjects.COMMAND_ID, ""),
            actor=headers.get(subjects.ACTOR, "anonymous"),
            source=headers.get(subjects.SOURCE, "unknown"),
            correlation_id=headers.get(subjects.CORRELATION_ID),
        )

    def headers(self) -> dict[str, str]:
        """The same as NATS headers, for a command sent on to another service."""
        headers = {
            subjects.COMMAND_ID: self.command_id,
            subjects.ACTOR: self.actor,
            subjects.SOURCE: self.source,
        }
        if self.correlation_id is not None:
            headers[subjects.CORRELATION_ID] = self.correlation_id
        return headers


class Outcome(msgspec.Struct, frozen=True):
    """What the outcomes bucket keeps per command id."""

    fingerprint: str
    reply: msgspec.Raw


def field_errors(exc: msgspec.MsgspecError) -> list[FieldError]:
    """msgspec's error as a field path and a message (`$.crew_id`: Expected `str`, got `int`)."""
    text = str(exc)
    if missing := _MISSING.match(text):
        path = f"{missing['path'] or '$'}.{missing['field']}"
        return [FieldError(path=path, message=f"required field `{missing['field']}` is missing")]
    if at := _AT.match(text):
        return [FieldError(path=at["path"], message=at["message"])]
    return [FieldError(path="$", message=text)]


def where(exc: BaseException) -> list[str]:
    """The traceback's frames as file:line function, without the exception's message."""
    return [
        f"{os.path.basename(frame.filename)}:{frame.lineno} {frame.name}"
        for frame in traceback.extract_tb(exc.__traceback__)[-6:]
    ]


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def without_values(text: str) -> str:
    """An error message with every quoted value taken out: msgspec quotes the value it could
    not read (`Invalid enum value 'Anna Holm'`), and a value may be personal data."""
    return _QUOTED.sub("…", text)


def invalid(path: str, message: str) -> Invalid:
    return Invalid(errors=[FieldError(path=path, message=message)])


def too_big(size: int) -> Invalid:
    """What any way into the house answers a body over its limit (NATS carries 8 MB at most)."""
    return invalid("$", f"body is {size} bytes; the limit is {MAX_BODY_BYTES}")


def too_deep() -> Invalid:
    """What any way into the house answers a body nested deeper than the decoder goes."""
    return invalid("$", "the body is nested too deeply")


class Caused(msgspec.Struct, frozen=True, gc=False):
    """What one command appended. The fingerprint is known only to the instance that appended
    it (it is never written to the log: a hash of a body with a name in it is personal data).
    One is kept per command, so the garbage collector never tracks them: it walked 360,000 as
    dataclasses for 450-500 ms while every command waited (docs/performance.md, "The commands'
    memory and the collector"). Only ints and strings: it can be in no cycle."""

    seqs: tuple[int, ...]
    types: tuple[str, ...]
    fingerprint: str | None = None

    @classmethod
    def of(cls, events: list[EventRef], fingerprint: str | None = None) -> Caused:
        return cls(tuple(e.seq for e in events), tuple(e.type for e in events), fingerprint)

    @property
    def events(self) -> list[EventRef]:
        return [EventRef(seq=s, type=t) for s, t in zip(self.seqs, self.types, strict=True)]

    def and_then(self, event: EventRef) -> Caused:
        """The same, with one more event the command appended."""
        return Caused((*self.seqs, event.seq), (*self.types, event.type), self.fingerprint)


NOTHING_CAUSED = Caused((), ())


@dataclass(frozen=True)
class Loaded(Generic[S]):
    state: S
    version: int  # last stream sequence of the aggregate's subjects; 0 for a new aggregate
    causations: Mapping[str, Caused] = field(default_factory=dict)


def utc_now() -> datetime:
    return datetime.now(UTC)


class CommandShell(Generic[S]):
    def __init__(
        self,
        decider: Decider[S],
        store: EventStore,
        *,
        vault: Vault | None = None,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        cache_size: int = 10_000,
    ) -> None:
        self.decider = decider
        self.store = store
        self.vault: Vault = vault or InMemoryVault()
        self._clock = clock
        self._new_id = new_id
        self._decoders = {
            name: msgspec.json.Decoder(kind) for name, kind in decider.commands.items()
        }
        self._names = {kind: name for name, kind in decider.commands.items()}
        self._cache: OrderedDict[str, Loaded[S]] = OrderedDict()
        self._cache_size = cache_size
        self._locks: dict[str, asyncio.Lock] = {}
        self._lock_users: dict[str, int] = {}  # commands holding or waiting for each lock

    async def execute(self, command: msgspec.Struct, meta: CommandMeta) -> Reply:
        """Carry out one command given as its Struct: what callers in the same process use.

        The command is checked as its JSON would be on the wire (msgspec checks constraints such
        as an id's pattern only when it decodes), so a Struct built with a bad id is answered
        `invalid`, never turned into a subject."""
        started = time.perf_counter()
        command_name = self._names.get(type(command), type(command).__name__)
        with logs.bound(
            context=self.decider.context, command=command_name, command_id=meta.command_id
        ):
            body = msgspec.json.encode(command)
            checked = self._decode(command_name, meta.command_id, body)
            if isinstance(checked, Invalid):
                _log_reply(checked, started, len(body))
                return checked
            return await self._carry_out(command_name, checked, meta, started, len(body))

    async def handle(self, subject: str, headers: Mapping[str, str], body: bytes) -> bytes:
        """Answer one command request off the wire: decode it (an `invalid` reply names the
        field), carry it out as `execute` does, encode the reply. Never raises for anything the
        caller sent."""
        started = time.perf_counter()
        command_name = subject.rsplit(".", 1)[-1]
        meta = CommandMeta.of_headers(headers)
        with logs.bound(
            context=self.decider.context, command=command_name, command_id=meta.command_id
        ):
            command = self._decode(command_name, meta.command_id, body)
            if isinstance(command, Invalid):
                _log_reply(command, started, len(body))
                return msgspec.json.encode(command)
            reply = await self._carry_out(command_name, command, meta, started, len(body))
            return msgspec.json.encode(reply)

    async def _carry_out(
        self, command_name: str, command: Any, meta: CommandMeta, started: float, size: int
    ) -> Reply:
        """A decoded command's reply, whatever happens to the store on the way."""
        command_id = meta.command_id
        context = self.decider.context
        if getattr(command, "at", False) is None:  # time comes in with the command
            command = msgspec.structs.replace(command, at=self._clock())
        aggregate_id = self.decider.aggregate_of(command)
        with logs.bound(aggregate_id=aggregate_id):
            # What the command is and addresses, never its body: a hash of a body with a
            # name or a phone number in it would be personal data that outlives forgetting.
            addressed = f"{command_name}\0{aggregate_id}".encode()
            fingerprint = hashlib.sha256(addressed).hexdigest()[:32]
            reply: Reply
            try:
                reply = await self._run(command, command_id, fingerprint, aggregate_id, meta)
            except StoreFull as exc:
                log.error("event_store_full", error=str(exc))
                reply = Unavailable(
                    message="the house's event store is out of storage, so nothing was "
                    "recorded; a coordinator must free or add storage (docs/operations.md), "
                    "then retry with the same command id"
                )
            except StillConflicting:
                log.warning("append_gave_up", attempts=MAX_ATTEMPTS)
                reply = Unavailable(
                    message=f"{aggregate_id} was changed by others on each of "
                    f"{MAX_ATTEMPTS} tries; retry with the same command id"
                )
            except StoreUnavailable as exc:
                log.warning("event_store_unavailable", error=str(exc))
                reply = Unavailable(
                    message="the event store did not answer; retry with the same command id"
                )
            except Exception as exc:  # a bug of ours: say so, never leave the caller waiting
                # Where, never what: an exception's text may quote the payload.
                log.error("command_failed", error=type(exc).__name__, at=where(exc))
                reply = Unavailable(
                    message=f"the {context} service failed ({type(exc).__name__}); "
                    "retry with the same command id"
                )
            _log_reply(reply, started, size)
            return reply

    def _decode(self, command_name: str, command_id: str, body: bytes) -> Any:
        """The command Struct, or an Invalid naming what is wrong."""
        decoder = self._decoders.get(command_name)
        if decoder is None:
            known = ", ".join(sorted(self._decoders))
            return invalid(
                "$", f"unknown command {self.decider.context}.{command_name}; known: {known}"
            )
        if not _ID.match(command_id):
            return invalid(
                f"header:{subjects.COMMAND_ID}",
                "required; 1-64 of A-Z a-z 0-9 _ - (an idempotency key)",
            )
        if len(body) > MAX_BODY_BYTES:
            return too_big(len(body))
        try:
            return decoder.decode(body)
        except msgspec.MsgspecError as exc:
            return Invalid(errors=field_errors(exc))
        except RecursionError:  # msgspec's depth limit: e.g. 100k `[` in 100 kB of body
            return too_deep()

    async def _run(
        self,
        command: Any,
        command_id: str,
        fingerprint: str,
        aggregate_id: str,
        meta: CommandMeta,
    ) -> Reply:
        lock = self._locks.setdefault(aggregate_id, asyncio.Lock())
        self._lock_users[aggregate_id] = self._lock_users.get(aggregate_id, 0) + 1
        try:
            # Everything from reading the outcome to keeping it happens under the aggregate's
            # lock: a retry waiting behind another command must see the first one's answer.
            async with lock:
                if (earlier := await self.store.outcome(command_id)) is not None:
                    return await self._answered(earlier, fingerprint, aggregate_id, command_id)
                reply = await self._decide_and_append(
                    command, command_id, fingerprint, aggregate_id, meta
                )
                if reply is REUSED or (isinstance(reply, Accepted) and reply.events):
                    # Appended: the events are the record (their causation, and the first
                    # one's Nats-Msg-Id). A reuse is not the id's outcome: never keep it.
                    return reply
                # A refusal or "already true" leaves no trace in the log: the bucket is its
                # only record. First writer wins across instances.
                outcome = msgspec.json.encode(
                    Outcome(fingerprint=fingerprint, reply=msgspec.Raw(msgspec.json.encode(reply)))
                )
                kept = await self.store.record_outcome(command_id, outcome)
                if kept is not None:
                    return await self._answered(kept, fingerprint, aggregate_id, command_id)
                return reply
        finally:
            # The last one out drops the lock, so idle aggregates hold none.
            if left := self._lock_users.pop(aggregate_id) - 1:
                self._lock_users[aggregate_id] = left
            else:
                self._locks.pop(aggregate_id, None)

    async def _answered(
        self, kept: bytes, fingerprint: str, aggregate_id: str, command_id: str
    ) -> Reply:
        """The reply kept for this command id, if it was kept for this command. Otherwise the
        id was reused: by this command after it appended here (the causations answer), or by
        another command."""
        outcome = msgspec.json.decode(kept, type=Outcome)
        if outcome.fingerprint == fingerprint:
            return reply_decoder.decode(outcome.reply)  # accepted or refused: only those kept
        loaded = await self._catch_up(aggregate_id, self._cache.get(aggregate_id))
        caused = loaded.causations.get(command_id)
        if caused is not None and caused.fingerprint in (None, fingerprint):
            return Accepted(events=caused.events)
        return REUSED

    async def _decide_and_append(
        self,
        command: Any,
        command_id: str,
        fingerprint: str,
        aggregate_id: str,
        meta: CommandMeta,
    ) -> Accepted | Refused:
        """Decide on the cached state; the log is asked only when that could be wrong.

        A decision that appends is checked by the append itself (expected sequence): if another
        instance appended meanwhile, JetStream refuses, and we catch up and decide again. A "no"
        or an "already true" appends nothing, so it is confirmed against the log first."""
        loaded = self._cache.get(aggregate_id)
        fresh = loaded is None
        if loaded is None:
            loaded = await self._catch_up(aggregate_id, None)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if (caused := loaded.causations.get(command_id)) is not None:
                if caused.fingerprint not in (None, fingerprint):
                    return REUSED
                return Accepted(events=caused.events)  # appended before, reply lost: same answer
            try:
                events = self.decider.decide(loaded.state, command)
            except Refusal as refusal:
                if not fresh:
                    loaded, fresh = await self._catch_up(aggregate_id, loaded), True
                    continue
                return Refused(code=refusal.code, message=refusal.message)
            if not events:
                if not fresh:
                    loaded, fresh = await self._catch_up(aggregate_id, loaded), True
                    continue
                return Accepted()
            for event in events:
                if (person := self.decider.forgets(event)) is not None:
                    await self.vault.forget(person)  # the key goes before the fact is recorded
            new = [await self._new_event(e, command_id, meta, n) for n, e in enumerate(events)]
            try:
                seqs = await self.store.append(
                    self.decider.context, aggregate_id, loaded.version, new
                )
            except ConcurrencyConflict:
                log.info("append_conflict", attempt=attempt)
                loaded, fresh = await self._catch_up(aggregate_id, loaded), True
                continue
            except DuplicateCommand:  # the id was appended before: here (retry) or elsewhere
                loaded = await self._catch_up(aggregate_id, loaded)
                if command_id in loaded.causations:
                    continue  # answered from the causations above
                log.info("command_id_reused")
                return REUSED
            refs = [EventRef(seq=s, type=e.type) for s, e in zip(seqs, new, strict=True)]
            state = loaded.state
            for appended in new:  # the cache holds what the log holds: personal data sealed
                state = self.decider.evolve(state, _event(appended))
            causations = {**loaded.causations, command_id: Caused.of(refs, fingerprint)}
            self._remember(aggregate_id, Loaded(state, seqs[-1], causations))
            return Accepted(events=refs)
        raise StillConflicting(f"still conflicting after {MAX_ATTEMPTS} attempts")

    async def _new_event(self, event: Any, command_id: str, meta: CommandMeta, n: int) -> NewEvent:
        """The `n`th event of a command; the first carries the command id as `Nats-Msg-Id`."""
        event_type = type(event).__struct_config__.tag
        event_id = self._new_id()
        message_id = f"{command_id}:{n}" if n else command_id
        return NewEvent(
            type=event_type,
            data=await seal_event(event, self.vault),
            headers={
                subjects.EVENT_ID: event_id,
                subjects.EVENT_TYPE: event_type,
                subjects.SCHEMA_VERSION: version_of(event_type),
                subjects.OCCURRED_AT: self._clock().isoformat(),
                subjects.ACTOR: meta.actor[:128],
                subjects.CORRELATION_ID: (
                    command_id if meta.correlation_id is None else meta.correlation_id
                )[:128],
                subjects.CAUSATION_ID: command_id,
                subjects.SOURCE: meta.source[:128],
                "Nats-Msg-Id": message_id,
            },
        )

    async def _catch_up(self, aggregate_id: str, known: Loaded[S] | None) -> Loaded[S]:
        """`known` plus whatever was appended to the aggregate after it (all of it for None)."""
        known = known or Loaded(self.decider.initial(aggregate_id), 0)
        newer = await self.store.read(self.decider.context, aggregate_id, after=known.version)
        if not newer:
            self._remember(aggregate_id, known)
            return known
        state = known.state
        causations = dict(known.causations)
        for record in newer:
            state = self.decider.evolve(state, _event(record))
            if cause := record.headers.get(subjects.CAUSATION_ID):
                earlier = causations.get(cause, NOTHING_CAUSED)
                causations[cause] = earlier.and_then(EventRef(seq=record.seq, type=record.type))
        loaded = Loaded(state, newer[-1].seq, causations)
        self._remember(aggregate_id, loaded)
        return loaded

    def _remember(self, aggregate_id: str, loaded: Loaded[S]) -> None:
        self._cache[aggregate_id] = loaded
        self._cache.move_to_end(aggregate_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)


def _log_reply(reply: Reply, started: float, size: int) -> None:
    """One summary line per command: ids, codes, counts and timings, never the payload."""
    ms = round((time.perf_counter() - started) * 1000, 2)
    match reply:
        case Accepted(events=events):
            log.info("command_accepted", events=len(events), seqs=[e.seq for e in events], ms=ms)
        case Refused(code=code):
            log.info("command_refused", code=code, ms=ms)
        case Invalid(errors=errors):
            log.info("command_invalid", paths=[e.path for e in errors], size=size, ms=ms)
        case Unavailable():
            log.warning("command_unavailable", ms=ms)


def _event(record: Recorded | NewEvent) -> Any:
    """The event in today's shape (older versions upcast), as `evolve` reads it."""
    return decode_event(record.type, record.headers.get(subjects.SCHEMA_VERSION), record.data)
