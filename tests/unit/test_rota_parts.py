"""The rota decider's parts: one policy per kind of series."""

from __future__ import annotations

import datetime
from typing import Any, get_args
from zoneinfo import ZoneInfo

import msgspec
import pytest

from schemas import rota as r
from services.rota import decider as d
from services.rota.policies import POLICIES, CleaningParty, DutyShift, MealDay
from services.rota.state import Occurrence

CPH = ZoneInfo("Europe/Copenhagen")
MONDAY = datetime.date(2030, 1, 7)


def at(day: datetime.date, hhmm: str = "09:00") -> datetime.datetime:
    h, m = (int(x) for x in hhmm.split(":"))
    return datetime.datetime(day.year, day.month, day.day, h, m, tzinfo=CPH)


def day(n: int) -> datetime.date:
    return MONDAY + datetime.timedelta(days=n)


def run(series: d.Series, *commands: r.RotaCommand) -> tuple[d.Series, list[r.RotaEvent]]:
    events: list[r.RotaEvent] = []
    for command in commands:
        new = d.decide(series, command)
        for event in new:
            series = d.evolve(series, event)
        events += new
    return series, events


def scheduled(command: r.ScheduleSeries) -> d.Series:
    return run(d.initial(command.series_id), command)[0]


def occurrence(**fields: Any) -> Occurrence:
    plain = Occurrence(
        occurrence_id="x-20300110", first_date=day(3), day=day(3), start="17:00", end="19:00"
    )
    return msgspec.structs.replace(plain, **fields)


# One policy per kind ------------------------------------------------------------------------


def test_every_kind_of_series_has_one_policy() -> None:
    assert set(POLICIES) == set(get_args(r.Kind))
    assert all(policy.kind == kind for kind, policy in POLICIES.items())


PLAN = r.SeriesScheduled(
    series_id="x",
    kind="cleaning_party",
    title="x",
    weekdays=[3],
    start="17:00",
    end="19:00",
    starts_on=MONDAY,
    helper_slots=1,
)


def test_a_cleaning_party_has_room_for_everyone_and_teams_of_their_own_size() -> None:
    party = CleaningParty()
    kitchen = (r.TaskSpec(task="kitchen", capacity=1),)
    occ = occurrence(tasks=kitchen, people=("bo",), task_of={"bo": "kitchen"})
    assert party.has_room(PLAN, occ, None, "anna")
    assert not party.has_room(PLAN, occ, "kitchen", "anna")
    assert party.has_room(PLAN, occ, "kitchen", "bo"), "one's own place is not against one"
    assert not party.has_room(PLAN, occ, "roof", "anna"), "no such team"
    assert party.full(occ, "kitchen").code == "task_full"
    taking = party.take_place("x", occ, "anna", "kitchen")
    assert [type(e).__name__ for e in taking] == ["JoinedCleaningParty", "TookTask"]
    assert [type(e) for e in party.take_place("x", occ, "bo", "kitchen")] == [r.TookTask]


def test_a_duty_shift_counts_people_and_claims_against_its_capacity() -> None:
    shift = DutyShift()
    occ = occurrence(capacity=2, people=("bo",), claims={"carla": None})
    assert not shift.has_room(PLAN, occ, None, "anna")
    assert shift.has_room(PLAN, occ, None, "carla"), "carla's own claim holds her place"
    assert shift.full(occ, None).code == "shift_full"
    assert shift.take_place("x", occ, "anna", None) == [
        r.SignedUpForShift(series_id="x", occurrence_id=occ.occurrence_id, crew_id="anna")
    ]
    with pytest.raises(d.UnknownTask):
        shift.check_intention(PLAN, "kitchen")


def test_a_meal_day_has_one_head_cook_and_its_helper_slots_and_records_no_sign_up() -> None:
    meal = MealDay()
    occ = occurrence(cooks={"bo": "head_cook"}, claims={"carla": "helper"})
    assert not meal.has_room(PLAN, occ, "head_cook", "anna")
    assert not meal.has_room(PLAN, occ, "helper", "anna"), "one helper slot, claimed by carla"
    assert meal.has_room(PLAN, occ, None, "carla")
    assert meal.full(occ, "head_cook").code == "no_cooking_place"
    assert meal.take_place("x", occ, "carla", "helper") == [], "meals keeps who cooks"
    confirmed = meal.confirmed(occ, "carla", "helper")
    assert dict(confirmed.cooks) == {"bo": "head_cook", "carla": "helper"}
    assert not confirmed.claims
    assert meal.meal_id(occurrence(restored=2)) == "x-20300110-r2"
    with pytest.raises(d.UnknownTask):
        meal.check_intention(PLAN, "kitchen")


def test_a_kinds_own_commands_are_refused_by_the_other_kinds_by_name() -> None:
    meals = scheduled(
        r.ScheduleSeries(
            series_id="meals",
            kind="meal",
            title="Meal",
            weekdays=[1],
            start="17:30",
            end="19:00",
            starts_on=MONDAY,
            at=at(MONDAY),
        )
    )
    tue = f"meals-{day(1):%Y%m%d}"
    for command in (
        r.JoinCleaningParty(occurrence_id=tue, crew_id="anna", at=at(MONDAY)),
        r.SignUpForShift(occurrence_id=tue, crew_id="anna", at=at(MONDAY)),
        r.CheckIn(occurrence_id=tue, crew_id="anna", at=at(day(1))),
    ):
        with pytest.raises(d.WrongKind, match=f"{tue} is a meal"):
            d.decide(meals, command)
