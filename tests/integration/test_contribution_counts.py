"""The counts the projector keeps (projections/contribution_counts.py) give the counting views
exactly what the plain SQL over every contribution gave before (contribution_reference.py):
every column, type and row, in the same order. On the bench's workload folded here, at moments
through its year and after it, with contributions withdrawn, cancelled, handed over and moved
later (one event at a time, as a running house folds them), a person forgotten, a file folded
before the counts existed, and a rebuild; and on the demo house, live, after a forget and after
`crew rebuild` (test_contribution_counts_demo.py)."""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import duckdb
import msgspec
import pytest

from bench import workload
from crew import subjects
from crew.eventstore import Recorded
from crew.settings import ProjectorSettings
from projections import contribution_counts
from projections.projection import Projection
from schemas import activities as a
from schemas import meals as m
from schemas import onboarding as o
from schemas import rota as r
from tests.integration import contribution_reference as reference

UTC = datetime.UTC
# house_now() at these moments (house time), and at the machine's own now (None): the bench's
# year is 2030, so today nothing of it has happened yet
MOMENTS = (
    None,
    "2030-01-12 12:00:00",
    "2030-03-31 23:59:59",
    "2030-04-01 00:00:00",
    "2030-07-10 17:45:00",
    "2030-12-31 20:00:00",
    "2031-02-12 12:00:00",
    "2031-05-01 09:00:00",
)
# what each view is ordered by: the rows in between may come in any order
ORDER = {
    "contributions": (),
    "crew_contributions": ("contributions", "display_name"),
    "load_balance": ("period", "period_start"),
    "drifting_away": ("days_since_last",),
}
KEPT = {  # what the projector keeps for the views
    "counted": "select key, counted_kind, counted_at, counted_covered_for, counted_minutes "
    "from participation_rows",
    "counts": "select * from contribution_counts",
}
COUNTED = ("counted_kind", "counted_at", "counted_covered_for", "counted_minutes")


def at_now(con: duckdb.DuckDBPyConnection, moment: str | None) -> None:
    """The house's clock for this connection: a fixed moment, or the machine's own."""
    if moment is None:
        con.execute("drop macro if exists temp.house_now")
    else:
        con.execute(f"create or replace temp macro house_now() as timestamp '{moment}'")


def result(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[Any], list[tuple[Any, ...]]]:
    cursor = con.execute(sql)
    return [(d[0], str(d[1])) for d in cursor.description or []], cursor.fetchall()


def disagreements(con: duckdb.DuckDBPyConnection, moments: Iterable[str | None]) -> list[str]:
    """Where a view and its reference differ, at each moment: nothing, if they agree."""
    reference.install(con)
    found = []
    for moment in moments:
        at_now(con, moment)
        for view in reference.VIEWS:
            columns, rows = result(con, f"select * from {view}")
            was_columns, was_rows = result(con, f"select * from reference_{view}")
            keys = [[c for c, _ in columns].index(k) for k in ORDER[view]]
            if columns != was_columns:
                found.append(f"{view} at {moment}: columns {columns} were {was_columns}")
            elif sorted(rows, key=repr) != sorted(was_rows, key=repr):
                extra = set(rows) - set(was_rows)
                gone = set(was_rows) - set(rows)
                found.append(f"{view} at {moment}: {sorted(extra)[:2]} where {sorted(gone)[:2]}")
            elif [[row[k] for k in keys] for row in rows] != [
                [row[k] for k in keys] for row in was_rows
            ]:
                found.append(f"{view} at {moment}: not in the order of {ORDER[view]}")
    at_now(con, None)
    return found


def record(seq: int, event: msgspec.Struct, at: datetime.datetime) -> Recorded:
    tag = str(type(event).__struct_config__.tag)
    names = ("meal_id", "occurrence_id", "activity_id", "initiative_id", "person_id")
    aggregate = next((str(getattr(event, n)) for n in names if hasattr(event, n)), "x")
    return Recorded(
        seq=seq,
        subject=subjects.event_subject(tag, aggregate),
        data=msgspec.json.encode(event),
        headers={
            subjects.EVENT_TYPE: tag,
            subjects.SCHEMA_VERSION: "1",
            subjects.OCCURRED_AT: at.isoformat(),
        },
        recorded_at=at,
    )


