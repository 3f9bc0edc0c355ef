"""Beyond the three routines: one-off activities and workshops, initiatives, and contributions
of any kind.

Three kinds of aggregate share the context: an activity (`activity_id`), an initiative
(`initiative_id`) and the house's book of contributions (the aggregate `contributions`, which
holds the house-defined kinds, so a contribution's kind is checked against the list it knew).
Struct names are unique across contexts (the schema documents name them), hence
`SignUpForActivity` where the wire says `activities.sign_up`.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

import msgspec

from schemas.common import Id, ShortText, by_name, personal

CONTEXT = "activities"
BOOK = "contributions"  # the aggregate of contribution kinds and recorded contributions
STARTING_KINDS = {  # kind: (label_da, label_en); the house adds more
    "good_atmosphere": ("God stemning", "Good atmosphere"),
    "fixed_something": ("Reparerede noget", "Fixed something"),
    "baked": ("Bagte", "Baked"),
    "welcomed_guests": ("Tog imod gæster", "Welcomed guests"),
}

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Capacity = Annotated[int, msgspec.Meta(ge=1, le=1000)]
Minutes = Annotated[int, msgspec.Meta(ge=1, le=24 * 60)]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
GuestName = Annotated[str, personal("guest_id", description="the guest's name; encrypted")]
GuestContact = Annotated[str, personal("guest_id", description="how to reach the guest; encrypted")]
ContributionNote = Annotated[str, personal("crew_id", description="in their words; encrypted")]


class Need(msgspec.Struct, frozen=True, kw_only=True):
    """A task the activity needs done, by up to `capacity` people ("the task sets the team")."""

    task: Id
    capacity: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1


class _OnActivity(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    activity_id: Id


class PlanActivity(_OnActivity, frozen=True, kw_only=True, tag="activities.plan_activity"):
    """Put a one-off activity or workshop on the calendar. No capacity: room for everyone."""

    title: Title
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    capacity: Capacity | None = None
    place: ShortText = ""
    description: ShortText = ""
    initiative_id: Id | None = None
    open_to_guests: bool = False
    fee_note: ShortText = ""
    needs: list[Need] = []


class SignUpForActivity(_OnActivity, frozen=True, kw_only=True, tag="activities.sign_up"):
    """Take a place; when the activity is full, the place is on the waitlist."""

    crew_id: Id


class WithdrawFromActivity(_OnActivity, frozen=True, kw_only=True, tag="activities.withdraw"):
    """Give a place (or a place on the waitlist) back; the first one waiting moves up."""

    crew_id: Id


class SignUpGuest(_OnActivity, frozen=True, kw_only=True, tag="activities.sign_up_guest"):
    """An outside participant. Their name and contact are sealed under the guest's own key."""

    guest_id: Id
    display_name: Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
    contact: ShortText = ""


class WithdrawGuest(_OnActivity, frozen=True, kw_only=True, tag="activities.withdraw_guest"):
    """The guest's place goes back; the first one waiting moves up."""

    guest_id: Id


class ChangeActivity(_OnActivity, frozen=True, kw_only=True, tag="activities.change_activity"):
    """Change what, when or where, with a reason everyone signed up is told. Unset: unchanged.
    A larger capacity moves people up from the waitlist; a smaller one bumps no one."""

    reason: Reason
    title: Title | None = None
    starts_at: datetime.datetime | None = None
    ends_at: datetime.datetime | None = None
    capacity: Capacity | None = None
    place: ShortText | None = None
    description: ShortText | None = None
    fee_note: ShortText | None = None


class CancelActivity(_OnActivity, frozen=True, kw_only=True, tag="activities.cancel_activity"):
    """Call it off, with a reason everyone signed up is told."""

    reason: Reason


class TakeActivityTask(_OnActivity, frozen=True, kw_only=True, tag="activities.take_task"):
    """Take one of the tasks the activity needs, as at a cleaning party."""

    crew_id: Id
    task: Id


class DropActivityTask(_OnActivity, frozen=True, kw_only=True, tag="activities.drop_task"):
    crew_id: Id
    task: Id


