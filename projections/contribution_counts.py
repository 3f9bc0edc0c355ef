"""`contribution_counts`: how many contributions each person made of each kind per week and
per month, kept by the projector as it folds the log; and, in `participation_rows`, what each
row counts (`counted_kind`, `counted_at`, ...).

The views that count contributions (`contributions`, `crew_contributions`, `load_balance`,
`drifting_away`) read these instead of joining every participation row with its occurrence on
every query. A batch changes the counts by delta: the rows of `participation_rows` it touched,
and those whose meal, rota day or activity it touched (a move changes when a contribution
happens), are made again with `participation`'s own expressions; what they counted before is
subtracted and what they count now added. A withdrawal, a cancelled meal or a hand-over
subtracts; a row counted again unchanged writes nothing.

Counts are per whole week and month. "Up to now" and the rolling window are not stored: they
move with the house's clock, so the views add this month's rows (and the window's first month)
one by one to the whole periods before it (contributions.py).

Neither table gets an index of its own for this: at a million events an index of every
contribution's key held some 25 MB more in memory during a rebuild; what a row counted lives
beside it, under participation_rows' key, and a batch's few groups are found by a scan.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from projections.contributions import ADDS, COUNTED, COUNTED_STATUSES, KINDS, STANDS
from projections.participation import AT, KIND, MINUTES, PARTICIPATION, occurrences
from projections.view import Fact, Reads, Where, among, append, notes_of

COUNTS = list(KINDS)  # meals_cooked, ..., covered_for_others, ...: crew_contributions' columns
SUMMED = ["contributions", *COUNTS, "minutes"]  # in ADDS' order

DDL = f"""
create table if not exists contribution_counts (
    crew_id       varchar,
    period        varchar,              -- week or month
    period_start  date,                 -- the Monday, or the first of the month (house time)
    contributions bigint,               -- never 0: a count that falls to 0 is deleted
    {" ".join(f"{name} bigint," for name in COUNTS)}
    minutes       bigint                -- their minutes, where known (0 where none is)
);
"""

COLUMNS = 'key, crew_id, kind, occurrence_id, "at", covered_for, minutes'
# The week and the month a contribution counts in (house time, as `at` is).
PERIODS = """date_trunc('week', "at")::date as week, date_trunc('month', "at")::date as month"""
# Rows this batch touched, or whose occurrence it moved (changed when it is, or what it counts
# as): participation_rows keep the seq of the last event folded into a row, the occurrences
# that of the last one that moved them (`moved_seq`). One more helper at a meal counts that
# helper's row again, not the whole meal's. An id that names an occurrence in another context
# only makes a row be counted again, unchanged. A row whose status counts nothing (waitlisted,
# withdrawn) and that counted nothing before cannot change a count: it is left out.
TOUCHED = f"""
select key from (
    select * from participation_rows where last_seq >= $first
    union all
    select p.* from participation_rows p
    semi join (select occurrence_id from rota_rows where moved_seq >= $first
               union all select meal_id from meal_plan_rows where moved_seq >= $first
               union all select activity_id from activities_rows where moved_seq >= $first) o
           on p.occurrence_id = o.occurrence_id
)
where status in {COUNTED} or counted_kind is not null
group by key
"""

# The touched rows as they count now (+1) and as they counted before (-1), each with its
# periods and what it adds to them.
DELTA = f"""
with touched_rows as (select * from participation_rows where $touched),
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
),
signed as (
    select {COLUMNS}, 1 as sign from standing where {STANDS}
    union all
    select key, crew_id, counted_kind, occurrence_id, counted_at, counted_covered_for,
           counted_minutes, -1 as sign
    from touched_rows where counted_kind is not null
)
select {COLUMNS}, sign, {PERIODS}, {ADDS} from signed
"""

# Every row, as `count_again` would count them one batch at a time: what each counts, beside
# it, then its week's and its month's sums from that. One part of the people at a time (by a
# hash of their id, so each person's periods are summed whole), to bound the memory it takes.
FILL_PART = [
    f"""update participation_rows
    set counted_kind = f.kind, counted_at = f."at", counted_covered_for = f.covered_for,
        counted_minutes = f.minutes
    from (
        select {COLUMNS} from (
            select p.key, p.crew_id, {KIND} as kind, p.occurrence_id, {AT} as "at",
                   p.covered_for, {MINUTES} as minutes, p.status
            from {occurrences()}
            where hash(p.crew_id) % $parts = $part
        ) where {STANDS}
    ) f
    where participation_rows.key = f.key""",
    f"""insert into contribution_counts
    with counted as (
        select crew_id, {PERIODS}, {ADDS}
        from (select crew_id, counted_kind as kind, counted_at as "at",
                     counted_covered_for as covered_for, counted_minutes as minutes
              from participation_rows
              where counted_kind is not null and hash(crew_id) % $parts = $part)
    )
    select crew_id, period, period_start, {", ".join(f"sum({name})" for name in SUMMED)}
    from (select *, 'week' as period, week as period_start from counted
          union all
          select *, 'month', month from counted)
    group by crew_id, period, period_start""",
]
ROWS_A_PART = 50_000

GROUP = """(select unnest($crew_id) as crew_id, unnest($period) as period,
            unnest($period_start) as period_start) g"""
FOUND = (
    f"select c.* from contribution_counts c semi join {GROUP} using (crew_id, period, period_start)"
)
FORGET = f"""delete from contribution_counts c using {GROUP}
where c.crew_id = g.crew_id and c.period = g.period and c.period_start = g.period_start"""

Row = tuple[Any, ...]  # key, crew_id, kind, occurrence_id, at, covered_for, minutes
Periods = tuple[datetime.date, datetime.date]  # the week's Monday, the month's first
Counted = tuple[Row, Periods, list[int]]  # a row, its periods, what it adds to them (ADDS)
COUNTED_COLUMNS = ["key", "counted_kind", "counted_at", "counted_covered_for", "counted_minutes"]
Group = tuple[str, str, datetime.date]  # crew_id, period, period_start
GROUPED = ("crew_id", "period", "period_start")


@dataclass(frozen=True)
class ContributionCounts:
    """The keyed fold of contributions: after the participation, rota, meal and activity folds
    of the same batch, in the same transaction."""

    name: str = "contribution_counts"
    ddl: str = DDL
    where: Where = "file"
    # What it counts changes only with the participation, rota, meal plan and activities folds,
    # which read no notices: a batch of notices alone counts nothing again.
    reads: Reads = ("rota", "meals", "activities", "onboarding")

    def apply(self, con: duckdb.DuckDBPyConnection, facts: Sequence[Fact]) -> None:
        if facts:
            count_again(con, touched(con, facts[0].seq))

    def fill(self, con: duckdb.DuckDBPyConnection) -> None:
        """Count every row of a file that counts none yet (folded before the counts existed, or
        by a rebuild that counts at the end), in SQL, in a transaction of its own."""
        con.execute("begin transaction")  # all or nothing: a part filled would never be again
        try:
            self.fill_within(con)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise

    def fill_within(self, con: duckdb.DuckDBPyConnection) -> None:
        """`fill`, in the transaction `con` is in, a part of the people at a time."""
        if con.execute(
            "select count(*) from participation_rows where counted_kind is not null"
        ).fetchone() != (0,):
            return
        (rows,) = con.execute("select count(*) from participation_rows").fetchone() or (0,)
        parts = max(1, -(-rows // ROWS_A_PART))
        for part in range(parts):
            for statement in FILL_PART:
                con.execute(statement, {"parts": parts, "part": part})


def touched(con: duckdb.DuckDBPyConnection, first: int) -> list[str]:
    """TOUCHED's keys. When the batch's notes say no occurrence moved, they are the rows
    `participation` wrote in it that count or counted (every row with a `last_seq` from this
    batch on is one it wrote, since only its fold writes them), found without the query: a
    live batch of sign-ups saves its planning and its scans, a tenth of the projector's time
    under load (docs/performance.md, "The counts find their rows in the batch's notes")."""
    notes = notes_of(con)
    if notes is None or notes.moved:
        return [key for (key,) in con.execute(TOUCHED, {"first": first}).fetchall()]
    written = notes.written.get(PARTICIPATION.table, {})
    return [
        key
        for key, row in written.items()
        if row is not None and (row.status in COUNTED_STATUSES or row.counted_kind is not None)
    ]


def count_again(con: duckdb.DuckDBPyConnection, keys: list[str]) -> None:
    """Subtract what the touched rows counted, add what they count now. A row counted again
    unchanged (most of a meal's when one more cook signs up) writes nothing."""
    if not keys:
        return
    now: dict[str, Counted] = {}
    was: dict[str, Counted] = {}
    having, params = among("key", keys)
    for values in con.execute(DELTA.replace("$touched", having), params).fetchall():
        row, sign, periods, adds = values[:7], values[7], values[8:10], list(values[10:])
        (now if sign > 0 else was)[row[0]] = (row, periods, adds)
    changed = [key for key in now.keys() | was.keys() if row_of(now, key) != row_of(was, key)]
    if not changed:
        return
    counted = (now[key][0][:1] + now[key][0][2:3] + now[key][0][4:] if key in now
               else (key, None, None, None, None) for key in changed)  # fmt: skip
    append(con, "participation_rows", counted, "update", columns=COUNTED_COLUMNS, key=["key"])
    deltas = moved(
        counts_of(now[key] for key in changed if key in now),
        counts_of(was[key] for key in changed if key in was),
    )
    if not deltas:
        return
    groups = dict(zip(GROUPED, map(list, zip(*deltas, strict=True)), strict=True))
    for crew_id, period, start, *counts in con.execute(FOUND, groups).fetchall():
        delta = deltas[crew_id, period, start]
        deltas[crew_id, period, start] = [a + b for a, b in zip(counts, delta, strict=True)]
    con.execute(FORGET, groups)
    append(con, "contribution_counts", ((*g, *n) for g, n in deltas.items() if n[0] != 0))


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


def row_of(counted: dict[str, Counted], key: str) -> Row | None:
    return counted[key][0] if key in counted else None


def counts_of(rows: Iterable[Counted]) -> dict[Group, list[int]]:
    """contribution_counts' columns after the key, for these rows: what each adds (ADDS,
    worked out in SQL), summed in its week and its month."""
    counts: dict[Group, list[int]] = {}
    for row, (week, month), adds in rows:
        for group in ((row[1], "week", week), (row[1], "month", month)):
            so_far = counts.setdefault(group, [0] * len(adds))
            for n, value in enumerate(adds):
                so_far[n] += value
    return counts


CONTRIBUTION_COUNTS = ContributionCounts()