def year_of_houses(houses: int) -> list[msgspec.Struct]:
    """The bench's seeded year (bench/workload.py), in `houses` houses."""
    rng = random.Random(7)
    start = datetime.date(2030, 1, 6)
    return [e for house in range(houses) for e in workload.house_events(house, rng, start)]


def later(events: Sequence[msgspec.Struct]) -> list[msgspec.Struct]:
    """What a year also holds: cooks stepping back, a meal cancelled and one moved to another
    month, a cleaning party left, moved and handed over, an activity moved, an initiative left,
    contributions recorded, someone who joined late, a newcomer who never became crew, one
    whose load suddenly rises, and a forget."""
    cooks = [e for e in events if isinstance(e, m.VolunteeredToCook)]
    meals = [e for e in events if isinstance(e, m.MealPlanned)]
    parties = [e for e in events if isinstance(e, r.JoinedCleaningParty)]
    days = datetime.timedelta
    moved = meals[60]
    party = parties[50]
    gone, giver = parties[30], parties[200]
    riser = [a.ContributionRecorded(contribution_id=f"rise-{n}", crew_id="riser", kind="baked",
                                    on=datetime.date(2030, 7, 8) + days(n), minutes=30)
             for n in range(5)]  # fmt: skip
    outsider = [a.ContributionRecorded(contribution_id=f"out-{n}", crew_id="outsider",
                                       kind="fixed_something", on=datetime.date(2030, 7, 8))
                for n in range(5)]  # fmt: skip
    starts = datetime.datetime(2030, 3, 5, 17, 0, tzinfo=UTC)
    return [
        m.Withdrew(meal_id=cooks[10].meal_id, crew_id=cooks[10].crew_id, role=cooks[10].role),
        m.Withdrew(meal_id=cooks[500].meal_id, crew_id=cooks[500].crew_id, role=cooks[500].role),
        m.MealCancelled(meal_id=meals[40].meal_id, reason="no gas"),
        m.MealRescheduled(meal_id=moved.meal_id, date=moved.date + days(40), time="12:00"),
        r.LeftCleaningParty(series_id=gone.series_id, occurrence_id=gone.occurrence_id,
                            crew_id=gone.crew_id, late=True),
        r.OccurrenceMoved(series_id=party.series_id, occurrence_id=party.occurrence_id,
                          kind="cleaning_party", date=datetime.date(2030, 9, 30),
                          start="10:00", end="13:30"),
        r.HandOverTaken(series_id=giver.series_id, occurrence_id=giver.occurrence_id,
                        crew_id="h1-c39", from_crew_id=giver.crew_id),
        a.ActivityPlanned(activity_id="sauna", title="Sauna", starts_at=starts,
                          ends_at=starts + days(hours=2)),
        a.SignedUpForActivity(activity_id="sauna", crew_id="h0-c1"),
        a.SignedUpForActivity(activity_id="sauna", crew_id="h0-c2"),
        a.WithdrewFromActivity(activity_id="sauna", crew_id="h0-c2"),
        a.ActivityChanged(activity_id="sauna", reason="the sauna is booked",
                          starts_at=starts + days(days=40), ends_at=starts + days(days=40, hours=3)),
        # from the first moment of a week (Monday 8 July, house time)
        a.ActivityPlanned(activity_id="night-walk", title="Night walk",
                          starts_at=datetime.datetime(2030, 7, 7, 22, tzinfo=UTC),
                          ends_at=datetime.datetime(2030, 7, 8, 1, tzinfo=UTC)),
        a.SignedUpForActivity(activity_id="night-walk", crew_id="h1-c5"),
        a.InitiativeStarted(initiative_id="garden", title="Garden", started_by="h0-c3"),
        a.JoinedInitiative(initiative_id="garden", crew_id="h0-c4"),
        a.LeftInitiative(initiative_id="garden", crew_id="h0-c4"),
        # crew from the first moment of September, house time; forgotten at the first of June
        o.CrewMemberRegistered(person_id="late", display_name="Late",
                               registered_at=datetime.datetime(2030, 8, 31, 22, tzinfo=UTC)),
        o.CrewMemberRegistered(person_id="riser", display_name="Riser",
                               registered_at=workload.EPOCH),
        *riser,
        *outsider,
        o.PersonForgotten(person_id="h0-c0",
                          forgotten_at=datetime.datetime(2030, 5, 31, 22, tzinfo=UTC)),
        # crew until the first moment of Monday 2 September, house time: counted that week
        o.CrewMemberRegistered(person_id="gone", display_name="Gone",
                               registered_at=workload.EPOCH),
        a.ContributionRecorded(contribution_id="gone-1", crew_id="gone", kind="baked",
                               on=datetime.date(2030, 1, 20)),
        o.PersonForgotten(person_id="gone",
                          forgotten_at=datetime.datetime(2030, 9, 1, 22, tzinfo=UTC)),
    ]  # fmt: skip


