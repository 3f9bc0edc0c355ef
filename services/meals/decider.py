"""Pure rules of the joint meal: decide(meal, command) -> events, evolve(meal, event) -> meal."""

from __future__ import annotations

from typing import Literal

import msgspec
from msgspec.structs import replace

from crew.decider import Decider, Handlers, Refusal
from schemas import meals as m


class MealNotPlanned(Refusal):
    code = "meal_not_planned"


class MealAlreadyPlanned(Refusal):
    code = "meal_already_planned"


class MealClosed(Refusal):
    code = "meal_closed"


class MealCancelled(Refusal):
    code = "meal_cancelled"


class MealAlreadyServed(Refusal):
    code = "meal_already_served"


class HeadCookTaken(Refusal):
    code = "head_cook_taken"


class AlreadyCooking(Refusal):
    code = "already_cooking"


class MealFull(Refusal):
    code = "meal_full"


class NotSignedUp(Refusal):
    code = "not_signed_up"


Status = Literal["unplanned", "open", "closed", "served", "cancelled"]


class Meal(msgspec.Struct, frozen=True, kw_only=True):
    meal_id: str
    status: Status = "unplanned"
    plan: m.MealPlanned | None = None
    head_cook: str | None = None
    helpers: tuple[str, ...] = ()
    waitlist: tuple[str, ...] = ()
    diners: tuple[tuple[str, int], ...] = ()  # (crew_id, portions) in sign-up order

    @property
    def portions(self) -> int:
        return sum(p for _, p in self.diners)

    def eats(self, crew_id: str) -> bool:
        return any(who == crew_id for who, _ in self.diners)

    def role_of(self, crew_id: str) -> Literal["head_cook", "helper", "waitlist"] | None:
        if self.head_cook == crew_id:
            return "head_cook"
        if crew_id in self.helpers:
            return "helper"
        if crew_id in self.waitlist:
            return "waitlist"
        return None


def initial(meal_id: str) -> Meal:
    return Meal(meal_id=meal_id)


def _require_open_for_sign_up(meal: Meal) -> None:
    match meal.status:
        case "unplanned":
            raise MealNotPlanned(f"meal {meal.meal_id} is not planned")
        case "closed":
            raise MealClosed(f"sign-ups for meal {meal.meal_id} are closed")
        case "cancelled":
            raise MealCancelled(f"meal {meal.meal_id} was cancelled")
        case "served":
            raise MealAlreadyServed(f"meal {meal.meal_id} was already served")


def _require_not_over(meal: Meal) -> None:
    if meal.status in ("closed", "open"):
        return
    _require_open_for_sign_up(meal)


DECIDE = Handlers[Meal]("meals")
decide = DECIDE.decide


@DECIDE.on(m.PlanMeal)
def _plan(meal: Meal, command: m.PlanMeal) -> list[m.MealEvent]:
    planned = m.MealPlanned(
        meal_id=meal.meal_id,
        date=command.date,
        time=command.time,
        helper_slots=command.helper_slots,
        seats=command.seats,
        ends_at=command.ends_at,
    )
    if meal.plan is None:
        return [planned]
    if meal.plan == planned:
        return []  # already true: nothing new happened
    raise MealAlreadyPlanned(f"meal {meal.meal_id} is already planned for {meal.plan.date}")


@DECIDE.on(m.VolunteerToCook)
def _volunteer(meal: Meal, command: m.VolunteerToCook) -> list[m.MealEvent]:
    mid, who, role = meal.meal_id, command.crew_id, command.role
    _require_open_for_sign_up(meal)
    current = meal.role_of(who)
    if current == role or (current == "waitlist" and role == "helper"):
        return []
    if current is not None:
        raise AlreadyCooking(f"{who} is already on this meal as {current}; withdraw first")
    if role == "head_cook":
        if meal.head_cook is not None:
            raise HeadCookTaken(f"meal {mid} already has a head cook")
        return [m.VolunteeredToCook(meal_id=mid, crew_id=who, role="head_cook")]
    assert meal.plan is not None
    if len(meal.helpers) >= meal.plan.helper_slots:
        return [m.WaitlistedToHelp(meal_id=mid, crew_id=who)]
    return [m.VolunteeredToCook(meal_id=mid, crew_id=who, role="helper")]


@DECIDE.on(m.Withdraw)
def _withdraw(meal: Meal, command: m.Withdraw) -> list[m.MealEvent]:
    mid, who = meal.meal_id, command.crew_id
    _require_not_over(meal)
    current = meal.role_of(who)
    if current is None:
        raise NotSignedUp(f"{who} has not volunteered for meal {mid}")
    events: list[m.MealEvent] = [
        m.Withdrew(meal_id=mid, crew_id=who, role=current, reason=command.reason)
    ]
    if current == "helper" and meal.waitlist:
        events.append(m.PromotedFromWaitlist(meal_id=mid, crew_id=meal.waitlist[0]))
    return events


