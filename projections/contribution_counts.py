"""`contribution_rows` and `contribution_counts`: every contribution that stands, and how many
each person made of each kind per week and per month, kept by the projector as it folds the log.

The views that count contributions (`crew_contributions`, `load_balance`, `drifting_away`) read
these instead of joining every participation row with its occurrence on every query. A batch
changes the counts by delta: the rows of `participation_rows` it touched, and those whose meal,
rota day or activity it touched (a move changes when a contribution happens), are made again
with `participation`'s own expressions; what they counted before is subtracted and what they
count now added. A withdrawal, a cancelled meal or a hand-over subtracts; a row that is counted
again unchanged adds nothing.

Counts are per whole week and month. "Up to now" and the rolling window are not stored: they
move with the house's clock, so the views add this month's rows (and the window's first month)
one by one to the whole periods before it (contributions.py).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from projections.contributions import KIND_COLUMNS, KINDS, STANDS
from projections.participation import AT, KIND, MINUTES, occurrences
from projections.view import Fact, Where

COUNTS = list(KINDS)  # meals_cooked, ..., covered_for_others, ...: crew_contributions' columns

DDL = f"""
create table if not exists contribution_rows (
    key           varchar primary key,  -- as in participation_rows
    crew_id       varchar,
    kind          varchar,
    occurrence_id varchar,
    "at"          timestamp,            -- house time; ahead of now for a sign-up still to come
    covered_for   varchar,
    minutes       bigint
);
create table if not exists contribution_counts (
    crew_id       varchar,
    period        varchar,              -- week or month
    period_start  date,                 -- the Monday, or the first of the month (house time)
    contributions bigint,               -- never 0: a count that falls to 0 is deleted
    {" ".join(f"{name} bigint," for name in COUNTS)}
    minutes       bigint,               -- their minutes, where known (0 where none is)
    primary key (crew_id, period, period_start)
);
"""

COLUMNS = 'key, crew_id, kind, occurrence_id, "at", covered_for, minutes'

# Rows this batch touched, or whose occurrence it touched: every table keeps the seq of the
# last event folded into a row. An id that names an occurrence in another context only makes
# a row be counted again, unchanged.
TOUCHED = """
select key from participation_rows where last_seq >= $first
union
select p.key from participation_rows p
semi join (select occurrence_id from rota_rows where last_seq >= $first
           union all select meal_id from meal_plan_rows where last_seq >= $first
           union all select activity_id from activities_rows where last_seq >= $first) o
       on p.occurrence_id = o.occurrence_id
"""

# The touched rows as they count now (+1) and as they counted before (-1).
DELTA = f"""
with touched as (select unnest($keys) as key),
touched_rows as (select * from participation_rows where key in (select key from touched)),
touched_rota as (
    select * from rota_rows where occurrence_id in (select occurrence_id from touched_rows)),
touched_meals as (
    select * from meal_plan_rows where meal_id in (select occurrence_id from touched_rows)),
touched_activities as (
    select * from activities_rows where activity_id in (select occurrence_id from touched_rows)),
standing as (
    select p.key, p.crew_id, {KIND} as kind, p.occurrence_id, {AT} as "at", p.covered_for,
           {MINUTES} as minutes, p.status
    from {occurrences("touched_rows", "touched_rota", "touched_meals", "touched_activities")}
)
select {COLUMNS}, 1 as sign from standing where {STANDS}
union all
select {COLUMNS}, -1 as sign from contribution_rows where key in (select key from touched)
"""

SUMMED = ["contributions", *COUNTS, "minutes"]
# Each count moved by its delta; a group new to the table starts from it.
ADD = f"""
insert into contribution_counts
select unnest($crew_id), unnest($period), unnest($period_start),
       {", ".join(f"unnest(${name})" for name in SUMMED)}