def fold(
    path: Path,
    events: Sequence[msgspec.Struct],
    batch: int,
    one_by_one: int,
    count_until: int | Literal["end"] | None = None,
) -> Projection:
    """A projection of the events: in batches, then the last `one_by_one` a batch each;
    counting batch by batch, or once in the batch that reaches `count_until` (`end`: the
    last batch before the one-by-one ones, as a rebuild's catch-up follows it)."""
    records = [record(n + 1, e, workload.EPOCH) for n, e in enumerate(events)]
    projection = Projection(path)
    cut = len(records) - one_by_one
    if count_until is not None:
        projection.count_later(until=cut if count_until == "end" else count_until)
    for start in range(0, cut, batch):
        assert projection.apply(records[start : min(start + batch, cut)]).dead == 0
    for single in records[cut:]:
        assert projection.apply([single]).dead == 0
    return projection


def kept(con: duckdb.DuckDBPyConnection, name: str) -> list[tuple[Any, ...]]:
    return sorted(con.execute(KEPT[name]).fetchall(), key=repr)


@pytest.fixture(scope="module")
def events() -> list[msgspec.Struct]:
    year = year_of_houses(2)
    return [*year, *later(year)]


@pytest.fixture(scope="module")
def folded(
    tmp_path_factory: pytest.TempPathFactory, events: list[msgspec.Struct]
) -> Iterator[Projection]:
    projection = fold(tmp_path_factory.mktemp("counts") / "views.duckdb", events, 5000, 40)
    yield projection
    projection.close()


def test_the_views_agree_with_the_plain_sql_through_the_year_and_after(folded: Projection) -> None:
    assert disagreements(folded.con, MOMENTS) == []


def test_the_year_has_what_the_comparison_needs(folded: Projection) -> None:
    """A comparison of empty views proves nothing: at the end of the year every view has rows,
    someone is rising (one of them crew before they ever contributed) and someone drifting."""
    con = folded.con
    at_now(con, "2030-12-31 20:00:00")
    rising = {who for (names,) in con.execute(
        "select rising_load from load_balance where rising_load is not null").fetchall()
        for who in names}  # fmt: skip
    assert {"riser"} < rising
    assert "outsider" not in rising  # never crew, and nothing before: not compared
    assert con.execute("select count(*) from drifting_away").fetchone() > (0,)
    kinds = {k for (k,) in con.execute("select distinct kind from contributions").fetchall()}
    assert {"meal_head_cook", "cleaning_party", "activity", "initiative", "contribution"} <= kinds
    at_now(con, None)


def test_the_counts_are_the_rows_counted(folded: Projection) -> None:
    con = folded.con
    counted = con.execute("""
        with counted as (  -- every contribution that stands, ahead of now too
            select crew_id, counted_at as "at", counted_minutes as minutes
            from participation_rows where counted_kind is not null)
        select crew_id, period, period_start, count(*), sum(coalesce(minutes, 0))
        from (select *, 'week' as period, date_trunc('week', "at")::date as period_start
              from counted
              union all
              select *, 'month', date_trunc('month', "at")::date from counted)
        group by all""").fetchall()
    kept = con.execute(
        "select crew_id, period, period_start, contributions, minutes from contribution_counts"
    ).fetchall()
    assert sorted(counted) == sorted(kept)


