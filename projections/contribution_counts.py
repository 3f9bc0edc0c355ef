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

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from projections.contributions import KINDS, STANDS
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
select key from participation_rows
where last_seq >= $first
   or occurrence_id in (select occurrence_id from rota_rows where last_seq >= $first
                        union all select meal_id from meal_plan_rows where last_seq >= $first
                        union all select activity_id from activities_rows where last_seq >= $first)
"""

# The touched rows as they count now (+1) and as they counted before (-1).
DELTA = f"""
create or replace temp table contribution_delta as
with touched as ({{touched}}),
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

COUNT = f"""
insert into contribution_counts
select crew_id, period, period_start, sum(sign) as contributions,
       {", ".join(f"sum(if({where}, sign, 0)) as {name}" for name, where in KINDS.items())},
       sum(sign * coalesce(minutes, 0)) as minutes
from (select *, 'week' as period, date_trunc('week', "at")::date as period_start
      from contribution_delta
      union all
      select *, 'month', date_trunc('month', "at")::date from contribution_delta)
group by crew_id, period, period_start
on conflict do update set contributions = contributions + excluded.contributions,
    {", ".join(f"{name} = {name} + excluded.{name}" for name in COUNTS)},
    minutes = minutes + excluded.minutes;
delete from contribution_counts where contributions = 0;
delete from contribution_rows where key in (select key from contribution_delta where sign = -1);
insert into contribution_rows select {COLUMNS} from contribution_delta where sign = 1;
drop table contribution_delta;
"""


@dataclass(frozen=True)
class ContributionCounts:
    """The keyed fold of contributions: after the participation, rota, meal and activity folds
    of the same batch, in the same transaction."""

    name: str = "contribution_counts"
    ddl: str = DDL
    where: Where = "file"

    def apply(self, con: duckdb.DuckDBPyConnection, facts: Sequence[Fact]) -> None:
        if facts:
            count_again(con, TOUCHED, {"first": facts[0].seq})

    def fill(self, con: duckdb.DuckDBPyConnection, chunk: int = 20_000) -> None:
        """Count a file folded before this table existed: every row, a part at a time."""
        if con.execute("select count(*) from contribution_rows").fetchone() != (0,):
            return
        keys = [k for (k,) in con.execute("select key from participation_rows").fetchall()]
        con.execute("begin transaction")  # all or nothing: a part filled would never be again
        try:
            for start in range(0, len(keys), chunk):
                part = keys[start : start + chunk]
                count_again(con, "select unnest($keys) as key", {"keys": part})
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise


def count_again(con: duckdb.DuckDBPyConnection, touched: str, params: dict[str, object]) -> None:
    """Subtract what the touched rows counted, add what they count now."""
    con.execute(DELTA.replace("{touched}", touched), params)
    con.execute(COUNT)


CONTRIBUTION_COUNTS = ContributionCounts()
