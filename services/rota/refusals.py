"""Every "no" the rota's rules give, each named for its reason; `code` is stable on the wire."""

from __future__ import annotations

from crew.decider import Refusal


class SeriesNotScheduled(Refusal):
    code = "series_not_scheduled"


class SeriesAlreadyScheduled(Refusal):
    code = "series_already_scheduled"


class BadSchedule(Refusal):
    code = "bad_schedule"


class ChangeInThePast(Refusal):
    code = "change_in_the_past"


class LaterChangeExists(Refusal):
    code = "later_change_exists"


class OccurrenceNotFound(Refusal):
    code = "occurrence_not_found"


class OccurrenceCancelled(Refusal):
    code = "occurrence_cancelled"


class WrongKind(Refusal):
    code = "wrong_kind"


class UnknownTask(Refusal):
    code = "unknown_task"


class TaskFull(Refusal):
    code = "task_full"


class ShiftFull(Refusal):
    code = "shift_full"


class AlreadyOnTask(Refusal):
    code = "already_on_task"


class NoTask(Refusal):
    code = "no_task"


class NotSignedUp(Refusal):
    code = "not_signed_up"


class AlreadySignedUp(Refusal):
    code = "already_signed_up"


class NoHandOverOffered(Refusal):
    code = "no_hand_over_offered"


class NoClaim(Refusal):
    code = "no_claim"


class ClaimExpired(Refusal):
    code = "claim_expired"


class NoIntention(Refusal):
    code = "no_intention"


class NotToday(Refusal):
    code = "not_today"


class OccurrenceOver(Refusal):
    code = "occurrence_over"


class NoCookingPlace(Refusal):
    code = "no_cooking_place"
