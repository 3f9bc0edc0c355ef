"""The rota: recurring series (the weekly cleaning party, duty shifts, meal days), their
occurrences, sign-ups, tasks, check-ins, hand-overs and standing intentions.

One series is one aggregate: every event of a series and its occurrences is on
`crew.evt.rota.<series_id>.<name>`, so a change to the series can say, atomically, what
happened to every sign-up it touches. An occurrence is named `<series_id>-<YYYYMMDD>` after the
date it was first scheduled for; it keeps that name when it is moved.

Commands that depend on the time carry `at`; the shell fills it in when the caller leaves it
out, so tests and replays drive time explicitly.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

import msgspec

from schemas.common import END, HOUSE_TIMEZONE, Id, ShortText, by_name, personal

CONTEXT = "rota"

SeriesId = Annotated[
    str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,55}" + END, description="1-55 of A-Z a-z 0-9 _ -")
]
OccurrenceId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9_-]{1,55}-[0-9]{8}" + END,
        description="<series_id>-<YYYYMMDD>: the series and the date first scheduled",
    ),
]
Kind = Literal["cleaning_party", "shift", "meal"]
ClockTime = Annotated[
    str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d" + END, description="HH:MM")
]
Weekday = Annotated[int, msgspec.Meta(ge=0, le=6, description="0 = Monday ... 6 = Sunday")]
Weekdays = Annotated[list[Weekday], msgspec.Meta(min_length=1, max_length=7)]
TaskName = Annotated[
    str, msgspec.Meta(pattern=r"^[a-z0-9_-]{1,32}" + END, description="e.g. kitchen")
]
Capacity = Annotated[int, msgspec.Meta(ge=1, le=500)]
At = (
    Annotated[
        datetime.datetime,
        msgspec.Meta(tz=True, description="with its UTC offset, e.g. 2030-01-07T09:00:00+01:00"),
    ]
    | None
)
Reason = Annotated[
    str, msgspec.Meta(min_length=1, max_length=500, description="why; everyone affected sees it")
]
# What a person typed about themselves (why they left or withdrew): encrypted with their key.
OwnReason = Annotated[str, personal("crew_id", description="their own words; encrypted in the log")]
ReleaseCode = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z0-9_]{0,64}" + END,
        description="why, as a code (e.g. head_cook_taken); never free text",
    ),
]


class TaskSpec(msgspec.Struct, frozen=True, kw_only=True):
    task: TaskName
    capacity: Annotated[int, msgspec.Meta(ge=1, le=50)]


# Commands ---------------------------------------------------------------------------------


class _SeriesCommand(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    series_id: SeriesId


class _OccurrenceCommand(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    occurrence_id: OccurrenceId


class ScheduleSeries(_SeriesCommand, frozen=True, kw_only=True, tag="rota.schedule_series"):
    """Start a weekly series; its occurrences are scheduled `weeks_ahead` weeks ahead."""

    kind: Kind
    title: ShortText
    weekdays: Weekdays
    start: ClockTime
    end: ClockTime
    starts_on: datetime.date
    until: datetime.date | None = None
    tasks: list[TaskSpec] = []
    capacity: Capacity | None = None
    weeks_ahead: Annotated[int, msgspec.Meta(ge=1, le=26)] = 4
    withdrawal_cutoff_hours: Annotated[int, msgspec.Meta(ge=0, le=336)] = 24
    claim_confirm_days: Annotated[int, msgspec.Meta(ge=0, le=28)] = 2
    helper_slots: Annotated[int, msgspec.Meta(ge=0, le=50)] = 2
    seats: Capacity | None = None
    initiative_id: Id | None = None  # the initiative that owns it (activities), if one does
    at: At = None


class ChangeSeries(_SeriesCommand, frozen=True, kw_only=True, tag="rota.change_series"):
    """Change a series from a date on. Fields left out stay as they are. Every sign-up the
    change touches gets an event saying what happened to it."""

    effective_from: datetime.date
    weekdays: Weekdays | msgspec.UnsetType = msgspec.UNSET
    start: ClockTime | msgspec.UnsetType = msgspec.UNSET
    end: ClockTime | msgspec.UnsetType = msgspec.UNSET
    until: datetime.date | msgspec.UnsetType | None = msgspec.UNSET
    tasks: list[TaskSpec] | msgspec.UnsetType = msgspec.UNSET
    capacity: Capacity | msgspec.UnsetType | None = msgspec.UNSET
    at: At = None


class AdvanceCalendar(_SeriesCommand, frozen=True, kw_only=True, tag="rota.advance_calendar"):
    """Let time pass: schedule occurrences up to the horizon, release unconfirmed claims."""

    at: At = None


class StateIntention(_SeriesCommand, frozen=True, kw_only=True, tag="rota.state_intention"):
    """ "I usually do the kitchen": a tentative claim on each matching occurrence, released
    unless confirmed `claim_confirm_days` before. For meal days, task is head_cook or helper."""

    crew_id: Id
    weekdays: Weekdays | None = None
    task: TaskName | None = None
    at: At = None


class DropIntention(_SeriesCommand, frozen=True, kw_only=True, tag="rota.drop_intention"):
    crew_id: Id
    at: At = None


class MoveOccurrence(_OccurrenceCommand, frozen=True, kw_only=True, tag="rota.move_occurrence"):
    """Move one occurrence; everyone signed up stays signed up."""

    date: datetime.date
    start: ClockTime | None = None
    end: ClockTime | None = None
    reason: Reason
    at: At = None


class CancelOccurrence(_OccurrenceCommand, frozen=True, kw_only=True, tag="rota.cancel_occurrence"):
    reason: Reason
    at: At = None


class JoinCleaningParty(
    _OccurrenceCommand, frozen=True, kw_only=True, tag="rota.join_cleaning_party"
):
    crew_id: Id
    at: At = None


class LeaveCleaningParty(
    _OccurrenceCommand, frozen=True, kw_only=True, tag="rota.leave_cleaning_party"
):
    crew_id: Id
    reason: ShortText = ""
    at: At = None


class TakeTask(_OccurrenceCommand, frozen=True, kw_only=True, tag="rota.take_task"):
    """Take a task at the cleaning party (joining it too, if need be)."""

    crew_id: Id
    task: TaskName
    at: At = None


class DropTask(_OccurrenceCommand, frozen=True, kw_only=True, tag="rota.drop_task"):
    crew_id: Id
    at: At = None


class SignUpForShift(_OccurrenceCommand, frozen=True, kw_only=True, tag="rota.sign_up_for_shift"):
    crew_id: Id
    at: At = None


class WithdrawFromShift(
    _OccurrenceCommand, frozen=True, kw_only=True, tag="rota.withdraw_from_shift"
):
    """Always allowed; after the series' cut-off it is recorded as late, without judgement."""

    crew_id: Id
    reason: ShortText = ""
    at: At = None


