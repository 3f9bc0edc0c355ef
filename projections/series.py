"""The weekly series as they stand now, and who usually does what in them (standing
intentions): what a crew member's page offers to change, to say "I usually do this", or to stop
saying it. The occurrences themselves are in `rota`."""

from __future__ import annotations

import datetime

import msgspec
from msgspec.structs import replace

from projections.view import Fact, KeyedFold
from schemas import rota as r

DDL = """
create table if not exists series_rows (
    series_id       varchar primary key,
    kind            varchar,
    title           varchar,
    weekdays        integer[],
    start_time      varchar,
    end_time        varchar,
    starts_on       date,
    until           date,
    tasks           varchar[],
    capacity        integer,
    changed_from    date,
    updated_at      timestamptz,
    last_seq        bigint
);
-- added after the first release: a file made before gets the column at its end
alter table series_rows add column if not exists initiative_id varchar;
create table if not exists intention_rows (
    intention_id    varchar primary key,
    series_id       varchar,
    crew_id         varchar,
    weekdays        integer[],
    task            varchar,
    stated_at       timestamptz,
    last_seq        bigint
);
"""


class SeriesRow(msgspec.Struct):
    series_id: str
    kind: str
    title: str
    weekdays: list[int]
    start_time: str
    end_time: str
    starts_on: datetime.date
    until: datetime.date | None = None
    tasks: list[str] = []
    capacity: int | None = None
    changed_from: datetime.date | None = None
    updated_at: str | None = None
    last_seq: int = 0
    initiative_id: str | None = None  # the initiative that owns the series, if one does


class IntentionRow(msgspec.Struct):
    intention_id: str
    series_id: str
    crew_id: str
    weekdays: list[int] | None = None
    task: str | None = None
    stated_at: str | None = None
    last_seq: int = 0


def fold_series(row: SeriesRow | None, fact: Fact, series_id: str) -> SeriesRow | None:
    match fact.event:
        case r.SeriesScheduled() as e:
            row = SeriesRow(
                series_id=series_id,
                kind=e.kind,
                title=e.title,
                weekdays=list(e.weekdays),
                start_time=e.start,
                end_time=e.end,
                starts_on=e.starts_on,
                until=e.until,
                tasks=[t.task for t in e.tasks],
                capacity=e.capacity,
                initiative_id=e.initiative_id,
            )
        case r.SeriesChanged() as e if row is not None:
            row = replace(
                row,
                weekdays=list(e.weekdays),
                start_time=e.start,
                end_time=e.end,
                until=e.until,
                tasks=[t.task for t in e.tasks],
                capacity=e.capacity,
                changed_from=e.effective_from,
            )
    return None if row is None else replace(row, updated_at=fact.occurred_at, last_seq=fact.seq)


def series_of(event: object) -> list[str]:
    return [event.series_id] if isinstance(event, r.SeriesScheduled | r.SeriesChanged) else []


def intention_key(series_id: str, crew_id: str) -> str:
    return f"{series_id}/{crew_id}"


def fold_intention(row: IntentionRow | None, fact: Fact, key: str) -> IntentionRow | None:
    match fact.event:
        case r.IntentionStated() as e:
            return IntentionRow(
                intention_id=key,
                series_id=e.series_id,
                crew_id=e.crew_id,
                weekdays=e.weekdays,
                task=e.task,
                stated_at=fact.occurred_at,
                last_seq=fact.seq,
            )
        case r.IntentionDropped():
            return None
    return row


def intentions_of(event: object) -> list[str]:
    if isinstance(event, r.IntentionStated | r.IntentionDropped):
        return [intention_key(event.series_id, event.crew_id)]
    return []


SERIES = KeyedFold(
    name="series_rows",
    ddl=DDL,
    table="series_rows",
    key="series_id",
    row_type=SeriesRow,
    keys_of=series_of,
    fold=fold_series,
    reads=("rota",),
)
INTENTIONS = KeyedFold(
    name="intention_rows",
    ddl="",  # made with series_rows
    table="intention_rows",
    key="intention_id",
    row_type=IntentionRow,
    keys_of=intentions_of,
    fold=fold_intention,
    reads=("rota",),
)
