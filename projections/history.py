"""As-of history: who was on which meal or occurrence, and when and whether each rota
occurrence was to happen, with `valid_from` and `valid_to`.

Every change of who is in, and every scheduling, move, change, cancellation and restoration of
an occurrence, is appended as a fact; the intervals are a window over them. The
`*_as_of` views read the session value `as_of`, which `crew sql --as-of <timestamp>` sets
(and nothing else: the query itself is not rewritten). Without it they answer for now."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import msgspec

from projections.view import AppendView, Fact, Reads, Where
from schemas import meals as m
from schemas import rota as r

DDL = """
create table if not exists membership_changes (
    seq           bigint,
    part          integer,      -- an event may change two people (a hand-over)
    "at"          timestamptz,  -- when it was decided
    context       varchar,      -- meals or rota
    occurrence_id varchar,      -- meal id or rota occurrence id
    crew_id       varchar,      -- null: everyone on it (a meal cancelled)
    role          varchar,      -- head_cook / helper, or the kind of rota sign-up
    change        varchar,      -- in or out
    primary key (seq, part)
);
create table if not exists occurrence_changes (
    seq           bigint primary key,
    "at"          timestamptz,  -- when it was decided
    occurrence_id varchar,
    date          date,         -- null: as it was (a change of times only)
    start_time    varchar,      -- null: as it was (a cancellation)
    end_time      varchar,
    cancelled     boolean       -- null: as it was (a move or a change of times)
);
create or replace view occurrence_history as
with filled as (
    select occurrence_id, "at" as valid_from,
           lead("at") over (partition by occurrence_id order by seq) as valid_to,
           last_value(date ignore nulls) over later as date,
           last_value(start_time ignore nulls) over later as start_time,
           last_value(end_time ignore nulls) over later as end_time,
           last_value(cancelled ignore nulls) over later as cancelled
    from occurrence_changes
    window later as (partition by occurrence_id order by seq
                     rows between unbounded preceding and current row)
)
select * from filled order by occurrence_id, valid_from;
create or replace view membership_history as
with personal_changes as (
    select *, lead("at") over (partition by context, occurrence_id, crew_id order by seq, part)
                  as next_at
    from membership_changes
    where crew_id is not null
)
select p.context, p.occurrence_id, p.crew_id, p.role, p."at" as valid_from,
       least(p.next_at, (select min(e."at") from membership_changes e
                         where e.crew_id is null and e.change = 'out' and e.context = p.context
                           and e.occurrence_id = p.occurrence_id and e.seq > p.seq)) as valid_to
from personal_changes p
where p.change = 'in'
order by p.context, p.occurrence_id, valid_from;
create or replace macro as_of_time() as coalesce(try_cast(getvariable('as_of') as timestamptz), now());
create or replace view meal_plan_as_of as
select occurrence_id as meal_id,
       any_value(crew_id) filter (where role = 'head_cook') as head_cook,
       list(crew_id order by valid_from) filter (where role = 'helper') as helpers,
       as_of_time() as as_of
from membership_history
where context = 'meals' and valid_from <= as_of_time() and (valid_to is null or valid_to > as_of_time())
group by occurrence_id
order by meal_id;
create or replace view rota_as_of as
with people as (
    select occurrence_id, list(crew_id order by valid_from) as people
    from membership_history
    where context = 'rota' and valid_from <= as_of_time()
      and (valid_to is null or valid_to > as_of_time())
    group by occurrence_id
)
select p.occurrence_id, o.date, o.start_time, o.end_time, o.cancelled, p.people,
       as_of_time() as as_of
from people p
left join occurrence_history o
       on o.occurrence_id = p.occurrence_id and o.valid_from <= as_of_time()
      and (o.valid_to is null or o.valid_to > as_of_time())