class CheckIn(_OccurrenceCommand, frozen=True, kw_only=True, tag="rota.check_in"):
    """Record at the kiosk that someone actually came (on the day)."""

    crew_id: Id
    at: At = None


class OfferHandOver(_OccurrenceCommand, frozen=True, kw_only=True, tag="rota.offer_hand_over"):
    crew_id: Id
    at: At = None


class TakeHandOver(_OccurrenceCommand, frozen=True, kw_only=True, tag="rota.take_hand_over"):
    """Take the place someone offered: first come, first served."""

    crew_id: Id
    from_crew_id: Id
    at: At = None


class ConfirmClaim(_OccurrenceCommand, frozen=True, kw_only=True, tag="rota.confirm_claim"):
    crew_id: Id
    at: At = None


class ReleaseClaim(_OccurrenceCommand, frozen=True, kw_only=True, tag="rota.release_claim"):
    """Give up a tentative claim. A confirmed cooking claim on a meal day is released only
    with a `code`: the meals refusal code when meals turned it down (its reactor sends this),
    or `withdrew` when the cook stepped back in meals (the rota follows `meals.withdrew`)."""

    crew_id: Id
    code: ReleaseCode = ""
    at: At = None


RotaCommand = (
    ScheduleSeries
    | ChangeSeries
    | AdvanceCalendar
    | StateIntention
    | DropIntention
    | MoveOccurrence
    | CancelOccurrence
    | JoinCleaningParty
    | LeaveCleaningParty
    | TakeTask
    | DropTask
    | SignUpForShift
    | WithdrawFromShift
    | CheckIn
    | OfferHandOver
    | TakeHandOver
    | ConfirmClaim
    | ReleaseClaim
)
COMMANDS: dict[str, type[RotaCommand]] = by_name(RotaCommand)


