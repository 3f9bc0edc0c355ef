"""Activities' rules on plain values: places, waitlist, guests, tasks, initiatives, contributions."""

from __future__ import annotations

import datetime
import itertools

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import activities as a
from schemas.registry import CONTEXTS
from services.activities import decider as d
from services.activities.decider import ACTIVITIES
from services.activities.refusals import Refusal
from tests.unit.refusal_table import codes_documented, codes_given

START = datetime.datetime(2031, 3, 1, 10, 0, tzinfo=datetime.UTC)
END = START + datetime.timedelta(hours=3)
PLAN = a.PlanActivity(
    activity_id="w1",
    title="Repair cafe",
    starts_at=START,
    ends_at=END,
    capacity=2,
    open_to_guests=True,
    needs=[a.Need(task="coffee", capacity=1)],
)


def run(*commands: a.ActivityCommand, aggregate: str = "w1") -> tuple[d.Aggregate, list]:
    state, log = d.initial(aggregate), []
    for command in commands:
        events = d.decide(state, command)
        for event in events:
            state = d.evolve(state, event)
        log += events
    return state, log


def sign_up(who: str) -> a.SignUpForActivity:
    return a.SignUpForActivity(activity_id="w1", crew_id=who)


def withdraw(who: str) -> a.WithdrawFromActivity:
    return a.WithdrawFromActivity(activity_id="w1", crew_id=who)


def guest(who: str) -> a.SignUpGuest:
    return a.SignUpGuest(activity_id="w1", guest_id=who, display_name=f"Guest {who}")


def names(events: list) -> list[str]:
    return [type(e).__name__ for e in events]


def test_a_full_activity_waitlists_and_a_withdrawal_promotes_the_first_waiting() -> None:
    state, events = run(PLAN, sign_up("anna"), sign_up("bo"), sign_up("cy"), guest("g1"))
    assert names(events)[-2:] == ["WaitlistedForActivity", "GuestSignedUp"]
    assert events[-1].waitlisted
    assert state.activity.waitlist == ("cy", "g1")
    _, more = run(PLAN, sign_up("anna"), sign_up("bo"), sign_up("cy"), guest("g1"), withdraw("bo"))
    assert more[-1] == a.PromotedOnActivity(activity_id="w1", crew_id="cy")


def test_a_guest_withdrawing_promotes_a_crew_member_and_a_guest_can_be_promoted() -> None:
    _, events = run(PLAN, guest("g1"), sign_up("anna"), guest("g2"), withdraw("anna"))
    assert events[-1] == a.PromotedOnActivity(activity_id="w1", guest_id="g2")
    drop = a.WithdrawGuest(activity_id="w1", guest_id="g1")
    _, events = run(PLAN, guest("g1"), sign_up("anna"), sign_up("bo"), drop)
    assert events[-1] == a.PromotedOnActivity(activity_id="w1", crew_id="bo")


def test_signing_up_again_changes_nothing_and_guests_need_an_open_activity() -> None:
    _, events = run(PLAN, sign_up("anna"), sign_up("anna"))
    assert names(events) == ["ActivityPlanned", "SignedUpForActivity"]
    closed = msgspec.structs.replace(PLAN, open_to_guests=False)
    with pytest.raises(d.NotOpenToGuests):
        run(closed, guest("g1"))


def test_change_and_cancel_tell_everyone_on_it_and_more_room_moves_people_up() -> None:
    change = a.ChangeActivity(activity_id="w1", reason="bigger room", capacity=3, place="hall")
    _, events = run(PLAN, sign_up("anna"), sign_up("bo"), sign_up("cy"), guest("g1"), change)
    changed = events[-4:]
    assert names(changed) == [
        "ActivityChanged",
        "ActivitySignUpAffected",
        "ActivitySignUpAffected",
        "ActivitySignUpAffected",
    ] or names(events[-5:]) == [
        "ActivityChanged",
        "ActivitySignUpAffected",
        "ActivitySignUpAffected",
        "ActivitySignUpAffected",
        "PromotedOnActivity",
    ]
    assert events[-1] == a.PromotedOnActivity(activity_id="w1", crew_id="cy")
    told = {e.crew_id: e.role for e in events if isinstance(e, a.ActivitySignUpAffected)}
    assert told == {"anna": "place", "bo": "place", "cy": "waitlist"}  # guests have no notices
    cancel = a.CancelActivity(activity_id="w1", reason="ill")
    state, events = run(PLAN, sign_up("anna"), cancel, cancel)
    assert names(events)[-2:] == ["ActivityCancelled", "ActivitySignUpAffected"]
    assert events[-1].outcome == "cancelled" and events[-1].reason == "ill"
    with pytest.raises(d.ActivityCancelled):
        d.decide(state, sign_up("bo"))


