"""The daily joint meal: who cooks, who helps, who eats.

Commands are imperative and arrive on `crew.cmd.meals.<command>`; their body is the Struct
without the `type` field (the subject names it). Events are past-tense facts on
`crew.evt.meals.<meal_id>.<name>`, with the Struct (tag included) as payload.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

import msgspec

from schemas.common import END, Id, ShortText, personal

CONTEXT = "meals"

Role = Literal["head_cook", "helper"]
ClockTime = Annotated[
    str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d" + END, description="HH:MM")
]
HelperSlots = Annotated[int, msgspec.Meta(ge=0, le=50)]
Seats = Annotated[int, msgspec.Meta(ge=1, le=500)]
Portions = Annotated[int, msgspec.Meta(ge=1, le=20)]
DietNote = Annotated[
    str,
    personal("crew_id", description="for the cooks; personal (health) data, encrypted in the log"),
]
WithdrawReason = Annotated[
    str,
    personal("crew_id", description="why they stepped back, in their words; encrypted in the log"),
]


class _Command(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    meal_id: Id


class PlanMeal(_Command, frozen=True, kw_only=True, tag="meals.plan_meal"):
    """Put a meal on the calendar: one head-cook slot, `helper_slots` helpers, optional seats.
    The daily joint meal is lunch: 12:00 unless said otherwise; `ends_at` (HH:MM) gives its
    length to the hours a contribution counts."""

    date: datetime.date
    time: ClockTime = "12:00"
    helper_slots: HelperSlots
    seats: Seats | None = None
    ends_at: ClockTime | None = None


class VolunteerToCook(_Command, frozen=True, kw_only=True, tag="meals.volunteer_to_cook"):
    """Take the head-cook slot or a helper slot. A full helper team puts you on the waitlist."""

    crew_id: Id
    role: Role


class Withdraw(_Command, frozen=True, kw_only=True, tag="meals.withdraw"):
    """Step back from cooking or helping (or leave the waitlist). The first waiting helper moves up."""

    crew_id: Id
    reason: ShortText = ""


class SignUpToEat(_Command, frozen=True, kw_only=True, tag="meals.sign_up_to_eat"):
    """Join the meal as a diner, with portions (children, guests) and a diet note for the cooks."""

    crew_id: Id
    portions: Portions = 1
    diet_note: ShortText = ""


class CancelEating(_Command, frozen=True, kw_only=True, tag="meals.cancel_eating"):
    """Take back a sign-up to eat."""

    crew_id: Id


class CloseMeal(_Command, frozen=True, kw_only=True, tag="meals.close_meal"):
    """Close sign-ups so the cooks can shop. Withdrawals stay possible."""


class RecordMealServed(_Command, frozen=True, kw_only=True, tag="meals.record_meal_served"):
    """The meal happened. `diners` is the head count at the table, if someone counted."""

    diners: Annotated[int, msgspec.Meta(ge=0, le=1000)] | None = None


class RescheduleMeal(_Command, frozen=True, kw_only=True, tag="meals.reschedule_meal"):
    """Move a meal to another day or time; everyone signed up stays signed up."""

    date: datetime.date
    time: ClockTime


class CancelMeal(_Command, frozen=True, kw_only=True, tag="meals.cancel_meal"):
    """Call the meal off, with a reason everyone signed up will see."""

    reason: ShortText = ""


MealCommand = (
    PlanMeal
    | VolunteerToCook
    | Withdraw
    | SignUpToEat
    | CancelEating
    | CloseMeal
    | RecordMealServed
    | RescheduleMeal
    | CancelMeal
)
COMMANDS: dict[str, type[MealCommand]] = {
    "plan_meal": PlanMeal,
    "volunteer_to_cook": VolunteerToCook,
    "withdraw": Withdraw,
    "sign_up_to_eat": SignUpToEat,
    "cancel_eating": CancelEating,
    "close_meal": CloseMeal,
    "record_meal_served": RecordMealServed,
    "reschedule_meal": RescheduleMeal,
    "cancel_meal": CancelMeal,
}


class _Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    meal_id: Id


class MealPlanned(_Event, frozen=True, kw_only=True, tag="meals.meal_planned"):
    date: datetime.date
    time: str
    helper_slots: int
    seats: int | None = None
    ends_at: str | None = None


class VolunteeredToCook(_Event, frozen=True, kw_only=True, tag="meals.volunteered_to_cook"):
    crew_id: Id
    role: Role


class WaitlistedToHelp(_Event, frozen=True, kw_only=True, tag="meals.waitlisted_to_help"):
    """The helper team was full; this person is next in line."""

    crew_id: Id


class PromotedFromWaitlist(_Event, frozen=True, kw_only=True, tag="meals.promoted_from_waitlist"):
    """A helper slot opened and the first person waiting took it."""

    crew_id: Id


class Withdrew(_Event, frozen=True, kw_only=True, tag="meals.withdrew"):
    """`role` is what they stepped back from: head_cook, helper or waitlist."""

    crew_id: Id
    role: Literal["head_cook", "helper", "waitlist"]
    reason: WithdrawReason = ""


class SignedUpToEat(_Event, frozen=True, kw_only=True, tag="meals.signed_up_to_eat"):
    crew_id: Id
    portions: int = 1
    diet_note: DietNote = ""


class CancelledEating(_Event, frozen=True, kw_only=True, tag="meals.cancelled_eating"):
    crew_id: Id


class MealClosed(_Event, frozen=True, kw_only=True, tag="meals.meal_closed"):
    pass


class MealServed(_Event, frozen=True, kw_only=True, tag="meals.meal_served"):
    diners: int | None = None


class MealRescheduled(_Event, frozen=True, kw_only=True, tag="meals.meal_rescheduled"):
    date: datetime.date
    time: str


class MealCancelled(_Event, frozen=True, kw_only=True, tag="meals.meal_cancelled"):
    reason: str = ""


MealEvent = (
    MealPlanned
    | VolunteeredToCook
    | WaitlistedToHelp
    | PromotedFromWaitlist
    | Withdrew
    | SignedUpToEat
    | CancelledEating
    | MealClosed
    | MealServed
    | MealRescheduled
    | MealCancelled
)
EVENTS: tuple[type[MealEvent], ...] = MealEvent.__args__  # type: ignore[attr-defined]