class _OnInitiative(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    initiative_id: Id


class StartInitiative(_OnInitiative, frozen=True, kw_only=True, tag="activities.start_initiative"):
    """An initiative grows from a personal impulse: whoever starts it leads it first."""

    title: Title
    started_by: Id
    description: ShortText = ""


class JoinInitiative(_OnInitiative, frozen=True, kw_only=True, tag="activities.join_initiative"):
    crew_id: Id


class LeaveInitiative(_OnInitiative, frozen=True, kw_only=True, tag="activities.leave_initiative"):
    """The lead hands it on before leaving: leadership passes on, it is not held."""

    crew_id: Id


class HandOnInitiative(
    _OnInitiative, frozen=True, kw_only=True, tag="activities.hand_on_initiative"
):
    """Pass the lead to `to_crew_id`, who joins if they had not."""

    to_crew_id: Id


class DefineContributionKind(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    tag_field="type",
    tag="activities.define_contribution_kind",
):
    """Add a kind to the house's open list (or relabel one)."""

    kind: Id
    label_da: Label
    label_en: Label


class RecordContribution(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    tag_field="type",
    tag="activities.record_contribution",
):
    """Anyone records their own contribution, or another person's: `crew_id` is the one credited."""

    contribution_id: Id
    crew_id: Id
    kind: Id
    note: ShortText = ""
    minutes: Minutes | None = None
    on: datetime.date | None = None


ActivityCommand = (
    PlanActivity
    | SignUpForActivity
    | WithdrawFromActivity
    | SignUpGuest
    | WithdrawGuest
    | ChangeActivity
    | CancelActivity
    | TakeActivityTask
    | DropActivityTask
    | StartInitiative
    | JoinInitiative
    | LeaveInitiative
    | HandOnInitiative
    | DefineContributionKind
    | RecordContribution
)
COMMANDS: dict[str, type[ActivityCommand]] = by_name(ActivityCommand)


class _ActivityEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    activity_id: Id


class ActivityPlanned(_ActivityEvent, frozen=True, kw_only=True, tag="activities.activity_planned"):
    title: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    capacity: int | None = None
    place: str = ""
    description: str = ""
    initiative_id: str | None = None
    open_to_guests: bool = False
    fee_note: str = ""
    needs: list[Need] = []


class SignedUpForActivity(_ActivityEvent, frozen=True, kw_only=True, tag="activities.signed_up"):
    crew_id: Id


class WaitlistedForActivity(_ActivityEvent, frozen=True, kw_only=True, tag="activities.waitlisted"):
    """The activity was full; this person is next in line."""

    crew_id: Id


class GuestSignedUp(_ActivityEvent, frozen=True, kw_only=True, tag="activities.guest_signed_up"):
    """`waitlisted`: the activity was full and the guest is in line."""

    guest_id: Id
    display_name: GuestName
    contact: GuestContact = ""
    waitlisted: bool = False


class PromotedOnActivity(
    _ActivityEvent, frozen=True, kw_only=True, tag="activities.promoted_from_waitlist"
):
    """A place opened and the first one waiting took it: a crew member or a guest."""

    crew_id: Id | None = None
    guest_id: Id | None = None


class WithdrewFromActivity(_ActivityEvent, frozen=True, kw_only=True, tag="activities.withdrew"):
    crew_id: Id
    was: Literal["signed_up", "waitlisted"] = "signed_up"


class GuestWithdrew(_ActivityEvent, frozen=True, kw_only=True, tag="activities.guest_withdrew"):
    guest_id: Id


class ActivityChanged(_ActivityEvent, frozen=True, kw_only=True, tag="activities.activity_changed"):
    """What changed (unset: unchanged), and why."""

    reason: str
    title: str | None = None
    starts_at: datetime.datetime | None = None
    ends_at: datetime.datetime | None = None
    capacity: int | None = None
    place: str | None = None
    description: str | None = None
    fee_note: str | None = None


class ActivityCancelled(
    _ActivityEvent, frozen=True, kw_only=True, tag="activities.activity_cancelled"
):
    reason: str


class ActivitySignUpAffected(
    _ActivityEvent, frozen=True, kw_only=True, tag="activities.sign_up_affected"
):
    """What a change or cancellation did to one crew member's place or task (for their notice).
    `role`: `place`, `waitlist` or the task they held."""

    crew_id: Id
    outcome: Literal["changed", "cancelled"]
    role: str = "place"
    reason: str = ""


class TookActivityTask(_ActivityEvent, frozen=True, kw_only=True, tag="activities.took_task"):
    crew_id: Id
    task: Id


class DroppedActivityTask(_ActivityEvent, frozen=True, kw_only=True, tag="activities.dropped_task"):
    crew_id: Id
    task: Id


class _InitiativeEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    initiative_id: Id


class InitiativeStarted(
    _InitiativeEvent, frozen=True, kw_only=True, tag="activities.initiative_started"
):
    title: str
    started_by: Id
    description: str = ""


class JoinedInitiative(
    _InitiativeEvent, frozen=True, kw_only=True, tag="activities.joined_initiative"
):
    crew_id: Id


class LeftInitiative(_InitiativeEvent, frozen=True, kw_only=True, tag="activities.left_initiative"):
    crew_id: Id


class InitiativeHandedOn(
    _InitiativeEvent, frozen=True, kw_only=True, tag="activities.initiative_handed_on"
):
    from_crew_id: Id
    to_crew_id: Id


class ContributionKindDefined(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    tag_field="type",
    tag="activities.contribution_kind_defined",
):
    kind: Id
    label_da: str
    label_en: str


class ContributionRecorded(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    tag_field="type",
    tag="activities.contribution_recorded",
):
    contribution_id: Id
    crew_id: Id
    kind: Id
    note: ContributionNote = ""
    minutes: int | None = None
    on: datetime.date | None = None


ActivityEvent = (
    ActivityPlanned
    | SignedUpForActivity
    | WaitlistedForActivity
    | GuestSignedUp
    | PromotedOnActivity
    | WithdrewFromActivity
    | GuestWithdrew
    | ActivityChanged
    | ActivityCancelled
    | ActivitySignUpAffected
    | TookActivityTask
    | DroppedActivityTask
    | InitiativeStarted
    | JoinedInitiative
    | LeftInitiative
    | InitiativeHandedOn
    | ContributionKindDefined
    | ContributionRecorded
)
EVENTS: tuple[type[ActivityEvent], ...] = ActivityEvent.__args__  # type: ignore[attr-defined]
