"""`rota`: one row per upcoming occurrence (cleaning party, duty shift or meal day), with who is
in, tentative claims, open places and tasks. On meal days the row shows the tentative cooking
claims ("I usually cook on Tuesdays"); who cooks and who eats is in `meal_plan`."""

from __future__ import annotations

import datetime
from typing import Any

import msgspec
from msgspec.structs import replace

from projections.view import Fact, KeyedFold
from schemas import rota as r

DDL = """
create table if not exists rota_rows (
    occurrence_id      varchar primary key,
    series_id          varchar,
    kind               varchar,
    title              varchar,
    date               date,
    start_time         varchar,
    end_time           varchar,
    status             varchar,
    people             varchar[],
    tentative          varchar[],
    capacity           integer,
    open_places        integer,
    tasks              struct(task varchar, capacity integer, people varchar[], tentative varchar[])[],
    checked_in         varchar[],
    hand_overs_offered varchar[],
    note               varchar,
    updated_at         timestamptz,
    last_seq           bigint
);
-- the seq of the last event that changed when it is or what it counts as (KeyedFold.moves)
alter table rota_rows add column if not exists moved_seq bigint;
create or replace view rota as
select occurrence_id, series_id, kind, title, date, start_time, end_time, status, people,
       tentative, capacity, open_places, tasks, checked_in, hand_overs_offered, note,
       updated_at, last_seq,
       (select list(display_name(p) order by i) from unnest(people) with ordinality t(p, i)) as people_names
from rota_rows
where date >= house_today()
order by date, start_time, occurrence_id;
"""


class RotaRow(msgspec.Struct):
    occurrence_id: str
    series_id: str = ""
    kind: str = ""
    title: str = ""
    date: datetime.date | None = None
    start_time: str = ""
    end_time: str = ""
    status: str = "scheduled"
    people: list[str] = []
    tentative: list[str] = []
    capacity: int | None = None
    open_places: int | None = None
    tasks: list[dict[str, Any]] = []
    checked_in: list[str] = []
    hand_overs_offered: list[str] = []
    note: str | None = None
    updated_at: str | datetime.datetime | None = None
    last_seq: int = 0
    moved_seq: int | None = None


def _drop(values: list[str], who: str) -> list[str]:
    return [v for v in values if v != who]


def _tasks(row: RotaRow, change: Any) -> list[dict[str, Any]]:
    return [change(dict(t)) for t in row.tasks]


def _set_task(row: RotaRow, who: str, task: str | None) -> RotaRow:
    """`who` does `task` (or nothing, for None)."""

    def update(t: dict[str, Any]) -> dict[str, Any]:
        people = _drop(list(t["people"]), who)
        if t["task"] == task:
            people.append(who)
        return {**t, "people": people}

    return replace(row, tasks=_tasks(row, update))


def _set_claim(row: RotaRow, who: str, task: str | None, claimed: bool) -> RotaRow:
    def update(t: dict[str, Any]) -> dict[str, Any]:
        tentative = _drop(list(t["tentative"]), who)
        if claimed and t["task"] == task:
            tentative.append(who)
        return {**t, "tentative": tentative}

    tentative = _drop(row.tentative, who) + ([who] if claimed else [])
    return replace(row, tentative=tentative, tasks=_tasks(row, update))


def _leave(row: RotaRow, who: str) -> RotaRow:
    row = _set_task(row, who, None)
    return replace(
        row, people=_drop(row.people, who), hand_overs_offered=_drop(row.hand_overs_offered, who)
    )


def _join(row: RotaRow, who: str) -> RotaRow:
    return row if who in row.people else replace(row, people=[*row.people, who])


def _reshaped(row: RotaRow, event: r.OccurrenceChanged | r.OccurrenceRestored) -> RotaRow:
    """Times, capacity and tasks as the event says; people keep the tasks that remain."""
    kept = {t["task"]: t for t in row.tasks}
    tasks = [
        {
            "task": t.task,
            "capacity": t.capacity,
            **{k: kept.get(t.task, {}).get(k, []) for k in ("people", "tentative")},
        }
        for t in event.tasks
    ]
    return replace(
        row, start_time=event.start, end_time=event.end, capacity=event.capacity, tasks=tasks
    )