def test_tasks_set_their_team() -> None:
    take = a.TakeActivityTask(activity_id="w1", crew_id="anna", task="coffee")
    state, events = run(PLAN, take, take)
    assert names(events) == ["ActivityPlanned", "TookActivityTask"]
    with pytest.raises(d.TaskFull):
        d.decide(state, a.TakeActivityTask(activity_id="w1", crew_id="bo", task="coffee"))
    with pytest.raises(d.NoSuchTask):
        d.decide(state, a.TakeActivityTask(activity_id="w1", crew_id="bo", task="cake"))


def test_leadership_of_an_initiative_passes_on_and_is_not_held() -> None:
    start = a.StartInitiative(initiative_id="i1", title="Vores Rum", started_by="anna")
    hand_on = a.HandOnInitiative(initiative_id="i1", to_crew_id="bo")
    leave = a.LeaveInitiative(initiative_id="i1", crew_id="anna")
    state, _ = run(start, aggregate="i1")
    with pytest.raises(d.initiatives.LeadHandsOnFirst):
        d.decide(state, leave)
    state, events = run(start, hand_on, leave, aggregate="i1")
    assert names(events) == ["InitiativeStarted", "InitiativeHandedOn", "LeftInitiative"]
    assert state.initiative.lead == "bo" and state.initiative.members == ("bo",)


def test_contributions_of_house_defined_kinds_are_recorded_once() -> None:
    baked = a.RecordContribution(contribution_id="c1", crew_id="anna", kind="baked", minutes=60)
    state, events = run(baked, baked, aggregate=a.BOOK)
    assert names(events) == ["ContributionRecorded"]
    sang = a.RecordContribution(contribution_id="c2", crew_id="anna", kind="sang")
    with pytest.raises(d.initiatives.UnknownContributionKind):
        d.decide(state, sang)
    define = a.DefineContributionKind(kind="sang", label_da="Sang", label_en="Sang")
    _, events = run(define, sang, aggregate=a.BOOK)
    assert names(events) == ["ContributionKindDefined", "ContributionRecorded"]
    other = a.RecordContribution(contribution_id="c1", crew_id="bo", kind="baked")
    with pytest.raises(d.initiatives.ContributionAlreadyRecorded):
        d.decide(state, other)


def test_commands_address_their_own_aggregate() -> None:
    assert ACTIVITIES.aggregate_of(PLAN) == "w1"
    start = a.StartInitiative(initiative_id="i1", title="t", started_by="anna")
    assert ACTIVITIES.aggregate_of(start) == "i1"
    record = a.RecordContribution(contribution_id="c1", crew_id="anna", kind="baked")
    assert ACTIVITIES.aggregate_of(record) == a.BOOK


def test_schema_struct_names_are_unique_across_contexts() -> None:
    seen: dict[str, str] = {}
    for context in CONTEXTS:
        for kind in (*context.EVENTS, *context.COMMANDS.values()):
            assert seen.setdefault(kind.__name__, context.CONTEXT) == context.CONTEXT, kind
    assert len(seen) > 40


PEOPLE = ["anna", "bo", "cy", "dee"]
GUESTS = ["g1", "g2"]
ONE_STEP = st.one_of(
    st.builds(sign_up, st.sampled_from(PEOPLE)),
    st.builds(withdraw, st.sampled_from(PEOPLE)),
    st.builds(guest, st.sampled_from(GUESTS)),
    st.builds(lambda g: a.WithdrawGuest(activity_id="w1", guest_id=g), st.sampled_from(GUESTS)),
    st.builds(
        lambda who, task: a.TakeActivityTask(activity_id="w1", crew_id=who, task=task),
        st.sampled_from(PEOPLE),
        st.sampled_from(["coffee", "cake"]),
    ),
    st.just(a.CancelActivity(activity_id="w1", reason="rain")),
    st.just(a.ChangeActivity(activity_id="w1", reason="more room", capacity=3)),
)
STEPS = st.lists(ONE_STEP, max_size=14)


