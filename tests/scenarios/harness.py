"""The house in one process, for scenarios: the real command shell of every context over one
in-memory event store (one log, one order, as JetStream keeps it), the followers' reactions
run on that log, and the real projection folding it into a DuckDB file that is queried through
the real query path (the read-only guards and all).

What it leaves out is what the whole-house tests are for: NATS and its users, processes,
leases, restarts, the CLI and the kiosk's HTTP. In exchange a scenario runs in milliseconds and
never waits: `send` returns once the followers have reacted and the views have folded what the
command caused, which is what `eventually` waits for in a running house.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec

from crew import subjects
from crew.eventstore import InMemoryEventStore, NewEvent, Recorded
from crew.personal import InMemoryVault
from crew.shell import CommandMeta, CommandShell
from projections.projection import Projection
from projections.projector import apply_batch
from projections.query import (
    MAX_ROWS,
    SqlError,
    SqlReply,
    SqlRequest,
    SqlResult,
    encode_reply,
    run_query,
)
from schemas.common import Accepted, FieldError, Invalid, Refused, Reply, reply_decoder
from services.meals import follows_rota
from services.meals.decider import MEALS
from services.onboarding.decider import ONBOARDING
from services.rota import calendar, follows_meals
from services.rota.decider import ROTA

DECIDERS = (MEALS, ROTA, ONBOARDING)
QUERY_TIMEOUT_S = 10.0  # the query service's default (crew/settings.py)


class Clock:
    """The house's clock: real time, but never the same instant twice, so that whatever a
    scenario does next happened after what it did before (as-of questions rely on it)."""

    def __init__(self) -> None:
        self.last = datetime.min.replace(tzinfo=UTC)

    def __call__(self) -> datetime:
        self.last = max(datetime.now(UTC), self.last + timedelta(microseconds=1))
        return self.last


class HouseLog(InMemoryEventStore):
    """The in-memory event store, stamping each event with when it was stored, as JetStream
    does (event_log.recorded_at)."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self._clock = clock

    async def append(
        self, context: str, aggregate_id: str, expected: int, events: Sequence[NewEvent]
    ) -> list[int]:
        seqs = await super().append(context, aggregate_id, expected, events)
        for seq in seqs:
            self.log[seq - 1] = msgspec.structs.replace(
                self.log[seq - 1], recorded_at=self._clock()
            )
        return seqs


@dataclasses.dataclass
class Follower:
    """A follower's reaction, fed the log in order from its own position."""

    name: str
    wants: Callable[[Recorded], bool]
    react: Callable[[Recorded], Awaitable[bool]]
    position: int = 0


class Bus:
    """The requests a follower makes over NATS (a refused cooking claim handed back to the
    rota), answered by the shells of this process."""

    def __init__(self, shells: Mapping[str, CommandShell[Any]]) -> None:
        self._shells = shells

    async def request(
        self,
        subject: str,
        payload: bytes,
        timeout: float = 0,
        headers: Mapping[str, str] | None = None,
    ) -> SimpleNamespace:
        context = subject.split(".")[2]
        data = await self._shells[context].handle(subject, headers or {}, payload)
        return SimpleNamespace(data=data)


