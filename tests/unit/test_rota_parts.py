"""The rota decider's parts: one policy per kind of series, and past occurrences leaving the
series' open state while every rule still answers for them as before."""

from __future__ import annotations

from typing import Any, get_args

import msgspec
import pytest

from schemas import rota as r
from services.rota import decider as d
from services.rota.policies import POLICIES, CleaningParty, DutyShift, MealDay
from services.rota.state import GRACE, Occurrence, find
from tests.series import MONDAY, as_scheduled, at, cleaning_party, day, duty_shift, meal_days


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


PLAN = as_scheduled(cleaning_party(series_id="x", title="x", tasks=[], helper_slots=1))


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
    meals = scheduled(meal_days(title="Meal"))
    tue = f"meals-{day(1):%Y%m%d}"
    for command in (
        r.JoinCleaningParty(occurrence_id=tue, crew_id="anna", at=at(MONDAY)),
        r.SignUpForShift(occurrence_id=tue, crew_id="anna", at=at(MONDAY)),
        r.CheckIn(occurrence_id=tue, crew_id="anna", at=at(day(1))),
    ):
        with pytest.raises(d.WrongKind, match=f"{tue} is a meal"):
            d.decide(meals, command)


# Past occurrences leave the open state ------------------------------------------------------

SHIFT = duty_shift(capacity=2, claim_confirm_days=1, at=at(MONDAY, "06:00"))
WEEKS = 8


def a_shift_run_for_weeks() -> tuple[d.Series, list[r.RotaEvent]]:
    """Eight weeks of weekday shifts: two sign-ups each, a check-in, the calendar daily."""
    series, log = run(d.initial("opening"), SHIFT)
    for n in range(7 * WEEKS):
        if day(n).weekday() >= 5:
            series, events = run(series, r.AdvanceCalendar(series_id="opening", at=at(day(n))))
            log += events
            continue
        oid = f"opening-{day(n):%Y%m%d}"
        series, events = run(
            series,
            r.AdvanceCalendar(series_id="opening", at=at(day(n), "06:00")),
            r.SignUpForShift(occurrence_id=oid, crew_id="anna", at=at(day(n), "06:30")),
            r.SignUpForShift(occurrence_id=oid, crew_id="bo", at=at(day(n), "06:30")),
            r.CheckIn(occurrence_id=oid, crew_id="anna", at=at(day(n), "08:05")),
        )
        log += events
    return series, log


def test_occurrences_long_over_leave_the_open_state_and_the_fold_agrees() -> None:
    series, log = a_shift_run_for_weeks()
    today = day(7 * WEEKS - 1)
    past = [o for month in series.past.values() for o in month.values()]
    assert past and all(o.day < today - GRACE for o in past)
    # What stays open does not grow with the series' age: the grace, the week under way and
    # the weeks ahead.
    assert len(series.occurrences) <= 5 * (2 + 1 + SHIFT.weeks_ahead)
    assert len(series.occurrences) + len(past) == 5 * (WEEKS + 1)
    assert d.ROTA.fold("opening", log) == series


def test_a_past_occurrence_still_answers_as_before() -> None:
    series, _ = a_shift_run_for_weeks()
    first = f"opening-{day(0):%Y%m%d}"
    assert first not in series.occurrences and find(series, first) is not None
    now = at(day(7 * WEEKS - 1))
    assert d.decide(series, r.SignUpForShift(occurrence_id=first, crew_id="anna", at=now)) == []
    with pytest.raises(d.OccurrenceOver, match=f"{first} was on {day(0)}; it is over"):
        d.decide(series, r.SignUpForShift(occurrence_id=first, crew_id="carla", at=now))
    stepped_back = d.decide(series, r.WithdrawFromShift(occurrence_id=first, crew_id="bo", at=now))
    assert [(type(e).__name__, e.late) for e in stepped_back] == [("WithdrewFromShift", True)]  # type: ignore[attr-defined]
    with pytest.raises(d.NotToday):
        d.decide(series, r.CheckIn(occurrence_id=first, crew_id="bo", at=now))
    cancelled, events = run(series, r.CancelOccurrence(occurrence_id=first, reason="x", at=now))
    assert [type(e).__name__ for e in events] == ["OccurrenceCancelled", *["SignUpAffected"] * 2]
    assert find(cancelled, first).status == "cancelled"  # type: ignore[union-attr]
    assert first not in cancelled.occurrences, "still past"
    # The calendar, dated back to the first week, finds every day of it there already.
    assert d.decide(series, r.AdvanceCalendar(series_id="opening", at=at(day(0)))) == []


def test_an_occurrence_holding_a_claim_stays_open_until_the_claim_is_released() -> None:
    series, _ = run(
        d.initial("opening"),
        SHIFT,
        r.StateIntention(series_id="opening", crew_id="carla", weekdays=[4], at=at(MONDAY)),
    )
    fri = f"opening-{day(4):%Y%m%d}"
    assert "carla" in series.occurrences[fri].claims
    # Weeks later, a change schedules days far enough on to prove that week over; the
    # calendar has not released the claim yet, so its day stays open (where claims are sought).
    far, mon = day(7 * 5), f"opening-{day(0):%Y%m%d}"
    change = r.ChangeSeries(series_id="opening", effective_from=far, start="07:00", at=at(far))
    held, _ = run(series, change)
    assert mon not in held.occurrences and find(held, mon) is not None
    assert "carla" in held.occurrences[fri].claims
    after, events = run(held, r.AdvanceCalendar(series_id="opening", at=at(far)))
    released = [e for e in events if isinstance(e, r.ClaimReleased) and e.occurrence_id == fri]
    assert released, "the calendar releases the expired claim"
    assert fri not in after.occurrences and find(after, fri) is not None, "then it is past"


def test_a_command_dated_before_what_is_past_reopens_what_it_touches() -> None:
    series, _ = a_shift_run_for_weeks()
    first = f"opening-{day(0):%Y%m%d}"
    # A coordinator records, dated back, that carla usually opens on Mondays.
    back, events = run(
        series,
        r.StateIntention(series_id="opening", crew_id="carla", weekdays=[0], at=at(day(-7))),
    )
    claimed = [e.occurrence_id for e in events if isinstance(e, r.TentativeClaimMade)]
    coming = f"opening-{day(7 * WEEKS):%Y%m%d}"
    assert claimed == [coming], "every Monday before is full: anna and bo"
    back, events = run(
        series,
        r.WithdrawFromShift(occurrence_id=first, crew_id="bo", at=at(day(-7))),
        r.StateIntention(series_id="opening", crew_id="carla", weekdays=[0], at=at(day(-7))),
    )
    claimed = [e.occurrence_id for e in events if isinstance(e, r.TentativeClaimMade)]
    assert claimed == [first, coming]
    assert back.occurrences[first].claims == {"carla": None}, "open again while claimed"
