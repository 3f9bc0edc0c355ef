"""`participation`: one row per contribution (a person at one occurrence), with its status and
the history of how it got there: joined, took a task, left (late), checked in, covered for
someone, cancelled with the meal."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence
from typing import Any

import duckdb
import msgspec
from msgspec.structs import replace

from projections import activity_participation
from projections.view import Fact, KeyedFold
from schemas import meals as m
from schemas import onboarding as o
from schemas import rota as r
from schemas.common import HOUSE_TIMEZONE

# What the view makes of a row and its occurrence: kind, when (house time) and how long. The
# contributions the projector counts (contribution_counts.py) are made by the same expressions.
KIND = """case p.context when 'meals' then 'meal_' || p.role when 'rota' then r.kind
                      when 'activities' then 'activity' when 'initiative' then 'initiative'
                      when 'contribution' then 'contribution' else p.role end"""
AT = f"""coalesce(r.date + cast(r.start_time as time), m.date + cast(m.time as time),
                timezone('{HOUSE_TIMEZONE}', a.starts_at),
                timezone('{HOUSE_TIMEZONE}', p.happened_at))"""
# how long, where start and end are known: an activity, a rota day (a meal day too), a meal
# with an end, or the minutes a recorded contribution names
MINUTES = """coalesce(p.minutes, date_diff('minute', a.starts_at, a.ends_at),
                date_diff('minute', cast(coalesce(r.start_time, mr.start_time) as time),
                          cast(coalesce(r.end_time, mr.end_time) as time)),
                date_diff('minute', cast(m.time as time), cast(m.ends_at as time)))"""


def occurrences(
    rows: str = "participation_rows",
    rota: str = "rota_rows",
    meals: str = "meal_plan_rows",
    activities: str = "activities_rows",
) -> str:
    """The rows (`p`) with their occurrences (`r`, `m`, `mr`, `a`), from these tables or a part
    of them."""
    return f"""{rows} p
left join {rota} r on p.context = 'rota' and r.occurrence_id = p.occurrence_id
left join {meals} m on p.context = 'meals' and m.meal_id = p.occurrence_id
left join {rota} mr on p.context = 'meals' and mr.occurrence_id = p.occurrence_id
left join {activities} a on p.context = 'activities' and a.activity_id = p.occurrence_id"""


DDL = f"""
create table if not exists participation_rows (
    key           varchar primary key,  -- <context>:<occurrence_id>:<crew_id>; context is
                                        -- meals, rota, conversation (hosting) or buddy
    context       varchar,
    occurrence_id varchar,
    crew_id       varchar,
    role          varchar,
    status        varchar,
    late          boolean,
    checked_in_at timestamptz,
    covered_for   varchar,
    history       struct(status varchar, role varchar, "at" timestamptz, seq bigint)[],
                                        -- every step, in order: what happened, the role or
                                        -- task it concerns, when it was decided, its seq
    happened_at   timestamptz,  -- when, for contributions with no occurrence (hosting, buddying)
    first_seq     bigint,
    updated_at    timestamptz,
    last_seq      bigint
);
-- added after the first release: a file made before gets the column at its end
alter table participation_rows add column if not exists minutes integer;
-- the contribution the row counts, as the projector last counted it (contribution_counts.py);
-- NULL while it counts none
alter table participation_rows add column if not exists counted_kind varchar;
alter table participation_rows add column if not exists counted_at timestamp;
alter table participation_rows add column if not exists counted_covered_for varchar;
alter table participation_rows add column if not exists counted_minutes bigint;
create or replace view participation as
select p.crew_id,
       {KIND} as kind,
       p.occurrence_id,
       {AT} as at,
       p.status,
       p.role,
       p.late,
       p.checked_in_at,
       p.covered_for,
       p.history,
       coalesce(r.series_id, '') as series_id,
       p.updated_at,
       p.first_seq,
       p.last_seq,
       {MINUTES} as minutes
