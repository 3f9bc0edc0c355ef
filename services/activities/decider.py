"""Pure rules of activities, initiatives and contributions of any kind:
decide(aggregate, command) -> events, evolve(aggregate, event) -> aggregate (state.py)."""

from __future__ import annotations

from typing import Any

from crew.decider import Decider
from schemas import activities as a
from services.activities import initiatives
from services.activities.refusals import (
    DECIDE,
    ActivityAlreadyPlanned,
    ActivityCancelled,
    ActivityNotPlanned,
    EndsBeforeItStarts,
    NoSuchTask,
    NotOpenToGuests,
    NotSignedUp,
    TaskFull,
)
from services.activities.state import Activity, Aggregate, evolve, initial

decide = DECIDE.decide


def _open(state: Aggregate) -> Activity:
    act = state.activity
    if act.status == "unplanned":
        raise ActivityNotPlanned(f"activity {state.aggregate_id} is not planned")
    if act.status == "cancelled":
        raise ActivityCancelled(f"activity {state.aggregate_id} was cancelled")
    return act


def _first_waiting(state: Aggregate, act: Activity, freed: int) -> list[a.ActivityEvent]:
    """Who moves up when `freed` places open: the first ones waiting, crew or guest."""
    aid = state.aggregate_id
    return [
        a.PromotedOnActivity(activity_id=aid, guest_id=who)
        if who in act.guests
        else a.PromotedOnActivity(activity_id=aid, crew_id=who)
        for who in act.waitlist[: max(freed, 0)]
    ]


@DECIDE.on(a.PlanActivity)
def _plan(state: Aggregate, command: a.PlanActivity) -> list[a.ActivityEvent]:
    if command.ends_at <= command.starts_at:
        raise EndsBeforeItStarts("an activity ends after it starts")
    fields = {f: getattr(command, f) for f in command.__struct_fields__ if f != "activity_id"}
    planned = a.ActivityPlanned(activity_id=state.aggregate_id, **fields)
    if state.activity.plan is None:
        return [planned]
    if state.activity.plan == planned:
        return []  # already true: nothing new happened
    raise ActivityAlreadyPlanned(f"activity {state.aggregate_id} is already planned")


@DECIDE.on(a.SignUpForActivity)
def _sign_up(state: Aggregate, command: a.SignUpForActivity) -> list[a.ActivityEvent]:
    act, who = _open(state), command.crew_id
    if who in act.places or who in act.waitlist:
        return []
    if act.full:
        return [a.WaitlistedForActivity(activity_id=state.aggregate_id, crew_id=who)]
    return [a.SignedUpForActivity(activity_id=state.aggregate_id, crew_id=who)]


@DECIDE.on(a.WithdrawFromActivity)
def _withdraw(state: Aggregate, command: a.WithdrawFromActivity) -> list[a.ActivityEvent]:
    act, who = _open(state), command.crew_id
    if who in act.waitlist:
        return [
            a.WithdrewFromActivity(activity_id=state.aggregate_id, crew_id=who, was="waitlisted")
        ]
    if who not in act.places:
        raise NotSignedUp(f"{who} has no place on activity {state.aggregate_id}")
    withdrew = a.WithdrewFromActivity(activity_id=state.aggregate_id, crew_id=who)
    return [withdrew, *_after_a_place_opened(state, act)]


def _after_a_place_opened(state: Aggregate, act: Activity) -> list[a.ActivityEvent]:
    room = 1 if act.capacity is None else act.capacity - len(act.places) + 1
    return _first_waiting(state, act, min(room, 1))


@DECIDE.on(a.SignUpGuest)
def _sign_up_guest(state: Aggregate, command: a.SignUpGuest) -> list[a.ActivityEvent]:
    act, guest = _open(state), command.guest_id
    assert act.plan is not None
    if not act.plan.open_to_guests:
        raise NotOpenToGuests(f"activity {state.aggregate_id} is for the crew only")
    if guest in act.places or guest in act.waitlist:
        return []
    return [
        a.GuestSignedUp(
            activity_id=state.aggregate_id,
            guest_id=guest,
            display_name=command.display_name,
            contact=command.contact,
            waitlisted=act.full,
        )
    ]