on conflict do update set {", ".join(f"{name} = {name} + excluded.{name}" for name in SUMMED)}
returning crew_id, period, period_start, contributions
"""

Row = tuple[Any, ...]  # contribution_rows' columns, in order
Group = tuple[str, str, datetime.date]  # crew_id, period, period_start


@dataclass(frozen=True)
class ContributionCounts:
    """The keyed fold of contributions: after the participation, rota, meal and activity folds
    of the same batch, in the same transaction."""

    name: str = "contribution_counts"
    ddl: str = DDL
    where: Where = "file"

    def apply(self, con: duckdb.DuckDBPyConnection, facts: Sequence[Fact]) -> None:
        if facts:
            touched = con.execute(TOUCHED, {"first": facts[0].seq}).fetchall()
            count_again(con, [key for (key,) in touched])

    def fill(self, con: duckdb.DuckDBPyConnection, chunk: int = 20_000) -> None:
        """Count a file folded before this table existed: every row, a part at a time."""
        if con.execute("select count(*) from contribution_rows").fetchone() != (0,):
            return
        keys = [k for (k,) in con.execute("select key from participation_rows").fetchall()]
        con.execute("begin transaction")  # all or nothing: a part filled would never be again
        try:
            for start in range(0, len(keys), chunk):
                count_again(con, keys[start : start + chunk])
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise


def count_again(con: duckdb.DuckDBPyConnection, keys: list[str]) -> None:
    """Subtract what the touched rows counted, add what they count now. A row counted again
    unchanged (most of a meal's when one more cook signs up) writes nothing."""
    if not keys:
        return
    now: dict[str, Row] = {}
    was: dict[str, Row] = {}
    for *values, sign in con.execute(DELTA, {"keys": keys}).fetchall():
        (now if sign > 0 else was)[values[0]] = tuple(values)
    changed = [key for key in now.keys() | was.keys() if now.get(key) != was.get(key)]
    if not changed:
        return
    rows = [now[key] for key in changed if key in now]
    write(con, "contribution_rows", rows, [(key,) for key in changed if key not in now], ["key"])
    deltas = moved(counts_of(rows), counts_of(was[key] for key in changed if key in was))
    if deltas:
        columns = [list(c) for c in zip(*(g + tuple(d) for g, d in deltas.items()), strict=True)]
        names = ["crew_id", "period", "period_start", *SUMMED]
        added = con.execute(ADD, dict(zip(names, columns, strict=True))).fetchall()
        gone = [(crew_id, period, start) for crew_id, period, start, n in added if n == 0]
        write(con, "contribution_counts", [], gone, ["crew_id", "period", "period_start"])


def moved(after: dict[Group, list[int]], before: dict[Group, list[int]]) -> dict[Group, list[int]]:
    """What changed, group by group: after less before, where it is not nothing."""
    none = [0] * len(SUMMED)
    deltas = {}
    for group in after.keys() | before.keys():
        was = before.get(group, none)
        delta = [a - b for a, b in zip(after.get(group, none), was, strict=True)]
        if any(delta):
            deltas[group] = delta
    return deltas


def counts_of(rows: Iterable[Row]) -> dict[Group, list[int]]:
    """contribution_counts' columns after the key, for these rows."""
    counts: dict[Group, list[int]] = {}
    for row in rows:
        added = counted(row)
        for group in periods_of(row):
            so_far = counts.setdefault(group, [0] * len(added))
            for n, value in enumerate(added):
                so_far[n] += value
    return counts


def periods_of(row: Row) -> tuple[Group, Group]:
    """The week and the month of a contribution, as DuckDB's date_trunc has them."""
    day = row[4].date()
    return (row[1], "week", day - datetime.timedelta(days=day.weekday())), (
        row[1],
        "month",
        day.replace(day=1),
    )


def counted(row: Row) -> list[int]:
    """What one contribution adds to contribution_counts' columns, after the key."""
    _, _, kind, _, _, covered_for, minutes = row
    kinds = [int(covered_for is not None) if column == "covered_for_others"
             else int(kind == KIND_COLUMNS[column]) for column in COUNTS]  # fmt: skip
    return [1, *kinds, minutes or 0]


def write(con: duckdb.DuckDBPyConnection, table: str, rows: list[Row], gone: list[Row],
          key: list[str]) -> None:  # fmt: skip
    if rows:
        upsert = con.appender(table, action="upsert")
        upsert.append_rows(rows)
        upsert.flush()
    if gone:
        delete = con.appender(table, action="delete", key=key)
        delete.append_rows(gone)
        delete.flush()


CONTRIBUTION_COUNTS = ContributionCounts()
