"""`activities`: each activity with its places, waitlist, tasks, guests counted (never named)
and its initiative; `initiatives`: members, the lead and the history of leads, and activity
over time; `contribution_kinds`: the house's open list of kinds of contribution."""

from __future__ import annotations

import datetime
from typing import Any

import msgspec
from msgspec.structs import replace

from projections.view import Fact, KeyedFold
from schemas import activities as a
from schemas.common import HOUSE_TIMEZONE

ACTIVITIES_DDL = f"""
create table if not exists activities_rows (
    activity_id   varchar primary key,
    title         varchar,
    starts_at     timestamptz,
    ends_at       timestamptz,
    status        varchar,
    capacity      integer,
    places        varchar[],  -- crew ids and guest ids holding a place, in order
    waitlist      varchar[],  -- the same, waiting
    guest_ids     varchar[],  -- which of them are guests: ids only, never a name
    tasks         struct(task varchar, capacity integer, people varchar[])[],
    place         varchar,
    description   varchar,
    initiative_id varchar,
    open_to_guests boolean,
    fee_note      varchar,
    reason        varchar,    -- why it was last changed or cancelled
    planned_at    timestamptz,
    updated_at    timestamptz,
    last_seq      bigint
);
-- the seq of the last event that changed when it is or what it counts as (KeyedFold.moves)
alter table activities_rows add column if not exists moved_seq bigint;
create or replace view activities as
select a.activity_id, a.title,
       timezone('{HOUSE_TIMEZONE}', a.starts_at) as starts_at,
       timezone('{HOUSE_TIMEZONE}', a.ends_at) as ends_at,
       a.status, a.capacity,
       if(a.capacity is null, null, greatest(a.capacity - len(a.places), 0)) as open_places,
       list_filter(a.places, lambda p: not list_contains(a.guest_ids, p)) as signed_up,
       list_filter(a.waitlist, lambda p: not list_contains(a.guest_ids, p)) as waitlist,
       len(list_filter(a.places, lambda p: list_contains(a.guest_ids, p))) as guests,
       len(list_filter(a.waitlist, lambda p: list_contains(a.guest_ids, p))) as guests_waiting,
       a.tasks, a.initiative_id, i.title as initiative_title, a.place, a.description,
       a.open_to_guests, a.fee_note, a.reason,
       date_diff('minute', a.starts_at, a.ends_at) as minutes,
       (select list(display_name(p) order by n) from unnest(a.places) with ordinality t(p, n)
        where not list_contains(a.guest_ids, p)) as signed_up_names,
       a.planned_at, a.updated_at, a.last_seq
from activities_rows a
left join initiatives_rows i using (initiative_id)
order by a.starts_at, a.activity_id;
"""

INITIATIVES_VIEW = """
-- made with the activities (each view reads the other's table)
create or replace view initiatives as
with by_month as (
    select initiative_id, date_trunc('month', starts_at)::date as month, count(*) as activities,
           sum(len(places)) as places_taken
    from activities_rows where status <> 'cancelled' and initiative_id is not null
    group by all
),
over_time as (
    select initiative_id,
           list(struct_pack(month := month, activities := activities, places_taken := places_taken)
                order by month) as activity_by_month,
           sum(activities)::bigint as activities
    from by_month group by initiative_id
)
select i.initiative_id, i.title, i.description, i.started_by, i.started_at, i.lead,
       display_name(i.lead) as lead_name, i.leads, i.members, len(i.members) as member_count,
       coalesce(t.activities, 0) as activities, t.activity_by_month, i.updated_at, i.last_seq,
       (select list(s.series_id order by s.series_id) from series_rows s
        where s.initiative_id = i.initiative_id) as series
from initiatives_rows i
left join over_time t using (initiative_id)
order by i.started_at, i.initiative_id;
"""