@pytest.mark.parametrize(
    ("batch", "one_by_one", "rows_a_part", "count_until"),
    [
        (997, 0, None, None),
        (5000, 40, None, "end"),
        (5000, 0, 100, "end"),
        (997, 40, None, 7_777),
    ],
    ids=[
        "in other batches",
        "counted once at the end, as a rebuild does, then live",
        "counted at the end, a hundred rows' people at a time",
        "counted in the batch that reaches a seq, as a first start does, then live",
    ],
)
def test_a_rebuild_keeps_the_same_counts(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    events: list[msgspec.Struct],
    folded: Projection,
    batch: int,
    one_by_one: int,
    rows_a_part: int | None,
    count_until: int | Literal["end"] | None,
) -> None:
    if rows_a_part:
        monkeypatch.setattr(contribution_counts, "ROWS_A_PART", rows_a_part)
    path = tmp_path / "rebuilt.duckdb"
    rebuilt = fold(path, events, batch, one_by_one, count_until)
    assert rebuilt.counting
    try:
        for name in KEPT:
            assert kept(rebuilt.con, name) == kept(folded.con, name), name
        assert disagreements(rebuilt.con, MOMENTS[::3]) == []
    finally:
        rebuilt.close()


def test_the_counts_find_the_same_rows_in_the_batchs_notes_as_in_sql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, events: list[msgspec.Struct]
) -> None:
    """Live batches count again the rows `participation` wrote in them, from the batch's notes,
    unless an occurrence moved (then TOUCHED, in SQL). The year's last events and `later`'s
    (cooks stepping back, a meal cancelled, moves, a hand-over, a forget), one batch each, take
    both ways; the same batches, always through TOUCHED, keep the same counts."""
    noted = fold(tmp_path / "noted.duckdb", events, 5000, 120)
    monkeypatch.setattr(contribution_counts, "notes_of", lambda con: None)
    queried = fold(tmp_path / "queried.duckdb", events, 5000, 120)
    try:
        for name in KEPT:
            assert kept(noted.con, name) == kept(queried.con, name), name
        assert kept(noted.con, "counts"), "the part counts something"
    finally:
        noted.close()
        queried.close()


def test_a_file_folded_before_the_counts_gets_them_when_opened(
    tmp_path: Path, events: list[msgspec.Struct], folded: Projection
) -> None:
    path = tmp_path / "older.duckdb"
    older = fold(path, events, 5000, 0)
    older.con.execute("drop table contribution_counts")
    for column in COUNTED:
        older.con.execute(f"alter table participation_rows drop column {column}")
    older.close()
    reopened = Projection(path)
    try:
        for name in KEPT:
            assert kept(reopened.con, name) == kept(folded.con, name), name
        assert disagreements(reopened.con, MOMENTS[-2:]) == []
    finally:
        reopened.close()


def test_a_rebuild_folds_in_a_smaller_pool_then_counts_and_serves_in_the_whole(
    tmp_path: Path, events: list[msgspec.Struct]
) -> None:
    """The counting at the end updates every row in one transaction: it gets the whole pool,
    as does a rebuilt file that answers queries (docs/performance.md, "Memory")."""
    settings = ProjectorSettings(duckdb_memory_limit="100MB", duckdb_rebuild_memory_limit="20MB")
    records = [record(n + 1, e, workload.EPOCH) for n, e in enumerate(events[:200])]

    def pool(projection: Projection) -> str:
        return str(projection.con.execute("select current_setting('memory_limit')").fetchone())

    counted = Projection(tmp_path / "counted.duckdb", config=settings, rebuilding=True)
    quiet = Projection(tmp_path / "quiet.duckdb", config=settings, rebuilding=True)
    try:
        counted.count_later(until=200)
        counted.apply(records[:100])
        folding = pool(counted)
        counted.apply(records[100:])
        quiet_folding = pool(quiet)
        quiet.lock_down()  # nothing to count: it serves in the whole pool all the same
        assert (folding, pool(counted)) == ("('19.0 MiB',)", "('95.3 MiB',)")
        assert (quiet_folding, pool(quiet)) == ("('19.0 MiB',)", "('95.3 MiB',)")
        assert counted.con.execute("select count(*) from contribution_counts").fetchone() != (0,)
    finally:
        counted.close()
        quiet.close()