def _counted(row: RotaRow) -> RotaRow:
    open_places = None
    if row.capacity is not None:
        open_places = max(row.capacity - len(row.people) - len(row.tentative), 0)
    return replace(row, open_places=open_places)


def _scheduled(event: r.OccurrenceScheduled, occurrence_id: str) -> RotaRow:
    return RotaRow(
        occurrence_id=occurrence_id,
        series_id=event.series_id,
        kind=event.kind,
        title=event.title,
        date=event.date,
        start_time=event.start,
        end_time=event.end,
        capacity=event.capacity,
        tasks=[
            {"task": t.task, "capacity": t.capacity, "people": [], "tentative": []}
            for t in event.tasks
        ],
    )


def fold(row: RotaRow | None, fact: Fact, occurrence_id: str) -> RotaRow | None:
    event = fact.event
    if isinstance(event, r.OccurrenceScheduled):
        row = _scheduled(event, occurrence_id)
    if row is None:
        return None
    match event:
        case r.OccurrenceChanged():
            row = _reshaped(row, event)
        case r.OccurrenceRestored():  # a later series change brought it back
            row = replace(_reshaped(row, event), status="scheduled", note=event.reason or None)
        case r.OccurrenceMoved():
            row = replace(
                row,
                date=event.date,
                start_time=event.start,
                end_time=event.end,
                note=event.reason or None,
            )
        case r.OccurrenceCancelled():
            row = replace(row, status="cancelled", note=event.reason or None)
        case r.SignUpAffected(crew_id=who, outcome="task_released"):
            row = _set_task(row, who, None)
        case r.SignUpAffected(crew_id=who, outcome="released" | "moved") if (
            occurrence_id == event.occurrence_id
        ):
            row = _leave(row, who)
        case r.SignUpAffected(crew_id=who, outcome="moved", task=task):  # the row moved to
            row = _join(row, who)
            row = _set_task(row, who, task) if task else row
        case r.JoinedCleaningParty(crew_id=who) | r.SignedUpForShift(crew_id=who):
            row = _join(row, who)
        case r.LeftCleaningParty(crew_id=who) | r.WithdrewFromShift(crew_id=who):
            row = _leave(row, who)
        case r.TookTask(crew_id=who, task=task):
            row = _set_task(_join(row, who), who, task)
        case r.DroppedTask(crew_id=who):
            row = _set_task(row, who, None)
        case r.CheckedIn(crew_id=who):
            row = row if who in row.checked_in else replace(row, checked_in=[*row.checked_in, who])
        case r.HandOverOffered(crew_id=who):
            row = replace(row, hand_overs_offered=[*row.hand_overs_offered, who])
        case r.HandOverTaken(crew_id=taker, from_crew_id=giver, task=task):
            row = _leave(row, giver)
            row = _set_claim(_join(row, taker), taker, None, claimed=False)
            row = _set_task(row, taker, task) if task else row
        case r.TentativeClaimMade(crew_id=who, task=task):
            row = _set_claim(row, who, task, claimed=True)
        case r.ClaimConfirmed(crew_id=who) | r.ClaimReleased(crew_id=who):
            row = _set_claim(row, who, None, claimed=False)
    return _counted(replace(row, updated_at=fact.occurred_at, last_seq=fact.seq))


def occurrences_of(event: object) -> list[str]:
    match event:
        case r.SignUpAffected(outcome="moved", moved_to=target) if target:
            return [event.occurrence_id, target]
        case r._OccurrenceEvent():
            return [event.occurrence_id]
    return []


ROTA = KeyedFold(
    name="rota",
    ddl=DDL,
    table="rota_rows",
    key="occurrence_id",
    row_type=RotaRow,
    keys_of=occurrences_of,
    fold=fold,
    reads=("rota",),
    moves=("kind", "date", "start_time", "end_time"),
)
