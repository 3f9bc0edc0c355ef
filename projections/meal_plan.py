"""`meal_plan`: one row per meal with its cooks, open helper slots, diners and status."""

from __future__ import annotations

import datetime

import msgspec
from msgspec.structs import replace

from projections.view import Fact, KeyedFold
from schemas import meals as m

# A meal's lists are kept as JSON text and read as lists (by the view, and by the fold for a
# row it did not keep): a live batch writes its meals' rows whole, and as text they cost
# DuckDB a fraction of what lists do to write and to checkpoint (docs/performance.md, "A
# meal's lists kept as JSON text"). A file made before keeps its list columns: the casts are
# then no-ops.
LISTS = (
    "helpers::varchar[] as helpers, waitlist::varchar[] as waitlist, "
    "eaters::varchar[] as eaters, eater_portions::integer[] as eater_portions"
)
DDL = f"""
create table if not exists meal_plan_rows (
    meal_id           varchar primary key,
    date              date,
    time              varchar,
    status            varchar,
    head_cook         varchar,
    helpers           json,  -- the lists as JSON text: see LISTS
    helper_slots      integer,
    open_helper_slots integer,
    waitlist          json,
    diners            integer,
    portions          integer,
    seats             integer,
    eaters            json,
    eater_portions    json,
    served_diners     integer,
    cancel_reason     varchar,
    planned_at        timestamptz,
    updated_at        timestamptz,
    last_seq          bigint
);
-- added after the first release: a file made before gets the column at its end
alter table meal_plan_rows add column if not exists ends_at varchar;
-- the seq of the last event that changed when it is or what it counts as (KeyedFold.moves)
alter table meal_plan_rows add column if not exists moved_seq bigint;
create or replace view meal_plan as
select meal_id, date, head_cook, helpers, open_helper_slots, diners, status, time,
       helper_slots, waitlist, portions, seats, served_diners, cancel_reason,
       planned_at, updated_at, last_seq,
       display_name(head_cook) as head_cook_name,
       (select list(display_name(h) order by i) from unnest(helpers) with ordinality t(h, i)) as helper_names,
       ends_at
from (select * replace ({LISTS}) from meal_plan_rows);
"""


class MealRow(msgspec.Struct):
    meal_id: str
    date: datetime.date | None = None
    time: str | None = None
    status: str = "unplanned"
    head_cook: str | None = None
    helpers: list[str] = []
    helper_slots: int = 0
    open_helper_slots: int = 0
    waitlist: list[str] = []
    diners: int = 0
    portions: int = 0
    seats: int | None = None
    eaters: list[str] = []
    eater_portions: list[int] = []
    served_diners: int | None = None
    cancel_reason: str | None = None
    planned_at: str | datetime.datetime | None = None
    updated_at: str | datetime.datetime | None = None
    last_seq: int = 0
    ends_at: str | None = None
    moved_seq: int | None = None


def _counted(row: MealRow) -> MealRow:
    return replace(
        row,
        open_helper_slots=max(row.helper_slots - len(row.helpers), 0),
        diners=len(row.eaters),
        portions=sum(row.eater_portions),
    )


def fold(row: MealRow | None, fact: Fact, meal_id: str) -> MealRow:
    event = fact.event
    row = row or MealRow(meal_id=meal_id)
    match event:
        case m.MealPlanned():
            row = replace(
                row,
                date=event.date,
                time=event.time,
                helper_slots=event.helper_slots,
                seats=event.seats,
                ends_at=event.ends_at,
                status="open",
                planned_at=fact.occurred_at,
            )
        case m.VolunteeredToCook(crew_id=who, role="head_cook"):
            row = replace(row, head_cook=who)
        case m.VolunteeredToCook(crew_id=who) | m.PromotedFromWaitlist(crew_id=who):
            row = replace(
                row,
                helpers=[*row.helpers, who],
                waitlist=[w for w in row.waitlist if w != who],
            )
        case m.WaitlistedToHelp(crew_id=who):
            row = replace(row, waitlist=[*row.waitlist, who])
        case m.Withdrew(crew_id=who):
            row = replace(
                row,
                head_cook=None if row.head_cook == who else row.head_cook,
                helpers=[h for h in row.helpers if h != who],
                waitlist=[w for w in row.waitlist if w != who],
            )
        case m.SignedUpToEat(crew_id=who, portions=portions):
            row = replace(
                row, eaters=[*row.eaters, who], eater_portions=[*row.eater_portions, portions]
            )
        case m.CancelledEating(crew_id=who):
            kept = [
                (e, p) for e, p in zip(row.eaters, row.eater_portions, strict=False) if e != who
            ]
            row = replace(row, eaters=[e for e, _ in kept], eater_portions=[p for _, p in kept])
        case m.MealClosed():
            row = replace(row, status="closed")
        case m.MealServed(diners=diners):
            row = replace(row, status="served", served_diners=diners)
        case m.MealRescheduled(date=day, time=at):
            row = replace(
                row, date=day, time=at, ends_at=moved_end(row.ends_at, row.time or at, at)
            )
        case m.MealCancelled(reason=reason):
            row = replace(row, status="cancelled", cancel_reason=reason)
    return _counted(replace(row, updated_at=fact.occurred_at, last_seq=fact.seq))


def moved_end(ends_at: str | None, was: str, now: str) -> str | None:
    """A moved meal keeps its length: its end moves with its start (HH:MM). One moved so late
    that it would end after midnight has no known end any more."""
    if ends_at is None:
        return None

    def minutes(clock: str) -> int:
        return int(clock[:2]) * 60 + int(clock[3:5])

    end = minutes(ends_at) + minutes(now) - minutes(was)
    return f"{end // 60:02d}:{end % 60:02d}" if 0 <= end < 24 * 60 else None


def meal_of(event: object) -> list[str]:
    return [event.meal_id] if isinstance(event, m.EVENTS) else []


MEAL_PLAN = KeyedFold(
    name="meal_plan",
    ddl=DDL,
    table="meal_plan_rows",
    key="meal_id",
    row_type=MealRow,
    keys_of=meal_of,
    fold=fold,
    reads=("meals",),
    moves=("date", "time", "ends_at"),
    read_as=f"* replace ({LISTS})",
    cached=1024,
)
