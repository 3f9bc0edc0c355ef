"""The rules of the joint meal, given events / when command / then events, on plain values."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import meals as m
from services.meals import decider as d
from services.meals.decider import MEALS

DAY = datetime.date(2030, 1, 7)
PLANNED = m.MealPlanned(meal_id="m1", date=DAY, time="12:00", helper_slots=2, seats=10)


def given_(*events: m.MealEvent) -> d.Meal:
    return MEALS.fold("m1", events)


def test_planning_a_meal_opens_it() -> None:
    command = m.PlanMeal(meal_id="m1", date=DAY, helper_slots=2, seats=10)
    assert d.decide(given_(), command) == [PLANNED]


def test_planning_the_same_meal_again_is_a_no_op_and_a_different_plan_is_refused() -> None:
    meal = given_(PLANNED)
    assert d.decide(meal, m.PlanMeal(meal_id="m1", date=DAY, helper_slots=2, seats=10)) == []
    with pytest.raises(d.MealAlreadyPlanned):
        d.decide(meal, m.PlanMeal(meal_id="m1", date=DAY, helper_slots=3))


def test_a_volunteer_for_an_unplanned_meal_is_refused() -> None:
    with pytest.raises(d.MealNotPlanned) as refusal:
        d.decide(given_(), m.VolunteerToCook(meal_id="m1", crew_id="anna", role="helper"))
    assert refusal.value.code == "meal_not_planned"


def test_head_cook_slot_is_one_and_a_second_head_cook_is_refused() -> None:
    meal = given_(PLANNED, m.VolunteeredToCook(meal_id="m1", crew_id="anna", role="head_cook"))
    with pytest.raises(d.HeadCookTaken):
        d.decide(meal, m.VolunteerToCook(meal_id="m1", crew_id="bo", role="head_cook"))


def test_repeated_volunteering_is_a_no_op() -> None:
    meal = given_(PLANNED, m.VolunteeredToCook(meal_id="m1", crew_id="anna", role="helper"))
    assert d.decide(meal, m.VolunteerToCook(meal_id="m1", crew_id="anna", role="helper")) == []


def test_someone_already_cooking_cannot_take_a_second_role() -> None:
    meal = given_(PLANNED, m.VolunteeredToCook(meal_id="m1", crew_id="anna", role="helper"))
    with pytest.raises(d.AlreadyCooking):
        d.decide(meal, m.VolunteerToCook(meal_id="m1", crew_id="anna", role="head_cook"))


def test_a_full_helper_team_puts_the_next_volunteer_on_the_waitlist() -> None:
    meal = given_(
        PLANNED,
        m.VolunteeredToCook(meal_id="m1", crew_id="anna", role="helper"),
        m.VolunteeredToCook(meal_id="m1", crew_id="bo", role="helper"),
    )
    command = m.VolunteerToCook(meal_id="m1", crew_id="carla", role="helper")
    assert d.decide(meal, command) == [m.WaitlistedToHelp(meal_id="m1", crew_id="carla")]


def test_a_helper_withdrawing_promotes_the_first_on_the_waitlist_in_the_same_decision() -> None:
    meal = given_(
        PLANNED,
        m.VolunteeredToCook(meal_id="m1", crew_id="anna", role="helper"),
        m.VolunteeredToCook(meal_id="m1", crew_id="bo", role="helper"),
        m.WaitlistedToHelp(meal_id="m1", crew_id="carla"),
        m.WaitlistedToHelp(meal_id="m1", crew_id="dorte"),
    )
    events = d.decide(meal, m.Withdraw(meal_id="m1", crew_id="bo", reason="ill"))
    assert events == [
        m.Withdrew(meal_id="m1", crew_id="bo", role="helper", reason="ill"),
        m.PromotedFromWaitlist(meal_id="m1", crew_id="carla"),
    ]
    after = MEALS.fold("m1", [*_events_of(meal), *events])
    assert after.helpers == ("anna", "carla") and after.waitlist == ("dorte",)


def _events_of(meal: d.Meal) -> list[m.MealEvent]:
    events: list[m.MealEvent] = [PLANNED]
    events += [m.VolunteeredToCook(meal_id="m1", crew_id=h, role="helper") for h in meal.helpers]
    events += [m.WaitlistedToHelp(meal_id="m1", crew_id=w) for w in meal.waitlist]
    return events


def test_withdrawal_by_someone_who_did_not_sign_up_is_refused() -> None:
    with pytest.raises(d.NotSignedUp):
        d.decide(given_(PLANNED), m.Withdraw(meal_id="m1", crew_id="zed"))


def test_eating_beyond_the_seats_is_refused_as_meal_full() -> None:
    meal = given_(PLANNED, m.SignedUpToEat(meal_id="m1", crew_id="anna", portions=9))
    with pytest.raises(d.MealFull) as refusal:
        d.decide(meal, m.SignUpToEat(meal_id="m1", crew_id="bo", portions=2))
    assert "1 of 10" in refusal.value.message


def test_a_repeated_sign_up_to_eat_is_a_no_op_and_cancelling_needs_a_sign_up() -> None:
    meal = given_(PLANNED, m.SignedUpToEat(meal_id="m1", crew_id="anna"))
    assert d.decide(meal, m.SignUpToEat(meal_id="m1", crew_id="anna")) == []
    with pytest.raises(d.NotSignedUp):
        d.decide(meal, m.CancelEating(meal_id="m1", crew_id="bo"))


@pytest.mark.parametrize(
    ("ending", "refusal"),
    [
        (m.MealClosed(meal_id="m1"), d.MealClosed),
        (m.MealCancelled(meal_id="m1"), d.MealCancelled),
        (m.MealServed(meal_id="m1"), d.MealAlreadyServed),
    ],
)
def test_no_sign_up_to_a_closed_cancelled_or_served_meal(
    ending: m.MealEvent, refusal: type
) -> None:
    meal = given_(PLANNED, ending)
    with pytest.raises(refusal):
        d.decide(meal, m.VolunteerToCook(meal_id="m1", crew_id="anna", role="helper"))
    with pytest.raises(refusal):
        d.decide(meal, m.SignUpToEat(meal_id="m1", crew_id="anna"))


def test_withdrawing_stays_possible_after_sign_ups_close() -> None:
    meal = given_(
        PLANNED,
        m.VolunteeredToCook(meal_id="m1", crew_id="anna", role="helper"),
        m.MealClosed(meal_id="m1"),
    )
    assert d.decide(meal, m.Withdraw(meal_id="m1", crew_id="anna"))[0].role == "helper"


def test_closing_serving_and_cancelling_are_idempotent() -> None:
    assert d.decide(given_(PLANNED, m.MealClosed(meal_id="m1")), m.CloseMeal(meal_id="m1")) == []
    assert (
        d.decide(given_(PLANNED, m.MealServed(meal_id="m1")), m.RecordMealServed(meal_id="m1"))
        == []
    )
    assert (
        d.decide(given_(PLANNED, m.MealCancelled(meal_id="m1")), m.CancelMeal(meal_id="m1")) == []
    )


# Properties over arbitrary sequences of commands from a small crew.

people = st.sampled_from(["anna", "bo", "carla", "dorte", "emil", "frida"])
commands = st.one_of(
    st.builds(
        m.VolunteerToCook,
        meal_id=st.just("m1"),
        crew_id=people,
        role=st.sampled_from(["head_cook", "helper"]),
    ),
    st.builds(m.Withdraw, meal_id=st.just("m1"), crew_id=people),
    st.builds(m.SignUpToEat, meal_id=st.just("m1"), crew_id=people, portions=st.integers(1, 4)),
    st.builds(m.CancelEating, meal_id=st.just("m1"), crew_id=people),
    st.just(m.CloseMeal(meal_id="m1")),
    st.just(m.RecordMealServed(meal_id="m1")),
    st.just(m.CancelMeal(meal_id="m1")),
)


def run(
    sequence: list[m.MealCommand], slots: int, seats: int | None
) -> tuple[d.Meal, list[m.MealEvent]]:
    plan = m.MealPlanned(meal_id="m1", date=DAY, time="17:30", helper_slots=slots, seats=seats)
    meal, log = d.evolve(d.initial("m1"), plan), [plan]
    for command in sequence:
        try:
            events = d.decide(meal, command)
        except d.Refusal:
            continue
        for event in events:
            meal = d.evolve(meal, event)
        log += events
    return meal, log


@settings(max_examples=300, deadline=None)
@given(st.lists(commands, max_size=40), st.integers(0, 3), st.one_of(st.none(), st.integers(1, 8)))
def test_invariants_hold_for_any_sequence_of_commands(
    sequence: list[m.MealCommand], slots: int, seats: int | None
) -> None:
    meal, log = run(sequence, slots, seats)
    assert len(meal.helpers) <= slots
    everyone = [*meal.helpers, *meal.waitlist, *([meal.head_cook] if meal.head_cook else [])]
    assert len(everyone) == len(set(everyone)), "nobody holds two places"
    assert not meal.waitlist or len(meal.helpers) == slots, "nobody waits while a slot is open"
    assert seats is None or meal.portions <= seats
    assert MEALS.fold("m1", log) == meal, "the fold of the log is the state"


@settings(max_examples=200, deadline=None)
@given(st.lists(commands, max_size=30), commands)
def test_deciding_the_same_command_right_after_it_succeeded_appends_nothing(
    sequence: list[m.MealCommand], command: m.MealCommand
) -> None:
    meal, _ = run(sequence, 2, None)
    try:
        events = d.decide(meal, command)
    except d.Refusal:
        return
    for event in events:
        meal = d.evolve(meal, event)
    if isinstance(command, m.Withdraw | m.CancelEating):
        with pytest.raises(d.NotSignedUp):  # refused: appends nothing either
            d.decide(meal, command)
        return
    assert d.decide(meal, command) == []