@DECIDE.on(a.WithdrawGuest)
def _withdraw_guest(state: Aggregate, command: a.WithdrawGuest) -> list[a.ActivityEvent]:
    act, guest = _open(state), command.guest_id
    if guest not in act.guests or (guest not in act.places and guest not in act.waitlist):
        raise NotSignedUp(f"guest {guest} has no place on activity {state.aggregate_id}")
    withdrew = a.GuestWithdrew(activity_id=state.aggregate_id, guest_id=guest)
    if guest in act.waitlist:
        return [withdrew]
    return [withdrew, *_after_a_place_opened(state, act)]


def _told(state: Aggregate, outcome: Any, reason: str) -> list[a.ActivityEvent]:
    """One event per crew member on the activity: their place, their waitlist place, a task."""
    act, aid = state.activity, state.aggregate_id
    roles: dict[str, str] = {}
    for who in act.places:
        roles.setdefault(who, "place")
    for who in act.waitlist:
        roles.setdefault(who, "waitlist")
    for task, who in act.tasks:
        roles.setdefault(who, task)
    return [
        a.ActivitySignUpAffected(
            activity_id=aid, crew_id=who, outcome=outcome, role=role, reason=reason
        )
        for who, role in roles.items()
        if who not in act.guests
    ]


@DECIDE.on(a.ChangeActivity)
def _change(state: Aggregate, command: a.ChangeActivity) -> list[a.ActivityEvent]:
    act = _open(state)
    assert act.plan is not None
    fields = ("title", "starts_at", "ends_at", "capacity", "place", "description", "fee_note")
    changes = {
        f: getattr(command, f)
        for f in fields
        if getattr(command, f) is not None and getattr(command, f) != _now(state, f)
    }
    if not changes:
        return []
    starts = changes.get("starts_at", act.plan.starts_at)
    if changes.get("ends_at", act.plan.ends_at) <= starts:
        raise EndsBeforeItStarts("an activity ends after it starts")
    changed = a.ActivityChanged(activity_id=state.aggregate_id, reason=command.reason, **changes)
    promoted: list[a.ActivityEvent] = []
    if "capacity" in changes:
        promoted = _first_waiting(state, act, changes["capacity"] - len(act.places))
    return [changed, *_told(state, "changed", command.reason), *promoted]


def _now(state: Aggregate, field: str) -> Any:
    if field == "capacity":
        return state.activity.capacity
    return getattr(state.activity.plan, field)


@DECIDE.on(a.CancelActivity)
def _cancel(state: Aggregate, command: a.CancelActivity) -> list[a.ActivityEvent]:
    if state.activity.status == "cancelled":
        return []
    _open(state)
    cancelled = a.ActivityCancelled(activity_id=state.aggregate_id, reason=command.reason)
    return [cancelled, *_told(state, "cancelled", command.reason)]


@DECIDE.on(a.TakeActivityTask)
def _take_task(state: Aggregate, command: a.TakeActivityTask) -> list[a.ActivityEvent]:
    act, who, task = _open(state), command.crew_id, command.task
    assert act.plan is not None
    need = next((n for n in act.plan.needs if n.task == task), None)
    if need is None:
        raise NoSuchTask(f"activity {state.aggregate_id} has no task {task}")
    holders = act.holders(task)
    if who in holders:
        return []
    if len(holders) >= need.capacity:
        raise TaskFull(f"task {task} has its {need.capacity} people")
    return [a.TookActivityTask(activity_id=state.aggregate_id, crew_id=who, task=task)]


@DECIDE.on(a.DropActivityTask)
def _drop_task(state: Aggregate, command: a.DropActivityTask) -> list[a.ActivityEvent]:
    act, who, task = _open(state), command.crew_id, command.task
    if who not in act.holders(task):
        raise NotSignedUp(f"{who} does not hold task {task}")
    return [a.DroppedActivityTask(activity_id=state.aggregate_id, crew_id=who, task=task)]


ACTIVITIES = Decider(
    context=a.CONTEXT,
    commands=dict(a.COMMANDS),
    event_types=a.EVENTS,
    initial=initial,
    decide=decide,
    evolve=evolve,
    aggregate_of=lambda command: (
        getattr(command, "activity_id", None) or getattr(command, "initiative_id", None) or a.BOOK
    ),
)
__all__ = ["ACTIVITIES", "decide", "evolve", "initial", "initiatives"]