def _play(capacity: int, steps: list) -> d.Aggregate:
    state = d.initial("w1")
    for command in [msgspec.structs.replace(PLAN, capacity=capacity), *steps]:
        try:
            for event in d.decide(state, command):
                state = d.evolve(state, event)
        except Refusal:
            pass
    return state


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=3), STEPS)
def test_never_more_places_than_capacity_and_no_one_waits_while_a_place_is_free(
    capacity: int, steps: list
) -> None:
    act = _play(capacity, steps).activity
    assert act.capacity is not None and act.capacity >= capacity  # a change only adds room here
    assert len(act.places) <= act.capacity
    assert not act.waitlist or len(act.places) == act.capacity
    assert len(set(act.places) | set(act.waitlist)) == len(act.places) + len(act.waitlist)


@settings(max_examples=100, deadline=None)
@given(st.permutations([sign_up("anna"), sign_up("bo"), guest("g1"), guest("g2"), sign_up("cy")]))
def test_every_order_of_sign_ups_fills_the_places_in_that_order(steps: list) -> None:
    act = _play(3, steps).activity
    order = [getattr(c, "crew_id", None) or c.guest_id for c in steps]
    assert list(act.places) == order[:3] and list(act.waitlist) == order[3:]
    assert act.guests == {"g1", "g2"}


def test_the_refusal_table_in_the_contract_is_what_the_rules_say() -> None:
    planned, _ = run(PLAN, sign_up("anna"))
    cancelled, _ = run(PLAN, a.CancelActivity(activity_id="w1", reason="r"))
    closed, _ = run(msgspec.structs.replace(PLAN, open_to_guests=False))
    full_task, _ = run(PLAN, a.TakeActivityTask(activity_id="w1", crew_id="anna", task="coffee"))
    started, _ = run(a.StartInitiative(initiative_id="w1", title="t", started_by="anna"))
    book, _ = run(a.RecordContribution(contribution_id="c1", crew_id="anna", kind="baked"))
    states = [d.initial("w1"), planned, cancelled, closed, full_task, started, book]
    bad_plan = msgspec.structs.replace(PLAN, ends_at=START)
    tries = {
        "plan_activity": [PLAN, bad_plan, msgspec.structs.replace(PLAN, title="other")],
        "sign_up": [sign_up("bo")],
        "withdraw": [withdraw("bo")],
        "sign_up_guest": [guest("g1")],
        "withdraw_guest": [a.WithdrawGuest(activity_id="w1", guest_id="g9")],
        "change_activity": [
            a.ChangeActivity(activity_id="w1", reason="r", ends_at=START),
            a.ChangeActivity(activity_id="w1", reason="r", title="new"),
        ],
        "cancel_activity": [a.CancelActivity(activity_id="w1", reason="r")],
        "take_task": [
            a.TakeActivityTask(activity_id="w1", crew_id="bo", task=t) for t in ("coffee", "x")
        ],
        "drop_task": [a.DropActivityTask(activity_id="w1", crew_id="bo", task="coffee")],
        "start_initiative": [a.StartInitiative(initiative_id="w1", title="t", started_by="b")],
        "join_initiative": [a.JoinInitiative(initiative_id="w1", crew_id="bo")],
        "leave_initiative": [
            a.LeaveInitiative(initiative_id="w1", crew_id=who) for who in ("anna", "bo")
        ],
        "hand_on_initiative": [a.HandOnInitiative(initiative_id="w1", to_crew_id="bo")],
        "define_contribution_kind": [
            a.DefineContributionKind(kind="sang", label_da="Sang", label_en="Singing")
        ],
        "record_contribution": [
            a.RecordContribution(contribution_id="c1", crew_id=who, kind=kind)
            for who, kind in itertools.product(("anna", "bo"), ("baked", "nope"))
        ],
    }
    given_codes = codes_given(d.decide, [(state, tries) for state in states])
    assert set(given_codes) == set(a.COMMANDS)
    assert codes_documented("activities") == given_codes