INITIATIVES_DDL = """
create table if not exists initiatives_rows (
    initiative_id varchar primary key,
    title         varchar,
    description   varchar,
    started_by    varchar,
    started_at    timestamptz,
    lead          varchar,
    leads         struct(crew_id varchar, "from" timestamptz)[],  -- every lead, in order
    members       varchar[],
    updated_at    timestamptz,
    last_seq      bigint
);
"""


_STARTING = ", ".join(f"('{kind}', '{da}', '{en}')" for kind, (da, en) in a.STARTING_KINDS.items())
KINDS_DDL = f"""
create table if not exists contribution_kinds_rows (
    kind       varchar primary key,
    label_da   varchar,
    label_en   varchar,
    defined_at timestamptz,
    last_seq   bigint
);
create or replace view contribution_kinds as
select kind, label_da, label_en, defined_at from contribution_kinds_rows
union all
select kind, label_da, label_en, null from (values {_STARTING}) s(kind, label_da, label_en)
where kind not in (select kind from contribution_kinds_rows)
order by kind;
"""


class ActivityRow(msgspec.Struct):
    activity_id: str
    title: str = ""
    starts_at: datetime.datetime | None = None
    ends_at: datetime.datetime | None = None
    status: str = "unplanned"
    capacity: int | None = None
    places: list[str] = []
    waitlist: list[str] = []
    guest_ids: list[str] = []
    tasks: list[dict[str, Any]] = []
    place: str = ""
    description: str = ""
    initiative_id: str | None = None
    open_to_guests: bool = False
    fee_note: str = ""
    reason: str | None = None
    planned_at: str | datetime.datetime | None = None
    updated_at: str | datetime.datetime | None = None
    last_seq: int = 0
    moved_seq: int | None = None


def _planned(row: ActivityRow, event: a.ActivityPlanned, fact: Fact) -> ActivityRow:
    tasks = [{"task": n.task, "capacity": n.capacity, "people": []} for n in event.needs]
    fields = ("title", "starts_at", "ends_at", "capacity", "place", "description")
    more = ("initiative_id", "open_to_guests", "fee_note")
    plan = {f: getattr(event, f) for f in (*fields, *more)}
    return replace(row, **plan, status="planned", tasks=tasks, planned_at=fact.occurred_at)


def _with_task(row: ActivityRow, task: str, who: str, take: bool) -> ActivityRow:
    tasks = [
        {**t, "people": [*(p for p in t["people"] if p != who), *([who] if take else [])]}
        if t["task"] == task
        else t
        for t in row.tasks
    ]
    return replace(row, tasks=tasks)


def _left(row: ActivityRow, who: str) -> ActivityRow:
    return replace(
        row,
        places=[p for p in row.places if p != who],
        waitlist=[w for w in row.waitlist if w != who],
    )


def fold_activity(row: ActivityRow | None, fact: Fact, activity_id: str) -> ActivityRow:
    event = fact.event
    row = row or ActivityRow(activity_id=activity_id)
    match event:
        case a.ActivityPlanned():
            row = _planned(row, event, fact)
        case a.SignedUpForActivity(crew_id=who):
            row = replace(row, places=[*row.places, who])
        case a.WaitlistedForActivity(crew_id=who):
            row = replace(row, waitlist=[*row.waitlist, who])
        case a.GuestSignedUp(guest_id=who, waitlisted=waiting):
            row = replace(row, guest_ids=[*row.guest_ids, who])
            row = replace(row, waitlist=[*row.waitlist, who]) if waiting else row
            row = row if waiting else replace(row, places=[*row.places, who])
        case a.PromotedOnActivity(crew_id=crew, guest_id=guest):
            row = _left(row, crew or guest or "")
            row = replace(row, places=[*row.places, crew or guest or ""])
        case a.WithdrewFromActivity(crew_id=who) | a.GuestWithdrew(guest_id=who):
            row = _left(row, who)
        case a.ActivityChanged():
            changes = {
                f: getattr(event, f)
                for f in ("title", "starts_at", "ends_at", "capacity", "place", "description")
                if getattr(event, f) is not None
            }
            row = replace(row, **changes, reason=event.reason)
        case a.ActivityCancelled(reason=reason):
            row = replace(row, status="cancelled", reason=reason)
        case a.TookActivityTask(crew_id=who, task=task):
            row = _with_task(row, task, who, take=True)
        case a.DroppedActivityTask(crew_id=who, task=task):
            row = _with_task(row, task, who, take=False)
    return replace(row, updated_at=fact.occurred_at, last_seq=fact.seq)