# Events -----------------------------------------------------------------------------------


class _Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    series_id: str


class _OccurrenceEvent(_Event, frozen=True, kw_only=True):
    occurrence_id: str


class SeriesScheduled(_Event, frozen=True, kw_only=True, tag="rota.series_scheduled"):
    kind: Kind
    title: str
    weekdays: list[int]
    start: str
    end: str
    starts_on: datetime.date
    until: datetime.date | None = None
    tasks: list[TaskSpec] = []
    capacity: int | None = None
    weeks_ahead: int = 4
    withdrawal_cutoff_hours: int = 24
    claim_confirm_days: int = 2
    helper_slots: int = 2
    seats: int | None = None
    timezone: str = HOUSE_TIMEZONE
    initiative_id: str | None = None


class SeriesChanged(_Event, frozen=True, kw_only=True, tag="rota.series_changed"):
    """The series as it is from `effective_from` on (every field, resolved)."""

    effective_from: datetime.date
    weekdays: list[int]
    start: str
    end: str
    until: datetime.date | None = None
    tasks: list[TaskSpec] = []
    capacity: int | None = None


class OccurrenceScheduled(
    _OccurrenceEvent, frozen=True, kw_only=True, tag="rota.occurrence_scheduled"
):
    kind: Kind
    title: str
    date: datetime.date
    start: str
    end: str
    tasks: list[TaskSpec] = []
    capacity: int | None = None
    helper_slots: int = 2
    seats: int | None = None


class _MealDayEvent(_OccurrenceEvent, frozen=True, kw_only=True):
    # Set only on a meal day that a series change brought back (`occurrence_restored`): meals
    # cannot plan a cancelled meal again, so the day's meal has a new id,
    # `<occurrence_id>-r<n>` (the n-th time back). Unset: the meal id is the occurrence id.
    meal_id: str | msgspec.UnsetType = msgspec.UNSET


class OccurrenceChanged(_MealDayEvent, frozen=True, kw_only=True, tag="rota.occurrence_changed"):
    """A series change reached this occurrence: its times, tasks or capacity are now these.
    `kind` and `date` (added later; None on older events) let meal days follow the change."""

    start: str
    end: str
    tasks: list[TaskSpec] = []
    capacity: int | None = None
    kind: Kind | None = None
    date: datetime.date | None = None


class OccurrenceMoved(_MealDayEvent, frozen=True, kw_only=True, tag="rota.occurrence_moved"):
    kind: Kind
    date: datetime.date
    start: str
    end: str
    reason: str = ""


class OccurrenceCancelled(
    _MealDayEvent, frozen=True, kw_only=True, tag="rota.occurrence_cancelled"
):
    """`by_series_change` says a series change cancelled it, not a person: a later change that
    makes its day part of the series again restores it. Events of `Crew-Schema-Version` 1 may
    lack it: a series change said so in its reason ("the series changed from ...")."""

    kind: Kind
    reason: str = ""
    by_series_change: bool


class OccurrenceRestored(_MealDayEvent, frozen=True, kw_only=True, tag="rota.occurrence_restored"):
    """A series change cancelled this occurrence and a later change made its day part of the
    series again: it is back, with the times, tasks and capacity of the series then. On a
    meal day, `meal_id` names the new meal the meals service plans for it."""

    kind: Kind
    date: datetime.date
    start: str
    end: str
    tasks: list[TaskSpec] = []
    capacity: int | None = None
    helper_slots: int = 2
    seats: int | None = None
    reason: str = ""


