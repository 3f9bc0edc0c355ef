"""The activities context's refusals, each named for its reason, and its table of handlers
(decider.py: activities; initiatives.py: initiatives and contributions)."""

from __future__ import annotations

from crew.decider import Handlers, Refusal
from services.activities.state import Aggregate


class ActivityNotPlanned(Refusal):
    code = "activity_not_planned"


class ActivityAlreadyPlanned(Refusal):
    code = "activity_already_planned"


class ActivityCancelled(Refusal):
    code = "activity_cancelled"


class EndsBeforeItStarts(Refusal):
    code = "ends_before_it_starts"


class NotSignedUp(Refusal):
    code = "not_signed_up"


class NotOpenToGuests(Refusal):
    code = "not_open_to_guests"


class NoSuchTask(Refusal):
    code = "no_such_task"


class TaskFull(Refusal):
    code = "task_full"


class InitiativeNotStarted(Refusal):
    code = "initiative_not_started"


class InitiativeAlreadyStarted(Refusal):
    code = "initiative_already_started"


class LeadHandsOnFirst(Refusal):
    code = "lead_hands_on_first"


class NotAMember(Refusal):
    code = "not_a_member"


class UnknownContributionKind(Refusal):
    code = "unknown_contribution_kind"


class ContributionAlreadyRecorded(Refusal):
    code = "contribution_already_recorded"


DECIDE = Handlers[Aggregate]("activities")