@DECIDE.on(m.SignUpToEat)
def _sign_up_to_eat(meal: Meal, command: m.SignUpToEat) -> list[m.MealEvent]:
    mid, who, portions = meal.meal_id, command.crew_id, command.portions
    _require_open_for_sign_up(meal)
    if meal.eats(who):
        return []
    assert meal.plan is not None
    seats = meal.plan.seats
    if seats is not None and meal.portions + portions > seats:
        left = seats - meal.portions
        raise MealFull(f"meal {mid} has {left} of {seats} seats left")
    return [
        m.SignedUpToEat(meal_id=mid, crew_id=who, portions=portions, diet_note=command.diet_note)
    ]


@DECIDE.on(m.CancelEating)
def _cancel_eating(meal: Meal, command: m.CancelEating) -> list[m.MealEvent]:
    _require_not_over(meal)
    if not meal.eats(command.crew_id):
        raise NotSignedUp(f"{command.crew_id} has not signed up to eat at meal {meal.meal_id}")
    return [m.CancelledEating(meal_id=meal.meal_id, crew_id=command.crew_id)]


@DECIDE.on(m.CloseMeal)
def _close(meal: Meal, command: m.CloseMeal) -> list[m.MealEvent]:
    if meal.status == "closed":
        return []
    _require_open_for_sign_up(meal)
    return [m.MealClosed(meal_id=meal.meal_id)]


@DECIDE.on(m.RecordMealServed)
def _served(meal: Meal, command: m.RecordMealServed) -> list[m.MealEvent]:
    if meal.status == "served":
        return []
    _require_not_over(meal)
    return [m.MealServed(meal_id=meal.meal_id, diners=command.diners)]


@DECIDE.on(m.RescheduleMeal)
def _reschedule(meal: Meal, command: m.RescheduleMeal) -> list[m.MealEvent]:
    _require_not_over(meal)
    assert meal.plan is not None
    if (meal.plan.date, meal.plan.time) == (command.date, command.time):
        return []
    return [m.MealRescheduled(meal_id=meal.meal_id, date=command.date, time=command.time)]


@DECIDE.on(m.CancelMeal)
def _cancel(meal: Meal, command: m.CancelMeal) -> list[m.MealEvent]:
    if meal.status == "cancelled":
        return []
    _require_not_over(meal)
    return [m.MealCancelled(meal_id=meal.meal_id, reason=command.reason)]


def evolve(meal: Meal, event: m.MealEvent) -> Meal:
    match event:
        case m.MealPlanned():
            return replace(meal, status="open", plan=event)
        case m.VolunteeredToCook(crew_id=who, role="head_cook"):
            return replace(meal, head_cook=who)
        case m.VolunteeredToCook(crew_id=who):
            return replace(meal, helpers=(*meal.helpers, who))
        case m.WaitlistedToHelp(crew_id=who):
            return replace(meal, waitlist=(*meal.waitlist, who))
        case m.PromotedFromWaitlist(crew_id=who):
            waiting = tuple(w for w in meal.waitlist if w != who)
            return replace(meal, helpers=(*meal.helpers, who), waitlist=waiting)
        case m.Withdrew(crew_id=who):
            return replace(
                meal,
                head_cook=None if meal.head_cook == who else meal.head_cook,
                helpers=tuple(h for h in meal.helpers if h != who),
                waitlist=tuple(w for w in meal.waitlist if w != who),
            )
        case m.SignedUpToEat(crew_id=who, portions=portions):
            return replace(meal, diners=(*meal.diners, (who, portions)))
        case m.CancelledEating(crew_id=who):
            return replace(meal, diners=tuple(d for d in meal.diners if d[0] != who))
        case m.MealClosed():
            return replace(meal, status="closed")
        case m.MealServed():
            return replace(meal, status="served")
        case m.MealRescheduled(date=day, time=at) if meal.plan is not None:
            return replace(meal, plan=replace(meal.plan, date=day, time=at))
        case m.MealCancelled():
            return replace(meal, status="cancelled")
    return meal


MEALS = Decider(
    context=m.CONTEXT,
    commands=dict(m.COMMANDS),
    event_types=m.EVENTS,
    initial=initial,
    decide=decide,
    evolve=evolve,
    aggregate_of=lambda command: command.meal_id,
)