order by p.occurrence_id;
"""


class MembershipChange(msgspec.Struct):
    """A row of membership_changes."""

    seq: int
    part: int
    at: str
    context: str
    occurrence_id: str
    crew_id: str | None
    role: str | None
    change: str


class OccurrenceChange(msgspec.Struct):
    """A row of occurrence_changes (None: as it was)."""

    seq: int
    at: str
    occurrence_id: str
    date: datetime.date | None
    start_time: str | None
    end_time: str | None
    cancelled: bool | None


def rows(fact: Fact) -> list[MembershipChange]:
    e = fact.event
    at = fact.occurred_at
    changes: list[tuple[str, str, str | None, str | None, str]] = []
    match e:
        case m.VolunteeredToCook(role=role):
            changes.append(("meals", e.meal_id, e.crew_id, role, "in"))
        case m.PromotedFromWaitlist():
            changes.append(("meals", e.meal_id, e.crew_id, "helper", "in"))
        case m.Withdrew(role=role) if role != "waitlist":
            changes.append(("meals", e.meal_id, e.crew_id, role, "out"))
        case m.MealCancelled():  # everyone on the meal is out
            changes.append(("meals", e.meal_id, None, None, "out"))
        case r.JoinedCleaningParty():
            changes.append(("rota", e.occurrence_id, e.crew_id, "cleaning_party", "in"))
        case r.SignedUpForShift():
            changes.append(("rota", e.occurrence_id, e.crew_id, "shift", "in"))
        case r.LeftCleaningParty() | r.WithdrewFromShift():
            changes.append(("rota", e.occurrence_id, e.crew_id, None, "out"))
        case r.SignUpAffected(outcome="released" | "moved"):
            changes.append(("rota", e.occurrence_id, e.crew_id, None, "out"))
            if e.outcome == "moved" and e.moved_to:
                changes.append(("rota", e.moved_to, e.crew_id, "moved_here", "in"))
        case r.HandOverTaken():
            changes.append(("rota", e.occurrence_id, e.from_crew_id, None, "out"))
            changes.append(("rota", e.occurrence_id, e.crew_id, "covering", "in"))
    return [MembershipChange(fact.seq, n, at, *change) for n, change in enumerate(changes)]


def occurrence_rows(fact: Fact) -> list[OccurrenceChange]:
    e = fact.event
    change: tuple[datetime.date | None, str | None, str | None, bool | None]
    match e:  # (date, start, end, cancelled); None: as it was
        case r.OccurrenceScheduled() | r.OccurrenceRestored():
            change = (e.date, e.start, e.end, False)
        case r.OccurrenceMoved() | r.OccurrenceChanged():  # older changes lack the date
            change = (e.date, e.start, e.end, None)
        case r.OccurrenceCancelled():
            change = (None, None, None, True)
        case _:
            return []
    return [OccurrenceChange(fact.seq, fact.occurred_at, e.occurrence_id, *change)]


@dataclass(frozen=True)
class History:
    """The history views: each change table grows by the rows its events make."""

    name: str
    ddl: str
    tables: tuple[AppendView, ...]
    where: Where = "file"
    reads: Reads = None

    def apply(self, con: duckdb.DuckDBPyConnection, facts: Sequence[Fact]) -> None:
        for table in self.tables:
            table.apply(con, facts)


MEMBERSHIP = History(
    name="membership_history",
    ddl=DDL,
    tables=(
        AppendView(name="membership_changes", ddl="", table="membership_changes", rows=rows),
        AppendView(
            name="occurrence_changes", ddl="", table="occurrence_changes", rows=occurrence_rows
        ),
    ),
    reads=(
        *(m.VolunteeredToCook, m.PromotedFromWaitlist, m.Withdrew, m.MealCancelled),
        *(r.JoinedCleaningParty, r.SignedUpForShift, r.LeftCleaningParty, r.WithdrewFromShift),
        *(r.SignUpAffected, r.HandOverTaken, r.OccurrenceScheduled, r.OccurrenceRestored),
        *(r.OccurrenceMoved, r.OccurrenceChanged, r.OccurrenceCancelled),
    ),
)