class SignUpAffected(_OccurrenceEvent, frozen=True, kw_only=True, tag="rota.sign_up_affected"):
    """What a change did to one person's sign-up: kept (at a new time), moved (to
    `moved_to`), released (no place left) or task_released (still in, the task is gone).

    `task` is the task it concerns: the one kept or carried along to `moved_to`, or the one
    released. A move whose task finds no place at the new date is a `moved` without a task,
    followed by a `task_released` on `moved_to` naming the task. Null: no task, as when an
    event of `Crew-Schema-Version` 1 lacks it."""

    crew_id: Id
    outcome: Literal["kept", "moved", "released", "task_released"]
    moved_to: str | None = None
    reason: str = ""
    task: str | None = None


class JoinedCleaningParty(
    _OccurrenceEvent, frozen=True, kw_only=True, tag="rota.joined_cleaning_party"
):
    crew_id: Id


class LeftCleaningParty(
    _OccurrenceEvent, frozen=True, kw_only=True, tag="rota.left_cleaning_party"
):
    crew_id: Id
    late: bool = False
    reason: OwnReason = ""


class TookTask(_OccurrenceEvent, frozen=True, kw_only=True, tag="rota.took_task"):
    crew_id: Id
    task: str


class DroppedTask(_OccurrenceEvent, frozen=True, kw_only=True, tag="rota.dropped_task"):
    crew_id: Id
    task: str


class SignedUpForShift(_OccurrenceEvent, frozen=True, kw_only=True, tag="rota.signed_up_for_shift"):
    crew_id: Id


class WithdrewFromShift(
    _OccurrenceEvent, frozen=True, kw_only=True, tag="rota.withdrew_from_shift"
):
    crew_id: Id
    late: bool = False
    reason: OwnReason = ""


class CheckedIn(_OccurrenceEvent, frozen=True, kw_only=True, tag="rota.checked_in"):
    crew_id: Id
    at: datetime.datetime


class HandOverOffered(_OccurrenceEvent, frozen=True, kw_only=True, tag="rota.hand_over_offered"):
    crew_id: Id


class HandOverTaken(_OccurrenceEvent, frozen=True, kw_only=True, tag="rota.hand_over_taken"):
    """`crew_id` took the place (and task) of `from_crew_id`: they covered for them."""

    crew_id: Id
    from_crew_id: Id
    task: str | None = None


class IntentionStated(_Event, frozen=True, kw_only=True, tag="rota.intention_stated"):
    crew_id: Id
    weekdays: list[int] | None = None
    task: str | None = None


class IntentionDropped(_Event, frozen=True, kw_only=True, tag="rota.intention_dropped"):
    crew_id: Id


class TentativeClaimMade(
    _OccurrenceEvent, frozen=True, kw_only=True, tag="rota.tentative_claim_made"
):
    crew_id: Id
    task: str | None = None


class ClaimConfirmed(_MealDayEvent, frozen=True, kw_only=True, tag="rota.claim_confirmed"):
    kind: Kind
    crew_id: Id
    task: str | None = None


class ClaimReleased(_OccurrenceEvent, frozen=True, kw_only=True, tag="rota.claim_released"):
    crew_id: Id
    reason: str = ""
    # They let it go themselves (released it, took another task or place, dropped the
    # intention): nobody need tell them. False: the calendar or a series change did.
    by_holder: bool = False


RotaEvent = (
    SeriesScheduled
    | SeriesChanged
    | OccurrenceScheduled
    | OccurrenceChanged
    | OccurrenceMoved
    | OccurrenceCancelled
    | OccurrenceRestored
    | SignUpAffected
    | JoinedCleaningParty
    | LeftCleaningParty
    | TookTask
    | DroppedTask
    | SignedUpForShift
    | WithdrewFromShift
    | CheckedIn
    | HandOverOffered
    | HandOverTaken
    | IntentionStated
    | IntentionDropped
    | TentativeClaimMade
    | ClaimConfirmed
    | ClaimReleased
)
EVENTS: tuple[type[RotaEvent], ...] = RotaEvent.__args__  # type: ignore[attr-defined]