def activity_of(event: object) -> list[str]:
    aid = getattr(event, "activity_id", None)
    return [aid] if aid is not None and isinstance(event, a.EVENTS) else []


ACTIVITIES = KeyedFold(
    name="activities",
    ddl=ACTIVITIES_DDL + INITIATIVES_VIEW,
    table="activities_rows",
    key="activity_id",
    row_type=ActivityRow,
    keys_of=activity_of,
    fold=fold_activity,
    reads=("activities",),
    moves=("starts_at", "ends_at"),
)


class InitiativeRow(msgspec.Struct):
    initiative_id: str
    title: str = ""
    description: str = ""
    started_by: str | None = None
    started_at: str | datetime.datetime | None = None
    lead: str | None = None
    leads: list[dict[str, Any]] = []
    members: list[str] = []
    updated_at: str | datetime.datetime | None = None
    last_seq: int = 0


def fold_initiative(row: InitiativeRow | None, fact: Fact, initiative_id: str) -> InitiativeRow:
    event = fact.event
    row = row or InitiativeRow(initiative_id=initiative_id)
    match event:
        case a.InitiativeStarted(started_by=who):
            row = replace(
                row,
                title=event.title,
                description=event.description,
                started_by=who,
                started_at=fact.occurred_at,
                lead=who,
                leads=[{"crew_id": who, "from": fact.occurred_at}],
                members=[who],
            )
        case a.JoinedInitiative(crew_id=who):
            row = replace(row, members=[*row.members, who])
        case a.LeftInitiative(crew_id=who):
            row = replace(row, members=[m for m in row.members if m != who])
        case a.InitiativeHandedOn(to_crew_id=who):
            members = row.members if who in row.members else [*row.members, who]
            leads = [*row.leads, {"crew_id": who, "from": fact.occurred_at}]
            row = replace(row, lead=who, leads=leads, members=members)
    return replace(row, updated_at=fact.occurred_at, last_seq=fact.seq)


def initiative_of(event: object) -> list[str]:
    iid = getattr(event, "initiative_id", None)
    on_initiative = (a.InitiativeStarted, a.JoinedInitiative, a.LeftInitiative)
    return [iid] if isinstance(event, (*on_initiative, a.InitiativeHandedOn)) and iid else []


INITIATIVES = KeyedFold(
    name="initiatives",
    ddl=INITIATIVES_DDL,
    table="initiatives_rows",
    key="initiative_id",
    row_type=InitiativeRow,
    keys_of=initiative_of,
    fold=fold_initiative,
    reads=("activities",),
)


class KindRow(msgspec.Struct):
    kind: str
    label_da: str = ""
    label_en: str = ""
    defined_at: str | datetime.datetime | None = None
    last_seq: int = 0


def fold_kind(row: KindRow | None, fact: Fact, kind: str) -> KindRow:
    event = fact.event
    return KindRow(
        kind=kind,
        label_da=event.label_da,
        label_en=event.label_en,
        defined_at=fact.occurred_at,
        last_seq=fact.seq,
    )


CONTRIBUTION_KINDS = KeyedFold(
    name="contribution_kinds",
    ddl=KINDS_DDL,
    table="contribution_kinds_rows",
    key="kind",
    row_type=KindRow,
    keys_of=lambda e: [e.kind] if isinstance(e, a.ContributionKindDefined) else [],
    fold=fold_kind,
    reads=("activities",),
)
