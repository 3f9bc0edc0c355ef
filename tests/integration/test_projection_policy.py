"""What the projector does with an event it cannot use, in process on a real DuckDB file: an
event that cannot be decoded is a dead letter and the views go on; a fold that raises halts the
projector just before its event, says so in `crew status` and in an alert, and resumes once the
fold is fixed, with views equal to a clean rebuild."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import pytest
import structlog

from crew import subjects
from crew.eventstore import Recorded
from projections import projector as projector_module
from projections.event_log import EVENT_LOG
from projections.meal_plan import MEAL_PLAN
from projections.meal_plan import fold as meal_fold
from projections.participation import PARTICIPATION
from projections.people import DETAILS, NAMES, fold_name
from projections.projection import VIEWS, FoldFailed, Projection
from projections.projector import Projector
from projections.view import Fact, KeyedFold, View
from schemas import meals as m
from schemas import onboarding as o
from tests.polling import eventually_async

AT = datetime.datetime(2030, 1, 7, 10, tzinfo=datetime.UTC)
SECRET = "Alice Secret"
TABLES = ("meal_plan_rows", "participation_rows", "crew_registry_rows", "event_log", "dead_letters")


def recorded(seq: int, event: msgspec.Struct) -> Recorded:
    tag = str(type(event).__struct_config__.tag)
    aggregate = getattr(event, "meal_id", None) or getattr(event, "person_id", "x")
    return Recorded(
        seq=seq,
        subject=subjects.event_subject(tag, aggregate),
        data=msgspec.json.encode(event),
        headers={subjects.EVENT_TYPE: tag, subjects.OCCURRED_AT: AT.isoformat()},
        recorded_at=AT,
    )


def raw(seq: int, tag: str, data: bytes) -> Recorded:
    return Recorded(seq, subjects.event_subject(tag, "m1"), data, {subjects.EVENT_TYPE: tag}, AT)


def a_house() -> list[Recorded]:
    """A meal with a head cook, a helper and diners, closed; and a crew member with a name."""
    day = datetime.date(2030, 1, 8)
    events: list[msgspec.Struct] = [
        o.CrewMemberRegistered(person_id="anna", display_name=SECRET, registered_at=AT),
        m.MealPlanned(meal_id="m1", date=day, time="17:30", helper_slots=2),
        m.VolunteeredToCook(meal_id="m1", crew_id="anna", role="head_cook"),
        m.VolunteeredToCook(meal_id="m1", crew_id="bo", role="helper"),
        m.SignedUpToEat(meal_id="m1", crew_id="cy", portions=2),
        m.MealClosed(meal_id="m1"),
        m.SignedUpToEat(meal_id="m1", crew_id="di"),
    ]
    return [recorded(seq, event) for seq, event in enumerate(events, start=1)]


class Bug:
    """A fold with a bug in it, on the events of one type, until it is fixed."""

    def __init__(self, fold: Any, on: type) -> None:
        self.fold, self.on, self.fixed = fold, on, False

    def __call__(self, row: Any, fact: Fact, key: str) -> Any:
        if not self.fixed and isinstance(fact.event, self.on):
            raise KeyError(f"no seat for {SECRET}")  # a message that quotes a value
        return self.fold(row, fact, key)


def with_bug(view: KeyedFold[Any], bug: Bug) -> tuple[View, ...]:
    return tuple(dataclasses.replace(view, fold=bug) if v is view else v for v in VIEWS)


def tables(projection: Projection) -> dict[str, list[tuple[Any, ...]]]:
    con = projection.con
    found = {t: con.execute(f"select * from {t} order by all").fetchall() for t in TABLES}
    found["names"] = con.execute("select * from personal.people order by all").fetchall()
    found["checkpoint"] = [(projection.checkpoint,)]
    return found


def clean_rebuild(path: Path, records: Sequence[Recorded]) -> dict[str, list[tuple[Any, ...]]]:
    projection = Projection(path)
    try:
        projection.apply(records)
        return tables(projection)
    finally:
        projection.close()


def no_bus_projector(path: Path, projection: Projection) -> Projector:
    """A projector that never reaches NATS: the batches are handed to it."""
    projector = Projector(types.SimpleNamespace(jetstream=lambda: None), path)  # type: ignore[arg-type]
    projector.projection = projection
    return projector


DEEP = b'{"type":"meals.withdrew","meal_id":"m1","x":' + b"[" * 60_000


@pytest.mark.parametrize(
    ("tag", "letter", "why"),
    [
        (
            "meals.signed_up_to_eat",
            b'{"type":"meals.signed_up_to_eat","meal_id":"m1"}',
            "`crew_id`",
        ),
        ("meals.signed_up_to_eat", b"not json", "JSON"),
        ("meals.withdrew", DEEP, "nested too deeply"),
        ("meals.teleported", b"{}", "unknown event type"),
    ],
    ids=["not_todays_shape", "not_json", "too_deep", "unknown_type"],
)
def test_an_event_that_cannot_be_decoded_is_a_dead_letter_and_the_views_go_on(
    tmp_path: Path, tag: str, letter: bytes, why: str
) -> None:
    house = a_house()
    bad = raw(len(house) + 1, tag, letter)
    later = recorded(len(house) + 2, m.SignedUpToEat(meal_id="m1", crew_id="ed"))
    projection = Projection(tmp_path / "views.duckdb")
    try:
        applied = projection.apply([*house, bad, later])
        letters = projection.con.execute("select seq, error from dead_letters").fetchall()
        diners = projection.con.execute("select diners from meal_plan").fetchall()
    finally:
        projection.close()
    assert applied.dead == 1 and projection.checkpoint == later.seq
    [(seq, error)] = letters
    assert seq == bad.seq and why in error, error
    assert diners == [(3,)], "the events after it were folded (cy, di, ed)"


def test_the_projection_keeps_the_seconds_each_part_of_applying_took(tmp_path: Path) -> None:
    """Where a rebuild's time goes (bench.rebuild_probe): each view that folded a batch, in the
    file or in memory, and decoding and committing; a view the batch did not reach, not."""
    projection = Projection(tmp_path / "views.duckdb")
    try:
        projection.apply(a_house()[:3])  # a name, a meal planned, a cook
        first = dict(projection.spent)
        projection.apply(a_house()[3:])  # a helper, diners, the meal closed: no name
    finally:
        projection.close()
    folded = {"event_log", NAMES.name, "meal_plan", "participation"}
    assert folded | {"(decoding)", "(committing)"} <= set(first)
    assert not {"rota", "load_balance", "(counting at the end)"} & set(first), "nothing to do"
    assert all(seconds > 0 for seconds in first.values())
    grew = {part for part in first if projection.spent[part] > first[part]}
    assert {"event_log", "meal_plan", "(decoding)", "(committing)"} <= grew
    assert NAMES.name not in grew


@pytest.mark.parametrize(
    ("occurred", "read_as"),
    [
        ("not a time", None),  # the recorded time stands in, as for no header at all
        ("2030-13-45T10:00:00+00:00", None),
        ("2030-01-07T09:00:00Z", "2030-01-07 09:00:00+00"),
        ("20300107T090000+0100", "2030-01-07 08:00:00+00"),
        ("2030-01-07T09:00:00", "2030-01-07 09:00:00+00"),  # no offset: UTC, as crew writes
    ],
    ids=["not_a_time", "no_such_day", "zulu", "basic_form", "no_offset"],
)
def test_an_occurred_at_header_that_is_not_a_time_is_set_aside_and_the_views_go_on(
    tmp_path: Path, occurred: str, read_as: str | None
) -> None:
    """A header the projector cannot read as a time used to stop it for good (the log never
    changes): now the event folds with its recorded time, as one without the header, the
    event log's `occurred_at` is NULL, and a warning names the event, not the header. One it
    can read in another ISO 8601 form is read as that time."""
    house = a_house()
    odd = recorded(len(house) + 1, m.SignedUpToEat(meal_id="m1", crew_id="ed"))
    odd = msgspec.structs.replace(odd, headers={**odd.headers, subjects.OCCURRED_AT: occurred})
    projection = Projection(tmp_path / "views.duckdb")
    try:
        with structlog.testing.capture_logs() as lines:
            applied = projection.apply([*house, odd])
        logged = projection.con.execute(
            "select strftime(occurred_at at time zone 'UTC', '%Y-%m-%d %H:%M:%S+00') "
            "from event_log where seq = ?",
            [odd.seq],
        ).fetchone()
        updated = projection.con.execute("select updated_at = ? from meal_plan", [AT]).fetchone()
    finally:
        projection.close()
    assert applied.dead == 0 and projection.checkpoint == odd.seq
    assert logged == (read_as,)
    assert updated == ((read_as is None),), "unreadable: the recorded time (AT)"
    warned = [line for line in lines if line["event"] == "occurred_at_unreadable"]
    assert [(w["seq"], w["type"]) for w in warned] == (
        [(odd.seq, "meals.signed_up_to_eat")] if read_as is None else []
    )
    assert occurred not in repr(warned)


def test_a_fold_that_raises_stops_the_file_just_before_its_event_with_nothing_half_applied(
    tmp_path: Path,
) -> None:
    house = a_house()
    bug = Bug(meal_fold, m.MealClosed)
    projection = Projection(tmp_path / "views.duckdb", views=with_bug(MEAL_PLAN, bug))
    try:
        with pytest.raises(FoldFailed) as halted:
            projection.apply(house)
        checkpoint = projection.checkpoint
        logged = projection.con.execute("select max(seq) from event_log").fetchone()
        letters = projection.con.execute("select count(*) from dead_letters").fetchone()
        meal = projection.con.execute("select diners, status from meal_plan").fetchall()
    finally:
        projection.close()
    closed = house[5]
    assert (halted.value.seq, halted.value.type) == (closed.seq, "meals.meal_closed")
    assert checkpoint == closed.seq - 1 and logged == (closed.seq - 1,), "every view stops there"
    assert letters == (0,), "a fold's bug is no dead letter"
    assert meal == [(1, "open")]


async def test_a_fold_that_raises_halts_the_projector_says_why_and_resumes_once_fixed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(projector_module, "RETRY_MAX_S", 0.05)
    house = a_house()
    bug = Bug(meal_fold, m.MealClosed)
    projection = Projection(tmp_path / "views.duckdb", views=with_bug(MEAL_PLAN, bug))
    projector = no_bus_projector(tmp_path / "views.duckdb", projection)
    with structlog.testing.capture_logs() as lines:
        applying = asyncio.create_task(projector._apply_until_done(house))
        await eventually_async(lambda: projector.halted is not None, every=0.01)
        await asyncio.sleep(0.2)  # it keeps trying, and says so once
        status, checkpoint = projector.failing, projection.checkpoint
        bug.fixed = True
        await asyncio.wait_for(applying, 10)
    assert status is not None and status.startswith(
        "halted at seq 6 (meals.meal_closed): KeyError in view meal_plan at "
    ), status
    assert "fold" in status and "retrying" in status
    assert checkpoint == 5, "nothing past the event"
    [halted] = [line for line in lines if line["event"] == "projector_halted"]
    assert halted["log_level"] == "error"
    assert (halted["seq"], halted["type"], halted["view"], halted["error"]) == (
        6,
        "meals.meal_closed",
        "meal_plan",
        "KeyError",
    )
    assert [line["event"] for line in lines].count("projector_resumed") == 1
    assert SECRET not in repr(lines) + status
    assert projector.failing is None and projector.halted is None
    resumed = tables(projection)
    projection.close()
    assert resumed == clean_rebuild(tmp_path / "clean.duckdb", house)


def test_a_batch_rolled_back_leaves_no_meal_row_kept_in_memory(tmp_path: Path) -> None:
    """`meal_plan` keeps the rows its live batches wrote (KeyedFold.cached). A later view's
    bug rolls the batch back: the kept row with the helper in it is forgotten with it, so the
    batch tried again adds the helper once, not twice."""
    house = a_house()
    bug = Bug(PARTICIPATION.fold, m.VolunteeredToCook)
    bug.fixed = True
    projection = Projection(tmp_path / "views.duckdb", views=with_bug(PARTICIPATION, bug))
    try:
        for record in house[:3]:  # live batches, one event each: the meal's row is kept
            projection.apply([record])
        bug.fixed = False
        with pytest.raises(FoldFailed):
            projection.apply([house[3]])  # bo volunteers: meal_plan folds, participation fails
        bug.fixed = True
        for record in house[3:]:
            projection.apply([record])
        helpers = projection.con.execute("select helpers from meal_plan").fetchall()
        resumed = tables(projection)
    finally:
        projection.close()
    assert helpers == [(["bo"],)]
    assert resumed == clean_rebuild(tmp_path / "clean.duckdb", house)


# `meal_plan_rows` as files made before its lists were kept as JSON text had it
MEAL_ROWS_WITH_LISTS = """
create table meal_plan_rows (
    meal_id varchar primary key, date date, time varchar, status varchar, head_cook varchar,
    helpers varchar[], helper_slots integer, open_helper_slots integer, waitlist varchar[],
    diners integer, portions integer, seats integer, eaters varchar[], eater_portions integer[],
    served_diners integer, cancel_reason varchar, planned_at timestamptz,
    updated_at timestamptz, last_seq bigint
)"""


@pytest.mark.parametrize("made_with_lists", [False, True])
def test_a_meals_lists_read_back_as_they_were_written(
    tmp_path: Path, made_with_lists: bool
) -> None:
    """`meal_plan` keeps a meal's lists as JSON text (a file made before keeps them as lists).
    Either way a batch that did not keep the row reads the lists back, and the view gives
    them as lists, in order."""
    day = datetime.date(2030, 1, 8)
    events: list[msgspec.Struct] = [
        m.MealPlanned(meal_id="m1", date=day, time="17:30", helper_slots=2),
        m.VolunteeredToCook(meal_id="m1", crew_id="anna", role="head_cook"),
        m.VolunteeredToCook(meal_id="m1", crew_id="bo", role="helper"),
        m.VolunteeredToCook(meal_id="m1", crew_id="cy", role="helper"),
        m.WaitlistedToHelp(meal_id="m1", crew_id="di"),
        m.WaitlistedToHelp(meal_id="m1", crew_id="eo"),
        m.SignedUpToEat(meal_id="m1", crew_id="fa", portions=2),
        m.SignedUpToEat(meal_id="m1", crew_id="gu"),
        m.Withdrew(meal_id="m1", crew_id="bo", role="helper"),
        m.PromotedFromWaitlist(meal_id="m1", crew_id="di"),
        m.CancelledEating(meal_id="m1", crew_id="fa"),
    ]
    path = tmp_path / "views.duckdb"
    if made_with_lists:
        with duckdb.connect(str(path)) as con:
            con.execute(MEAL_ROWS_WITH_LISTS)
    for seq, event in enumerate(events, start=1):
        projection = Projection(path)  # a new connection keeps no rows: each batch reads its row
        try:
            projection.apply([recorded(seq, event)])
        finally:
            projection.close()
    projection = Projection(path)
    try:
        plan = projection.con.execute(
            "select helpers, waitlist, diners, portions, open_helper_slots from meal_plan"
        ).fetchall()
        eating = projection.con.execute(
            "select eaters::varchar[], eater_portions::integer[] from meal_plan_rows"
        ).fetchall()
        kept_as = projection.con.execute(
            "select data_type from duckdb_columns() "
            "where table_name = 'meal_plan_rows' and column_name = 'waitlist'"
        ).fetchone()
    finally:
        projection.close()
    assert plan == [(["cy", "di"], ["eo"], 1, 1, 0)]
    assert eating == [(["gu"], [1])]
    assert kept_as == ("VARCHAR[]" if made_with_lists else "JSON",)


@dataclasses.dataclass(frozen=True)
class Seen:
    """An in-memory view that keeps a row per event it folds: twice would show."""

    name: str = "seen"
    ddl: str = "create table if not exists personal.seen (seq bigint)"
    where: str = "memory"
    reads: None = None

    def apply(self, con: duckdb.DuckDBPyConnection, facts: Sequence[Fact]) -> None:
        con.executemany("insert into personal.seen values (?)", [[f.seq] for f in facts])


def test_after_a_halt_no_event_is_folded_twice_into_an_in_memory_view(tmp_path: Path) -> None:
    house = a_house()
    bug = Bug(meal_fold, m.MealClosed)
    views = (*with_bug(MEAL_PLAN, bug), Seen())
    projection = Projection(tmp_path / "views.duckdb", views=views)  # type: ignore[arg-type]
    try:
        for _ in range(3):  # tried again while the bug is there
            with pytest.raises(FoldFailed):
                projection.apply(house)
        bug.fixed = True
        projection.apply(house)
        seen = projection.con.execute("select seq from personal.seen order by seq").fetchall()
    finally:
        projection.close()
    assert seen == [(r.seq,) for r in house]


@pytest.mark.parametrize("where", ["memory", "restricted"])
def test_an_in_memory_fold_that_raises_halts_too_and_never_says_the_value(
    tmp_path: Path, where: str
) -> None:
    view = NAMES if where == "memory" else DETAILS
    bug = Bug(view.fold, o.CrewMemberRegistered)
    projection = Projection(
        tmp_path / "views.duckdb", views=(EVENT_LOG, dataclasses.replace(view, fold=bug))
    )
    try:
        with pytest.raises(FoldFailed) as halted:
            projection.apply(a_house())
    finally:
        projection.close()
    assert projection.checkpoint == 0
    assert halted.value.reason.startswith(
        f"halted at seq 1 (onboarding.crew_member_registered): KeyError in view {view.name} at "
    )
    assert SECRET not in halted.value.reason


async def test_a_refill_that_halts_at_the_start_is_tried_again_and_then_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The in-memory views are refilled from the log when the projector starts: a fold that
    raises there halts it as well, and it resumes from the event that failed."""
    monkeypatch.setattr(projector_module, "RETRY_MAX_S", 0.05)
    house = a_house()
    path = tmp_path / "views.duckdb"
    clean_rebuild(path, house)  # the file has every event; the names are in memory only

    async def the_log(nc: object, wanted: str) -> list[Recorded]:
        return [r for r in house if r.type.startswith("onboarding.")]

    monkeypatch.setattr(projector_module, "read_matching", the_log)
    bug = Bug(fold_name, o.CrewMemberRegistered)
    views = tuple(dataclasses.replace(NAMES, fold=bug) if v is NAMES else v for v in VIEWS)
    projection = Projection(path, views=views)
    projector = no_bus_projector(path, projection)
    with structlog.testing.capture_logs() as lines:
        await projector._restore_or_halt(projection)
        status = projector.failing
        retrying = asyncio.create_task(projector._apply_until_done([]))
        await asyncio.sleep(0.2)
        bug.fixed = True
        await asyncio.wait_for(retrying, 10)
    names = projection.con.execute("select person_id, display_name from personal.people")
    found = names.fetchall()
    projection.close()
    assert status is not None and "seq 1 (onboarding.crew_member_registered)" in status
    assert [line["event"] for line in lines].count("projector_halted") == 1
    assert found == [("anna", SECRET)]