from {occurrences()};
"""


class ParticipationRow(msgspec.Struct):
    key: str
    context: str
    occurrence_id: str
    crew_id: str
    role: str | None = None
    status: str = ""
    late: bool = False
    checked_in_at: datetime.datetime | None = None
    covered_for: str | None = None
    history: list[dict[str, Any]] = []
    happened_at: datetime.datetime | None = (
        None  # for contributions with no occurrence (onboarding)
    )
    first_seq: int = 0
    updated_at: str | datetime.datetime | None = None
    last_seq: int = 0
    minutes: int | None = None  # a recorded contribution's own minutes
    # what the row counts, as last counted: kept by contribution_counts.py, never by the fold
    counted_kind: str | None = None
    counted_at: datetime.datetime | None = None
    counted_covered_for: str | None = None
    counted_minutes: int | None = None


def key(context: str, occurrence_id: str, crew_id: str) -> str:
    return f"{context}:{occurrence_id}:{crew_id}"


def keys_of(event: object) -> list[str]:
    match event:
        case r.HandOverTaken(occurrence_id=occ, crew_id=taker, from_crew_id=giver):
            return [key("rota", occ, giver), key("rota", occ, taker)]
        case r.SignUpAffected(occurrence_id=occ, crew_id=who, outcome="moved", moved_to=target) if (
            target
        ):
            return [key("rota", occ, who), key("rota", target, who)]
        case (
            r.JoinedCleaningParty()
            | r.LeftCleaningParty()
            | r.SignedUpForShift()
            | r.WithdrewFromShift()
            | r.CheckedIn()
            | r.TookTask()
            | r.DroppedTask()
            | r.SignUpAffected()
        ):
            return [key("rota", event.occurrence_id, event.crew_id)]
        case m.VolunteeredToCook() | m.WaitlistedToHelp() | m.PromotedFromWaitlist() | m.Withdrew():
            return [key("meals", event.meal_id, event.crew_id)]
        # m.MealCancelled reaches everyone on the meal: Participation.apply finds their rows.
        case o.ConversationHeld(person_id=newcomer, host_crew_id=host):
            return [key("conversation", newcomer, host)]
        case o.BuddyAssigned(person_id=newcomer, buddy_crew_id=buddy):
            return [key("buddy", newcomer, buddy)]
    return activity_participation.keys_of(event)


def _step(row: ParticipationRow, step: str, fact: Fact, role: str | None) -> ParticipationRow:
    entry = {"status": step, "role": role, "at": fact.occurred_at, "seq": fact.seq}
    return replace(row, history=[*row.history, entry])


def _status(row: ParticipationRow, status: str, fact: Fact, **changes: Any) -> ParticipationRow:
    row = replace(row, status=status, **changes)
    return _step(row, status, fact, row.role)


def fold(row: ParticipationRow | None, fact: Fact, row_key: str) -> ParticipationRow | None:
    event = fact.event
    context, occurrence_id, crew_id = row_key.split(":", 2)
    row = row or ParticipationRow(
        key=row_key,
        context=context,
        occurrence_id=occurrence_id,
        crew_id=crew_id,
        first_seq=fact.seq,
    )
    if context in activity_participation.CONTEXTS:
        row = activity_participation.fold(row, fact, crew_id, _status)
        return replace(row, updated_at=fact.occurred_at, last_seq=fact.seq)
    match event:
        case r.JoinedCleaningParty():
            row = _status(row, "joined", fact)
        case r.SignedUpForShift():
            row = _status(row, "signed_up", fact)
        case r.LeftCleaningParty(late=late):
            row = _status(row, "left_late" if late else "left", fact, late=late)
        case r.WithdrewFromShift(late=late):
            row = _status(row, "withdrawn_late" if late else "withdrawn", fact, late=late)
        case r.CheckedIn(at=at):
            row = _status(row, "checked_in", fact, checked_in_at=at)
        case r.TookTask(task=task):
            row = row if row.status else _status(row, "joined", fact)
            row = _step(replace(row, role=task), "took_task", fact, task)
        case r.DroppedTask(task=task):
            row = _step(replace(row, role=None), "dropped_task", fact, task)
        case r.HandOverTaken(from_crew_id=giver, task=task) if crew_id == giver:
            row = _status(row, "handed_over", fact)
        case r.HandOverTaken(from_crew_id=giver, task=task):
            row = _status(row, "covering", fact, covered_for=giver, role=task)
        case r.SignUpAffected(outcome="moved", occurrence_id=source, task=task) if (
            occurrence_id != source
        ):
            row = _status(row, "joined", fact, role=task)  # moved here by a series change
        case r.SignUpAffected(outcome="task_released", task=task):
            row = _step(replace(row, role=None), "task_released", fact, task or row.role)
        case r.SignUpAffected(outcome="kept"):
            row = _step(row, "kept", fact, row.role)
        case r.SignUpAffected(outcome=outcome):
            row = _status(row, outcome, fact)
        case m.VolunteeredToCook(role=role):
            row = _status(row, "signed_up", fact, role=role)
        case m.WaitlistedToHelp():
            row = _status(row, "waitlisted", fact, role="helper")
        case m.PromotedFromWaitlist():
            row = _status(row, "signed_up", fact, role="helper")
        case m.Withdrew():
            row = _status(row, "withdrawn", fact)
        case m.MealCancelled() if row.status in ON_A_MEAL:
            row = _status(row, "cancelled", fact)
        case o.ConversationHeld(held_at=at):
            row = _status(row, "hosted", fact, role="conversation_host", happened_at=at)
        case o.BuddyAssigned():
            row = _status(row, "buddy", fact, role="buddy", happened_at=fact.recorded_at)
    return replace(row, updated_at=fact.occurred_at, last_seq=fact.seq)


ON_A_MEAL = ("signed_up", "waitlisted")


@dataclasses.dataclass(frozen=True)
class Participation(KeyedFold[ParticipationRow]):
    """The keyed fold, plus meal cancellations: a `meals.meal_cancelled` names no one, so its
    keys are the meal's rows, those in the table and those the same batch makes."""

    def apply(self, con: duckdb.DuckDBPyConnection, facts: Sequence[Fact]) -> None:
        cancelled = [f.event.meal_id for f in facts if isinstance(f.event, m.MealCancelled)]
        if not cancelled:
            super().apply(con, facts)
            return
        found = con.execute(
            f"select occurrence_id, key from {self.table} "
            "where context = 'meals' and occurrence_id in (select unnest(?))",
            [cancelled],
        ).fetchall()
        on_meal: dict[str, dict[str, None]] = {}
        for meal, row_key in found:
            on_meal.setdefault(meal, {})[row_key] = None

        def keys_with_meals(event: object) -> list[str]:
            if isinstance(event, m.MealCancelled):
                return list(on_meal.get(event.meal_id, {}))
            keys = list(self.keys_of(event))
            for row_key in keys:
                context, meal, _ = row_key.split(":", 2)
                if context == "meals":
                    on_meal.setdefault(meal, {})[row_key] = None
            return keys

        KeyedFold.apply(dataclasses.replace(self, keys_of=keys_with_meals), con, facts)


PARTICIPATION = Participation(
    name="participation",
    ddl=DDL,
    table="participation_rows",
    key="key",
    row_type=ParticipationRow,
    keys_of=keys_of,
    fold=fold,
    reads=(
        *(r.HandOverTaken, r.SignUpAffected, r.JoinedCleaningParty, r.LeftCleaningParty),
        *(r.SignedUpForShift, r.WithdrewFromShift, r.CheckedIn, r.TookTask, r.DroppedTask),
        *(m.VolunteeredToCook, m.WaitlistedToHelp, m.PromotedFromWaitlist, m.Withdrew),
        *(m.MealCancelled, o.ConversationHeld, o.BuddyAssigned, "activities"),
    ),
    large=True,  # a row per person and occurrence: the biggest table a house has
    noted=True,  # the counts count again the rows it wrote (contribution_counts.py)
)
