"""The coordinator views on known events, folded by the real projection into a real DuckDB file,
and the read-only guard of the query service on that file. Every expected number is worked out
by hand in the test."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import pytest
from nats.aio.client import Client as NATS

from crew import subjects
from crew.eventstore import JetStreamEventStore, Recorded
from crew.shell import CommandShell
from projections import query
from projections.projection import Projection
from projections.projector import Projector, RebuildProgress, rebuild_path, stream_last_seq
from projections.query import SqlError, SqlRequest, SqlResult, run_query
from schemas import meals as m
from schemas import onboarding as o
from schemas import rota as r
from schemas.common import house_today
from services.meals.decider import MEALS
from tests.integration.workload import meals_workload
from tests.polling import eventually_async

UTC = datetime.UTC
TODAY = house_today()


def days_ago(n: int) -> datetime.date:
    return TODAY - datetime.timedelta(days=n)


def utc(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


class House:
    """Events appended in order to a projection, each at the moment given."""

    AGGREGATES: tuple[str, ...] = ("meal_id", "occurrence_id", "person_id", "series_id")
    OTHERWISE = ""  # the aggregate of an event that names none of those

    def __init__(self, path: Path) -> None:
        self.projection = Projection(path)
        self.seq = 0

    def add(self, event: Any, at: datetime.datetime | None = None) -> None:
        at = at or datetime.datetime.now(UTC)
        self.seq += 1
        tag = str(type(event).__struct_config__.tag)
        aggregate = next(
            (getattr(event, name) for name in self.AGGREGATES if hasattr(event, name)),
            self.OTHERWISE,
        )
        record = Recorded(
            seq=self.seq,
            subject=subjects.event_subject(tag, aggregate),
            data=msgspec.json.encode(event),
            headers={subjects.EVENT_TYPE: tag, subjects.OCCURRED_AT: at.isoformat()},
            recorded_at=at,
        )
        applied = self.projection.apply([record])
        assert applied.dead == 0, self.projection.con.sql("from dead_letters").fetchall()

    def meal(self, meal_id: str, day: datetime.date, *cooks: tuple[str, str]) -> None:
        self.add(m.MealPlanned(meal_id=meal_id, date=day, time="17:30", helper_slots=3))
        for crew_id, role in cooks:
            self.add(m.VolunteeredToCook(meal_id=meal_id, crew_id=crew_id, role=role))  # type: ignore[arg-type]

    def occurrence(self, occurrence_id: str, kind: str, day: datetime.date) -> None:
        self.add(
            r.OccurrenceScheduled(
                series_id="s",
                occurrence_id=occurrence_id,
                kind=kind,  # type: ignore[arg-type]
                title=kind,
                date=day,
                start="10:00",
                end="12:00",
            )
        )

    def crew(self, crew_id: str, since: datetime.datetime) -> None:
        self.add(
            o.CrewMemberRegistered(person_id=crew_id, display_name=crew_id, registered_at=since)
        )

    def rows(self, sql: str) -> list[dict[str, Any]]:
        cursor = self.projection.con.execute(sql)
        names = [d[0] for d in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture
def house(tmp_path: Path) -> Iterator[House]:
    built = House(tmp_path / "views.duckdb")
    yield built
    built.projection.close()


def test_load_balance_counts_crew_who_did_nothing_as_zeros_per_week_and_month(
    house: House,
) -> None:
    for person in ("a", "b", "c", "d", "f"):
        house.crew(person, utc("2018-12-01T12:00:00"))
    house.crew("e", utc("2019-02-15T12:00:00"))  # crew only after January: not counted in it
    house.meal("m1", datetime.date(2019, 1, 7), ("a", "head_cook"), ("b", "helper"))
    house.meal("m2", datetime.date(2019, 1, 8), ("a", "helper"))
    house.meal("m3", datetime.date(2019, 1, 9), ("a", "head_cook"))
    house.meal("m4", datetime.date(2019, 1, 21), ("b", "head_cook"))
    # f is forgotten on 15 January: crew in the first week and the month, not in the week of m4
    house.add(o.PersonForgotten(person_id="f", forgotten_at=utc("2019-01-15T12:00:00")))
    got = house.rows(
        "select period, period_start::varchar as start, contributions, contributors, crew, "
        "top_10pct_share, gini from load_balance order by period, period_start"
    )
    # week of 7 Jan: loads 3 1 0 0 0, ascending 0 0 0 1 3, sum(i * n) = 4*1 + 5*3 = 19,
    #   gini = 2*19 / (5*4) - 6/5 = 0.7; the busiest 10 % (1 of 5) made 3 of 4
    # week of 21 Jan: loads 1 0 0 0: sum(i * n) = 4, gini = 2*4 / (4*1) - 5/4 = 0.75
    # January: loads 3 2 0 0 0: sum(i * n) = 4*2 + 5*3 = 23, gini = 46/25 - 6/5 = 0.64
    assert got == [
        {"period": "month", "start": "2019-01-01", "contributions": 5, "contributors": 2,
         "crew": 5, "top_10pct_share": 0.6, "gini": 0.64},
        {"period": "week", "start": "2019-01-07", "contributions": 4, "contributors": 2,
         "crew": 5, "top_10pct_share": 0.75, "gini": 0.7},
        {"period": "week", "start": "2019-01-21", "contributions": 1, "contributors": 1,
         "crew": 4, "top_10pct_share": 1.0, "gini": 0.75},
    ]  # fmt: skip


def test_rising_load_compares_with_the_three_calendar_periods_before(house: House) -> None:
    for person in ("a", "b"):
        house.crew(person, utc("2018-12-01T12:00:00"))

    def week_of_four(monday: datetime.date) -> None:
        for n in range(4):
            day = monday + datetime.timedelta(days=n)
            house.meal(f"m{day}", day, ("a", "helper"))

    for monday in (
        datetime.date(2019, 1, 7),
        datetime.date(2019, 1, 14),
        datetime.date(2019, 1, 21),
    ):
        week_of_four(monday)
    week_of_four(datetime.date(2019, 3, 11))  # after 6 weeks in which nobody did anything
    got = house.rows("select period, period_start::varchar as start, rising_load from load_balance")
    # 11 March: the 3 weeks before it did nothing (0 0 0): 4 is double and 3 more. Compared
    # with the listed weeks before it (4 4 4) it would not be. March: January 12, February 0,
    # December 0 is 4 a month, and 4 is not double. The first week is compared with nothing.
    rising = {(row["period"], row["start"]): row["rising_load"] for row in got}
    assert rising == {
        ("week", "2019-01-07"): None, ("week", "2019-01-14"): None,
        ("week", "2019-01-21"): None, ("week", "2019-03-11"): ["a"],
        ("month", "2019-01-01"): None, ("month", "2019-03-01"): None,
    }  # fmt: skip


def test_crew_contributions_counts_each_kind_in_all_time_and_in_the_window(
    house: House,
) -> None:
    for person in ("anna", "bo", "carla"):
        house.crew(person, utc("2020-01-01T12:00:00"))
    house.meal("old", days_ago(400), ("anna", "head_cook"))  # outside the 6-month window
    house.meal("recent", days_ago(10), ("anna", "head_cook"))
    house.meal("helped", days_ago(20), ("anna", "helper"))
    house.meal("ahead", TODAY + datetime.timedelta(days=3), ("carla", "helper"))  # not yet
    house.occurrence("meal-day", "meal", days_ago(10))  # the rota's day of the meal "recent":
    house.add(  # its check-in is not a second contribution
        r.CheckedIn(series_id="s", occurrence_id="meal-day", crew_id="anna", at=utc("2020-01-01"))
    )
    house.occurrence("party", "cleaning_party", days_ago(30))
    house.add(r.JoinedCleaningParty(series_id="s", occurrence_id="party", crew_id="anna"))
    house.occurrence("covered", "cleaning_party", days_ago(12))
    house.add(r.JoinedCleaningParty(series_id="s", occurrence_id="covered", crew_id="bo"))
    house.add(
        r.HandOverTaken(series_id="s", occurrence_id="covered", crew_id="anna", from_crew_id="bo")
    )
    house.occurrence("shift", "shift", days_ago(5))
    house.add(r.SignedUpForShift(series_id="s", occurrence_id="shift", crew_id="anna"))
    house.occurrence("withdrawn", "shift", days_ago(3))
    house.add(r.SignedUpForShift(series_id="s", occurrence_id="withdrawn", crew_id="anna"))
    house.add(r.WithdrewFromShift(series_id="s", occurrence_id="withdrawn", crew_id="anna"))
    for newcomer, ago in (("n1", 15), ("n2", 300)):
        held = datetime.datetime.now(UTC) - datetime.timedelta(days=ago)
        house.add(o.ConversationHeld(person_id=newcomer, host_crew_id="anna", held_at=held))
    house.add(  # a newcomer forgotten before being welcomed was never crew
        o.NewcomerArrived(person_id="n3", display_name="n3", arrived_at=utc("2020-01-01T12:00"))
    )
    house.add(o.PersonForgotten(person_id="n3", forgotten_at=utc("2020-01-02T12:00")))
    house.add(
        o.BuddyAssigned(person_id="n1", buddy_crew_id="anna"),
        datetime.datetime.now(UTC) - datetime.timedelta(days=15),
    )
    got = {row.pop("crew_id"): row for row in house.rows("select * from crew_contributions")}
    anna = got["anna"]
    assert {k: v for k, v in anna.items() if k.endswith("_in_window") or k in (
        "meals_cooked", "meals_helped", "cleaning_parties", "shifts", "covered_for_others",
        "conversations_hosted", "buddy_for", "contributions", "window_months", "days_since_last",
    )} == {
        "meals_cooked": 2, "meals_helped": 1, "cleaning_parties": 2, "shifts": 1,
        "covered_for_others": 1, "conversations_hosted": 2, "buddy_for": 1,
        "contributions": 9, "window_months": 6, "contributions_in_window": 7,
        "meals_cooked_in_window": 1, "meals_helped_in_window": 1,
        "cleaning_parties_in_window": 2, "shifts_in_window": 1,
        "covered_for_others_in_window": 1, "conversations_hosted_in_window": 1,
        "buddy_for_in_window": 1, "days_since_last": 5, "activities_in_window": 0,
        "initiatives_in_window": 0, "recorded_contributions_in_window": 0,
    }  # fmt: skip
    first = datetime.datetime.combine(days_ago(400), datetime.time(17, 30))
    last = datetime.datetime.combine(days_ago(5), datetime.time(10, 0))
    assert (anna["first_contribution_at"], anna["last_contribution_at"]) == (first, last)
    bo = got["bo"]  # handed their place over: crew, and nothing counted against them
    assert (bo["contributions"], bo["first_contribution_at"], bo["days_since_last"]) == (
        0,
        None,
        None,
    )
    carla = got["carla"]  # signed up for a meal in 3 days: it has not happened yet
    assert (carla["contributions"], carla["first_contribution_at"]) == (0, None)
    assert set(got) == {"anna", "bo", "carla"}


def test_contributions_still_to_come_count_nowhere_yet(house: House) -> None:
    for person in ("anna", "bo"):
        house.crew(person, utc("2020-01-01T12:00:00"))
    house.add(
        o.NewcomerArrived(person_id="new", display_name="new", arrived_at=utc("2020-01-02T12:00"))
    )
    house.add(o.NewcomerOnboarded(person_id="new", onboarded_at=utc("2020-01-03T12:00")))
    for n in range(3):  # three meals ahead: not yet a regular, nor a first contribution
        house.meal(f"ahead{n}", TODAY + datetime.timedelta(days=7 * n + 3), ("new", "helper"))
    house.meal("past", days_ago(400), ("anna", "helper"))
    funnel = house.rows("select first_contribution_at, regular from onboarding_funnel")
    assert funnel == [{"first_contribution_at": None, "regular": False}]
    assert house.rows("select count(*) as n from contributions") == [{"n": 1}]
    past = days_ago(400)
    monday, first = past - datetime.timedelta(days=past.weekday()), past.replace(day=1)
    listed = house.rows("select period, period_start, contributions from load_balance")
    assert listed == [  # no week or month of the meals ahead
        {"period": "month", "period_start": first, "contributions": 1},
        {"period": "week", "period_start": monday, "contributions": 1},
    ]


def test_the_onboarding_funnel_measures_each_step_and_keeps_its_outcome_after_a_forget(
    house: House,
) -> None:
    house.add(o.NewcomerArrived(person_id="n1", display_name="N", arrived_at=utc("2019-01-01T10:00:00")))  # fmt: skip
    house.add(o.ConversationHeld(person_id="n1", host_crew_id="anna", held_at=utc("2019-01-03T10:00:00")))  # fmt: skip
    # 23:30 UTC on 4 January is 00:30 on the 5th in the house
    house.add(o.NewcomerOnboarded(person_id="n1", onboarded_at=utc("2019-01-04T23:30:00")))
    # one meal, then a long pause, then three within 60 days: regular on the third of those
    for n, day in enumerate(("2019-01-10", "2019-03-20", "2019-04-01", "2019-04-10")):
        house.meal(f"n1-{n}", datetime.date.fromisoformat(day), ("n1", "helper"))
    house.add(o.NewcomerArrived(person_id="n2", display_name="M", arrived_at=utc("2019-01-02T10:00:00")))  # fmt: skip
    house.add(o.KindlyRedirected(person_id="n2", to="garden", redirected_at=utc("2019-01-02T22:00:00")))  # fmt: skip
    house.add(o.NewcomerArrived(person_id="n3", display_name="K", arrived_at=utc("2019-01-05T10:00:00")))  # fmt: skip
    query = (
        "select newcomer_id, outcome, forgotten, first_contribution_at, regular, regular_at, "
        "days_to_conversation, days_to_outcome, days_to_first_contribution, "
        "days_conversation_to_outcome, days_outcome_to_first_contribution, "
        "days_first_contribution_to_regular from onboarding_funnel order by newcomer_id"
    )
    before = house.rows(query)
    assert before == [
        {"newcomer_id": "n1", "outcome": "onboarded", "forgotten": False,
         "first_contribution_at": datetime.datetime(2019, 1, 10, 17, 30), "regular": True,
         "regular_at": datetime.datetime(2019, 4, 10, 17, 30),
         "days_to_conversation": 2.0,  # 48 h
         "days_to_outcome": 3.6,  # 3 days 13.5 h
         "days_to_first_contribution": 9,  # 1 to 10 January
         "days_conversation_to_outcome": 1.6,  # 1 day 13.5 h
         "days_outcome_to_first_contribution": 5,  # 5 January (house time) to the 10th
         "days_first_contribution_to_regular": 90},  # 10 January to 10 April
        {"newcomer_id": "n2", "outcome": "redirected", "forgotten": False,
         "first_contribution_at": None, "regular": False, "regular_at": None,
         "days_to_conversation": None, "days_to_outcome": 0.5, "days_to_first_contribution": None,
         "days_conversation_to_outcome": None, "days_outcome_to_first_contribution": None,
         "days_first_contribution_to_regular": None},
        {"newcomer_id": "n3", "outcome": None, "forgotten": False,
         "first_contribution_at": None, "regular": False, "regular_at": None,
         "days_to_conversation": None, "days_to_outcome": None, "days_to_first_contribution": None,
         "days_conversation_to_outcome": None, "days_outcome_to_first_contribution": None,
         "days_first_contribution_to_regular": None},
    ]  # fmt: skip
    counts = "select outcome, count(*) as n from onboarding_funnel group by all order by all"
    counted = house.rows(counts)
    for person in ("n1", "n2"):
        house.add(o.PersonForgotten(person_id=person, forgotten_at=utc("2019-05-01T10:00:00")))
    after = house.rows(query)
    assert [row["forgotten"] for row in after] == [True, True, False]
    assert [{**row, "forgotten": False} for row in after] == before, "only `forgotten` changed"
    assert house.rows(counts) == counted
    stages = house.rows("select stage from onboarding_funnel order by newcomer_id")
    assert [row["stage"] for row in stages] == ["forgotten", "forgotten", "newcomer"]


def test_nearly_no_cook_reads_the_meal_time_in_the_house_time_zone(house: House) -> None:
    # 17:30 in Copenhagen on 10 January is 16:30 UTC; in July (summer time) it is 15:30 UTC
    house.meal("late-cook", datetime.date(2030, 1, 10))
    house.add(
        m.VolunteeredToCook(meal_id="late-cook", crew_id="anna", role="head_cook"),
        utc("2030-01-09T17:00:00"),  # 23.5 hours before the meal
    )
    house.meal("early-cook", datetime.date(2030, 1, 10))
    house.add(
        m.VolunteeredToCook(meal_id="early-cook", crew_id="bo", role="head_cook"),
        utc("2030-01-09T16:00:00"),  # 24.5 hours before
    )
    house.meal("summer-late", datetime.date(2030, 7, 10))
    house.add(
        m.VolunteeredToCook(meal_id="summer-late", crew_id="anna", role="head_cook"),
        utc("2030-07-09T16:00:00"),  # 23.5 hours before
    )
    house.meal("no-cook", datetime.date(2030, 1, 11), ("bo", "helper"), ("carla", "helper"))
    # carla, a helper since long before, withdraws and becomes head cook 2 hours before the
    # meal; dan, head cook since long before, withdraws and signs up again 3 hours before
    house.meal("helper-turned-cook", datetime.date(2030, 1, 10))
    house.meal("back-again", datetime.date(2030, 1, 10))
    for event, at in (
        (m.VolunteeredToCook(meal_id="helper-turned-cook", crew_id="carla", role="helper"),
         "2030-01-01T12:00:00"),
        (m.Withdrew(meal_id="helper-turned-cook", crew_id="carla", role="helper"),
         "2030-01-10T14:00:00"),
        (m.VolunteeredToCook(meal_id="helper-turned-cook", crew_id="carla", role="head_cook"),
         "2030-01-10T14:30:00"),
        (m.VolunteeredToCook(meal_id="back-again", crew_id="dan", role="head_cook"),
         "2030-01-01T12:00:00"),
        (m.Withdrew(meal_id="back-again", crew_id="dan", role="head_cook"),
         "2030-01-10T13:00:00"),
        (m.VolunteeredToCook(meal_id="back-again", crew_id="dan", role="head_cook"),
         "2030-01-10T13:30:00"),
    ):  # fmt: skip
        house.add(event, utc(at))
    got = house.rows(
        "select meal_id, cooks, head_cook_since, nearly_no_cook from meal_stats order by meal_id"
    )
    assert got == [
        {"meal_id": "back-again", "cooks": 1, "head_cook_since": utc("2030-01-10T13:30:00"),
         "nearly_no_cook": True},
        {"meal_id": "early-cook", "cooks": 1, "head_cook_since": utc("2030-01-09T16:00:00"),
         "nearly_no_cook": False},
        {"meal_id": "helper-turned-cook", "cooks": 1,
         "head_cook_since": utc("2030-01-10T14:30:00"), "nearly_no_cook": True},
        {"meal_id": "late-cook", "cooks": 1, "head_cook_since": utc("2030-01-09T17:00:00"),
         "nearly_no_cook": True},
        {"meal_id": "no-cook", "cooks": 2, "head_cook_since": None, "nearly_no_cook": True},
        {"meal_id": "summer-late", "cooks": 1, "head_cook_since": utc("2030-07-09T16:00:00"),
         "nearly_no_cook": True},
    ]  # fmt: skip


def test_rota_as_of_answers_with_the_date_times_and_cancellation_as_they_stood(
    house: House,
) -> None:
    house.add(
        r.OccurrenceScheduled(series_id="s", occurrence_id="s-20300110", kind="cleaning_party",
                              title="Cleaning party", date=datetime.date(2030, 1, 10),
                              start="10:00", end="12:00"),
        utc("2030-01-01T09:00:00"),
    )  # fmt: skip
    house.add(
        r.JoinedCleaningParty(series_id="s", occurrence_id="s-20300110", crew_id="anna"),
        utc("2030-01-02T09:00:00"),
    )
    moment = "2030-01-03T09:00:00+00:00"  # everything below happens after it
    house.add(
        r.OccurrenceMoved(series_id="s", occurrence_id="s-20300110", kind="cleaning_party",
                          date=datetime.date(2030, 1, 12), start="14:00", end="16:00",
                          reason="the floor is being sanded"),
        utc("2030-01-04T09:00:00"),
    )  # fmt: skip
    house.add(
        r.JoinedCleaningParty(series_id="s", occurrence_id="s-20300110", crew_id="bo"),
        utc("2030-01-04T10:00:00"),
    )
    house.add(
        r.OccurrenceCancelled(
            series_id="s",
            occurrence_id="s-20300110",
            kind="cleaning_party",
            by_series_change=False,
        ),
        utc("2030-01-05T09:00:00"),
    )
    sql = (
        "select occurrence_id, date::varchar as date, start_time, end_time, cancelled, people "
        "from rota_as_of"
    )

    def as_of(when: str) -> list[dict[str, Any]]:
        reply = run_query(lambda: house.projection.con, SqlRequest(sql=sql, as_of=when), 10)
        assert isinstance(reply, SqlResult), reply
        return [dict(zip(reply.columns, row, strict=True)) for row in reply.rows]

    then = {"occurrence_id": "s-20300110", "date": "2030-01-10", "start_time": "10:00",
            "end_time": "12:00", "cancelled": False, "people": ["anna"]}  # fmt: skip
    assert as_of(moment) == [then]
    assert as_of("2030-01-04T09:30:00+00:00") == [
        {**then, "date": "2030-01-12", "start_time": "14:00", "end_time": "16:00"}
    ]
    assert as_of("2030-01-06T09:00:00+00:00") == [
        {**then, "date": "2030-01-12", "start_time": "14:00", "end_time": "16:00",
         "cancelled": True, "people": ["anna", "bo"]}
    ]  # fmt: skip
    assert as_of("2030-01-01T12:00:00+00:00") == [], "nobody was in yet"


async def plan_meal(nc: NATS, meal_id: str) -> None:
    shell = CommandShell(MEALS, JetStreamEventStore(nc))
    body = {"meal_id": meal_id, "date": "2030-01-07", "helper_slots": 2}
    headers = {subjects.COMMAND_ID: f"plan-{meal_id}"}
    reply = await shell.handle("crew.cmd.meals.plan_meal", headers, msgspec.json.encode(body))
    assert msgspec.json.decode(reply)["status"] == "accepted"


@dataclasses.dataclass(frozen=True)
class ChokesOnNames:
    """A view that fails the way DuckDB does: its error message quotes the value."""

    name: str = "chokes"
    ddl: str = ""
    where: str = "file"
    reads: None = None

    def apply(self, con: Any, facts: Any) -> None:
        for fact in facts:
            con.execute("select cast(? as integer)", [fact.event.display_name])


def test_a_fold_that_chokes_halts_naming_the_error_and_where_never_a_value(
    tmp_path: Path,
) -> None:
    from projections.event_log import EVENT_LOG
    from projections.projection import FoldFailed

    projection = Projection(tmp_path / "views.duckdb", views=(EVENT_LOG, ChokesOnNames()))
    try:
        event = o.NewcomerArrived(
            person_id="n1", display_name="Alice Secret", arrived_at=utc("2019-01-01T10:00:00")
        )
        record = Recorded(
            seq=1,
            subject=subjects.event_subject("onboarding.newcomer_arrived", "n1"),
            data=msgspec.json.encode(event),
            headers={subjects.EVENT_TYPE: "onboarding.newcomer_arrived"},
            recorded_at=utc("2019-01-01T10:00:00"),
        )
        with pytest.raises(FoldFailed) as halted:
            projection.apply([record])
        letters = projection.con.execute("select count(*) from dead_letters").fetchone()
    finally:
        projection.close()
    error = halted.value.reason
    assert letters == (0,) and projection.checkpoint == 0, "a fold's bug is no dead letter"
    assert error.startswith("halted at seq 1 (onboarding.newcomer_arrived): ConversionException")
    assert "test_views.py:" in error and "apply" in error and "projection.py:" in error, error
    assert "Alice" not in error and "Secret" not in error
    assert b"Alice" not in (tmp_path / "views.duckdb").read_bytes()


def test_the_restricted_instance_is_capped_and_never_spills_to_disk(tmp_path: Path) -> None:
    projection = Projection(tmp_path / "views.duckdb")
    try:
        settings = (
            "select current_setting('memory_limit'), current_setting('temp_directory'), "
            "current_setting('max_temp_directory_size')"
        )
        [(limit, temp, temp_size)] = projection.restricted.execute(settings).fetchall()
        [(main_limit, _, main_temp_size)] = projection.con.execute(settings).fetchall()
    finally:
        projection.close()
    assert (limit, temp, temp_size) == (main_limit, "", "0 bytes")
    assert main_temp_size == "953.6 MiB", "the file's instance spills at most 1 GB"


def ask(house: House, sql: str) -> SqlResult | SqlError:
    return run_query(lambda: house.projection.con, SqlRequest(sql=sql), 10)


def test_a_read_only_transaction_refuses_writes_that_slip_past_the_statement_check(
    house: House, monkeypatch: pytest.MonkeyPatch
) -> None:
    house.projection.lock_down()
    monkeypatch.setattr(query, "refuse", lambda cursor, statement: None)
    for sql in (
        "explain analyze update projector_checkpoint set seq = 99",
        "explain analyze create table x as select 1",
        "insert into dead_letters (seq) values (1)",
    ):
        reply = ask(house, sql)
        assert isinstance(reply, SqlError), sql
        assert "read-only" in reply.message and "read-only mode" in reply.message, reply.message
    assert house.rows("select seq from projector_checkpoint") == [{"seq": 0}]
    assert house.rows("select count(*) as n from duckdb_tables() where table_name = 'x'") == [
        {"n": 0}
    ]
    house.crew("anna", utc("2030-01-01T00:00:00"))  # the projector itself still writes
    assert house.rows("select seq from projector_checkpoint") == [{"seq": 1}]


def test_explain_is_answered_only_for_a_select(house: House) -> None:
    house.projection.lock_down()
    for sql, expected in (
        ("explain analyze update projector_checkpoint set seq = 9", "got EXPLAIN of UPDATE"),
        ("-- c\nexplain (analyze, format json) drop table event_log", "got EXPLAIN of DROP"),
        ("explain analyze insert into dead_letters (seq) values (1)", "got EXPLAIN of INSERT"),
        ("explain analyze checkpoint", "got EXPLAIN of CALL"),
    ):
        reply = ask(house, sql)
        assert isinstance(reply, SqlError) and expected in reply.message, (sql, reply)
    for sql in ("explain select 1", "explain analyze select count(*) from event_log"):
        assert isinstance(ask(house, sql), SqlResult), sql


def test_a_checkpoint_is_refused_however_the_text_hides_it(house: House) -> None:
    house.projection.lock_down()
    house.crew("anna", utc("2019-01-01T00:00:00"))  # something in the WAL to checkpoint
    wal = house.projection.path.with_name(house.projection.path.name + ".wal")
    before = wal.stat().st_size
    for sql in (
        "select * from checkpoint()",
        "select * from checkpoint /**/ ()",
        'select * from "checkpoint"\n()',
        "explain analyze select * from checkpoint/**/()",
        "select * from force_checkpoint /* x */ ()",
        "select * from (select 1), checkpoint('personal')",
        "with c as (select * from force_checkpoint()) select * from c",
    ):
        reply = ask(house, sql)
        assert isinstance(reply, SqlError), sql
        assert "a checkpoint writes the file and is not answered" in reply.message, (sql, reply)
    for sql in (  # SQL made from text at run time is not what was checked
        "select * from query('select * from check'||'point()')",
        "select * from query /**/ ('select 1')",
        "select * from \"QUERY_TABLE\"('event_log')",
    ):
        reply = ask(house, sql)
        assert isinstance(reply, SqlError) and "runs SQL made from text" in reply.message, sql
    assert wal.stat().st_size == before, "no checkpoint ran"
    words = ask(house, "select 'checkpoint()' as checkpoint, 'query(' as query")
    assert isinstance(words, SqlResult), "the words alone are fine"
    reply = ask(house, "select nonsense()")  # an error points into the query as sent
    assert isinstance(reply, SqlError) and "LINE 1: select nonsense()" in reply.message, reply


def test_only_table_functions_on_the_list_are_answered(house: House) -> None:
    house.projection.lock_down()
    house.crew("anna", utc("2019-01-01T00:00:00"))  # something in the WAL
    home = house.projection.path.parent
    wal = house.projection.path.with_name(house.projection.path.name + ".wal")
    before = wal.stat().st_size
    for sql, function in (  # DuckDB lets a locked instance read its own files
        (f"select size from read_blob('{home}/views.duckdb')", "read_blob"),
        (f"select size from main.\"READ_BLOB\" /* x */ ('{wal}')", "read_blob"),
        (f"select * from read_text('{wal}')", "read_text"),
        (f"select count(*) from read_csv('{home}/views.duckdb')", "read_csv"),
        ("select * from duckdb_settings()", "duckdb_settings"),
        ("select * from duckdb_databases()", "duckdb_databases"),
        ("select * from enable_profiling()", "enable_profiling"),
        (f"select * from read_blob('{wal}') as materialized", "read_blob"),  # an alias
        (f"with summary(n) as (select 1) select * from read_text('{wal}')", "read_text"),
    ):
        reply = ask(house, sql)
        assert isinstance(reply, SqlError), sql
        assert f"the table function {function}() is not answered" in reply.message, (sql, reply)
    for sql in (  # it would run the serialized query outside the read-only transaction
        "select * from json_execute_serialized_sql(json_serialize_sql('select 42'))",
        "select * from json_execute_serialized_sql("
        "json_serialize_sql('select * from check' || 'point()'))",
        "select json_serialize_plan('select 1')",
    ):
        reply = ask(house, sql)
        assert isinstance(reply, SqlError) and "runs SQL made from text" in reply.message, sql
    assert wal.stat().st_size == before, "no checkpoint ran"
    for sql, rows in (  # what the views and docs/sql.md use, and the catalog
        ("select * from range(2)", [[0], [1]]),
        ("select * from generate_series(1, 2)", [[1], [2]]),
        ("select unnest([1, 2])", [[1], [2]]),
        ("select * from unnest([1, 2])", [[1], [2]]),
        ("""select key from json_each('{"a": 1}')""", [["a"]]),
        ("select count(*) > 0 from duckdb_views() where view_name = 'meal_plan'", [[True]]),
        ("select name from pragma_table_info('dead_letters') limit 1", [["seq"]]),
        ("select histogram(seq) from event_log", [[{1: 1}]]),  # the aggregate, not the macro
        ("select repeat('ab', 2)", [["abab"]]),
        ("select count(*) from crew_contributions", [[1]]),
        ("with summary(n) as (select 1) select n from summary", [[1]]),  # a CTE, not a call
        ("with functions(a) as materialized (select 2) select a from functions", [[2]]),
    ):
        reply = ask(house, sql)
        assert isinstance(reply, SqlResult) and reply.rows == rows, (sql, reply)
    names = house.rows(
        "select database_name || '.' || view_name as name from duckdb_views() where not internal"
    )
    assert len(names) > 10
    for name in names:  # each view's own plan, unnest and all, passes the check
        assert isinstance(ask(house, f"select * from {name['name']}"), SqlResult), name


def test_a_file_function_let_through_the_list_still_finds_no_file_access(
    house: House, monkeypatch: pytest.MonkeyPatch
) -> None:
    house.projection.lock_down()
    monkeypatch.setattr(
        query, "ALLOWED_TABLE_FUNCTIONS", query.ALLOWED_TABLE_FUNCTIONS | {"read_csv"}
    )
    monkeypatch.setattr(query, "_table_functions", frozenset())
    reply = ask(house, "select * from read_csv('/etc/passwd')")
    assert isinstance(reply, SqlError) and "no file access" in reply.message, reply


def test_sql_text_longer_than_the_cap_is_refused_naming_the_cap(house: House) -> None:
    house.projection.lock_down()
    padding = " " * (query.MAX_SQL_BYTES - len("select 1"))
    assert isinstance(ask(house, "select 1" + padding), SqlResult), "the cap itself is fine"
    reply = ask(house, "select 1 " + padding)
    assert isinstance(reply, SqlError), "one byte more"
    assert "at most 65,536 bytes (64 KiB) of SQL are answered" in reply.message, reply


def test_the_time_limit_covers_parsing_and_the_checks(
    house: House, monkeypatch: pytest.MonkeyPatch
) -> None:
    house.projection.lock_down()
    checks = query.refuse
    watchdogs: list[query.Watchdog] = []

    class Watched(query.Watchdog):
        def __init__(self, cursor: duckdb.DuckDBPyConnection, timeout_s: float) -> None:
            super().__init__(cursor, timeout_s)
            watchdogs.append(self)

    def slow_checks(cursor: duckdb.DuckDBPyConnection, statement: duckdb.Statement) -> str | None:
        # as a pathological text would: the checks are still going when the time is up
        while time.monotonic() < watchdogs[-1].deadline:
            time.sleep(0.01)
        return checks(cursor, statement)

    monkeypatch.setattr(query, "Watchdog", Watched)
    monkeypatch.setattr(query, "refuse", slow_checks)
    started = time.monotonic()
    reply = run_query(lambda: house.projection.con, SqlRequest(sql="select 1"), 0.3)
    assert isinstance(reply, SqlError) and "longer than 0.3 s" in reply.message, reply
    assert time.monotonic() - started < 2


def test_an_answer_too_big_for_one_message_is_cut_with_a_note_or_refused(house: House) -> None:
    house.projection.lock_down()
    # 10,000 rows of 1,000 characters: 10 MB as JSON, more than NATS carries (8 MB)
    reply = ask(house, "select i, repeat('x', 1000) as x from range(10000) t(i)")
    assert isinstance(reply, SqlResult) and reply.truncated, reply
    assert reply.note and "about 6 MB" in reply.note, reply.note
    assert 0 < len(reply.rows) < 10_000 and reply.rows[-1][0] == len(reply.rows) - 1
    assert len(query.encode_reply(reply)) <= query.MAX_REPLY_BYTES
    one = ask(house, "select repeat('x', 7000000) as x")  # one row bigger than an answer
    assert isinstance(one, SqlError) and "a single row is 7,000,005 bytes" in one.message, one
    capped = run_query(
        lambda: house.projection.con, SqlRequest(sql="from range(5)", max_rows=2), 10
    )
    assert (
        isinstance(capped, SqlResult)
        and capped.truncated
        and "cut at 2 rows" in (capped.note or "")
    )
    exact = run_query(lambda: house.projection.con, SqlRequest(sql="from range(2)", max_rows=2), 10)
    assert isinstance(exact, SqlResult) and not exact.truncated and exact.note is None


def test_every_answer_carries_the_checkpoint_it_was_read_at(house: House) -> None:
    house.crew("anna", utc("2019-01-01T00:00:00"))
    empty = ask(house, "select * from meal_plan")  # no rows: the checkpoint all the same
    assert isinstance(empty, SqlResult) and empty.rows == [] and empty.checkpoint == 1
    restricted = run_query(lambda: house.projection.restricted, SqlRequest(sql="select 1"), 10)
    assert isinstance(restricted, SqlResult) and restricted.checkpoint is None


def test_only_a_query_whose_file_was_closed_under_it_is_left_to_ask_again(tmp_path: Path) -> None:
    """The query service asks the new file again when a swap closed the old one under a query
    (run_query raises), never when the query failed for its own reasons (an SqlError)."""
    projection = Projection(tmp_path / "views.duckdb")
    runaway = SqlRequest(sql="select count(*) from range(100000000000) t(a), range(10) u(b)")
    slow = run_query(lambda: projection.con, runaway, 0.5)
    assert isinstance(slow, SqlError) and "longer than 0.5 s" in slow.message
    projection.close()  # as a swap does
    with pytest.raises(duckdb.ConnectionException):
        run_query(lambda: projection.con, SqlRequest(sql="select 1"), 10)


def test_a_query_waits_for_a_swap_instead_of_failing() -> None:
    from projections.app import serving

    holder: dict[str, str | None] = {"projection": None}  # as while a rebuilt file is swapped in
    threading.Timer(0.2, holder.update, kwargs={"projection": "the new file"}).start()
    assert serving(lambda: holder["projection"]) == "the new file"
    holder["projection"] = None
    with pytest.raises(RuntimeError, match="being swapped"):
        serving(lambda: holder["projection"], wait_s=0.05)


async def test_the_old_file_answers_and_follows_the_log_while_a_rebuild_runs(
    nc: NATS, tmp_path: Path
) -> None:
    await meals_workload(nc, meals=10)
    projector = Projector(nc, tmp_path / "views.duckdb")
    await projector.start()
    count = SqlRequest(sql="select count(*) from meal_plan")

    async def live(request: SqlRequest) -> list[list[Any]]:
        reply = await asyncio.to_thread(run_query, lambda: projector.projection.con, request, 10)  # type: ignore[union-attr]
        assert isinstance(reply, SqlResult), reply
        return reply.rows

    async def caught_up() -> None:
        last = await stream_last_seq(nc)
        await eventually_async(
            lambda: projector.projection is not None and projector.projection.checkpoint >= last,
            every=0.02,
            what=f"the projector reached {last}",
        )

    await caught_up()
    old_file = projector.projection
    seen: list[tuple[str, list[list[Any]]]] = []

    async def during(update: RebuildProgress) -> None:
        if update.done or seen:
            return
        assert rebuild_path(projector.path).exists(), "the new file is being built"
        seen.append(("before the new meal", await live(count)))
        await plan_meal(nc, "during-the-rebuild")  # the house goes on meanwhile
        await caught_up()
        assert projector.projection is old_file
        seen.append(("after the new meal", await live(count)))

    try:
        result = await projector.rebuild(during)
        assert seen == [("before the new meal", [[10]]), ("after the new meal", [[11]])]
        assert projector.projection is not old_file, "the rebuilt file was swapped in"
        assert result.done and await live(count) == [[11]]
    finally:
        await projector.stop()