class House:
    def __init__(
        self,
        views: Path,
        *,
        followers: bool = True,
        query_timeout_s: float = QUERY_TIMEOUT_S,
    ) -> None:
        self.clock = Clock()
        self.store = HouseLog(self.clock)
        self.vault = InMemoryVault()  # the keys bucket: shared by every shell and the projector
        self.shells: dict[str, CommandShell[Any]] = {
            decider.context: CommandShell(decider, self.store, vault=self.vault, clock=self.clock)
            for decider in DECIDERS
        }
        self.projection = Projection(views)
        self.projection.lock_down()  # as the projector does: queries reach no file
        self.query_timeout_s = query_timeout_s
        self.followers = self._followers() if followers else []
        self._command_ids = itertools.count(1)

    @property
    def log(self) -> list[Recorded]:
        return self.store.log

    def close(self) -> None:
        self.projection.close()

    # Commands ---------------------------------------------------------------------------

    async def send(self, command: msgspec.Struct, *, command_id: str | None = None) -> Reply:
        """Carry out a typed command, as `crew send` would, and let the house settle."""
        context = str(command.__struct_config__.tag).split(".", 1)[0]
        meta = CommandMeta(command_id=command_id or self._command_id(), actor="cli", source="cli")
        reply = await self.shells[context].execute(command, meta)
        await self.settle()
        return reply

    async def deliver(
        self, command: str, body: bytes | Mapping[str, Any], *, command_id: str | None = None
    ) -> Reply:
        """A command as bytes at the edge (`<context>.<command>` and its JSON body): for what
        no typed command can say, such as bad input."""
        context, name = command.split(".", 1)
        headers = {
            subjects.COMMAND_ID: command_id or self._command_id(),
            subjects.ACTOR: "cli",
            subjects.SOURCE: "cli",
        }
        raw = body if isinstance(body, bytes) else msgspec.json.encode(body)
        shell = self.shells[context]
        reply = reply_decoder.decode(
            await shell.handle(subjects.command_subject(context, name), headers, raw)
        )
        await self.settle()
        return reply

    def _command_id(self) -> str:
        return f"command-{next(self._command_ids)}"

    async def settle(self) -> None:
        """Let every follower react to what is new in the log (and to what their reactions
        appended, in turn), then fold it all into the views."""
        while any(follower.position < len(self.log) for follower in self.followers):
            for follower in self.followers:
                while follower.position < len(self.log):
                    record = self.log[follower.position]
                    if follower.wants(record) and not await follower.react(record):
                        raise AssertionError(f"{follower.name} could not handle {record.seq}")
                    follower.position = record.seq
        fresh = [record for record in self.log if record.seq > self.projection.checkpoint]
        if fresh:
            await apply_batch(self.projection, fresh, self.vault)

    async def tick(self, now: datetime) -> None:
        """The rota's calendar ticks: every series scheduled so far advances to `now`."""
        series = sorted(
            {
                subjects.aggregate_of(r.subject)
                for r in self.log
                if r.type == "rota.series_scheduled"
            }
        )
        await calendar.advance(self.shells["rota"], series, now)
        await self.settle()

    def _followers(self) -> list[Follower]:
        # The followers' own reactions (the loop around them, crew/follow.py, is NATS's part).
        meals, rota = self.shells["meals"], self.shells["rota"]
        bus = Bus(self.shells)
        followed = {str(kind.__struct_config__.tag) for kind in follows_rota.FOLLOWED}
        return [
            Follower(
                follows_rota.CONSUMER,
                lambda record: record.type in followed,
                lambda record: follows_rota._react(record, 1, meals, bus),  # type: ignore[arg-type]
            ),
            Follower(
                follows_meals.CONSUMER,
                lambda record: record.type == "meals.withdrew",
                lambda record: follows_meals._react(record, 1, rota),
            ),
        ]

    # Queries ----------------------------------------------------------------------------

    def ask(
        self,
        query: str,
        *,
        as_of: str | None = None,
        restricted: bool = False,
        max_rows: int = MAX_ROWS,
    ) -> SqlReply:
        """The query service's answer (`crew sql`, or `--restricted`), on this house's views."""
        con = self.projection.restricted if restricted else self.projection.con
        request = SqlRequest(sql=query, as_of=as_of, max_rows=max_rows)
        return run_query(lambda: con, request, self.query_timeout_s)

    def sql(self, query: str, *, as_of: str | None = None, restricted: bool = False) -> list[dict]:
        """The rows as `crew sql --format json` prints them: through the reply's JSON."""
        reply = self.ask(query, as_of=as_of, restricted=restricted)
        if isinstance(reply, SqlError):
            raise AssertionError(f"{query}\n  {reply.message}")
        wire = msgspec.json.decode(encode_reply(reply), type=SqlResult)
        return [dict(zip(wire.columns, row, strict=True)) for row in wire.rows]

    async def rebuild(self, views: Path) -> None:
        """Every view folded again from the whole log into a new file, which then answers the
        queries (`crew rebuild`)."""
        projection = Projection(views)
        projection.lock_down()
        await apply_batch(projection, self.log, self.vault)
        self.projection.close()
        self.projection = projection


def accepted(reply: Reply) -> list[str]:
    """The types of the events an accepted command appended; fails on any other reply."""
    assert isinstance(reply, Accepted), reply
    return [event.type for event in reply.events]


def refused(reply: Reply) -> str:
    """The code of a refusal; fails on any other reply."""
    assert isinstance(reply, Refused), reply
    return reply.code


def invalid(reply: Reply) -> list[FieldError]:
    """What was wrong with an invalid command, field by field; fails on any other reply."""
    assert isinstance(reply, Invalid), reply
    return reply.errors
