"""Newcomers, the crew registry, and forgetting a person.

One person is one aggregate, `crew.evt.onboarding.<person_id>.*`, from arriving as a newcomer
through the conversation to being welcomed as crew (or kindly pointed elsewhere), and, if they
ask, to being forgotten. A newcomer who is welcomed keeps their id as their crew id.

Fields marked personal are encrypted with the person's key before they reach the log;
`crew forget` destroys the key, so no replay can read them again.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

import msgspec

from schemas.common import Id, ShortText, by_name, personal

CONTEXT = "onboarding"

DisplayName = Annotated[
    str,
    personal("person_id", description="how the house knows them; encrypted in the log"),
]
Contact = Annotated[str, personal("person_id", description="phone or e-mail; encrypted in the log")]
Story = Annotated[str, personal("person_id", description="what brought them; encrypted in the log")]
Notes = Annotated[
    str,
    personal(
        "person_id",
        description="the host's notes from the conversation; restricted; encrypted",
    ),
]
Interest = Annotated[str, personal("person_id")]
# Where a newcomer was pointed says something about them (a club, a counsellor, a shelter).
Destination = Annotated[
    str, personal("person_id", description="where they were pointed; encrypted in the log")
]
At = datetime.datetime | None


class _Command(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    pass


class RegisterNewcomer(_Command, frozen=True, kw_only=True, tag="onboarding.register_newcomer"):
    """Someone new arrived (at the kiosk, or told by a host)."""

    newcomer_id: Id
    display_name: Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
    brought_by: ShortText = ""
    interests: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=60)]], msgspec.Meta(max_length=20)
    ] = []
    contact: Annotated[str, msgspec.Meta(max_length=200)] = ""
    at: At = None


class ScheduleConversation(
    _Command, frozen=True, kw_only=True, tag="onboarding.schedule_conversation"
):
    newcomer_id: Id
    host_crew_id: Id
    when: datetime.datetime
    at: At = None


class RecordConversation(_Command, frozen=True, kw_only=True, tag="onboarding.record_conversation"):
    """The conversation took place. Notes are readable only through the restricted view."""

    newcomer_id: Id
    host_crew_id: Id
    notes: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    at: At = None


class OnboardNewcomer(_Command, frozen=True, kw_only=True, tag="onboarding.onboard_newcomer"):
    """Welcome them as crew; their newcomer id becomes their crew id. Optionally with a buddy."""

    newcomer_id: Id
    buddy_crew_id: Id | None = None
    at: At = None


class RedirectNewcomer(_Command, frozen=True, kw_only=True, tag="onboarding.redirect_newcomer"):
    """They were looking for something else: kindly point them to a better place."""

    newcomer_id: Id
    to: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    why: ShortText = ""
    at: At = None


class AssignBuddy(_Command, frozen=True, kw_only=True, tag="onboarding.assign_buddy"):
    newcomer_id: Id
    buddy_crew_id: Id
    at: At = None


class RegisterCrewMember(
    _Command, frozen=True, kw_only=True, tag="onboarding.register_crew_member"
):
    """Register someone who is crew already (e.g. when a house starts using crew)."""

    crew_id: Id
    display_name: Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
    contact: Annotated[str, msgspec.Meta(max_length=200)] = ""
    at: At = None


class ForgetPerson(_Command, frozen=True, kw_only=True, tag="onboarding.forget_person"):
    """Erase a person's personal data for good (their key is destroyed); their contributions
    stay, as "forgotten crew member"."""

    person_id: Id
    at: At = None


class GrantCoordinator(_Command, frozen=True, kw_only=True, tag="onboarding.grant_coordinator"):
    """Give a crew member the coordinator role (`crew link --coordinator`): the few acts that
    stay with coordinators, such as forgetting a person (docs/pages.md)."""

    crew_id: Id
    at: At = None


class RevokeCoordinator(_Command, frozen=True, kw_only=True, tag="onboarding.revoke_coordinator"):
    """End a crew member's coordinator role (`crew link --coordinator --revoke`)."""

    crew_id: Id
    at: At = None


OnboardingCommand = (
    RegisterNewcomer
    | ScheduleConversation
    | RecordConversation
    | OnboardNewcomer
    | RedirectNewcomer
    | AssignBuddy
    | RegisterCrewMember
    | ForgetPerson
    | GrantCoordinator
    | RevokeCoordinator
)
COMMANDS: dict[str, type[OnboardingCommand]] = by_name(OnboardingCommand)


class _Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    person_id: Id


class NewcomerArrived(_Event, frozen=True, kw_only=True, tag="onboarding.newcomer_arrived"):
    display_name: DisplayName
    brought_by: Story = ""
    interests: list[Interest] = []
    contact: Contact = ""
    arrived_at: datetime.datetime


class ConversationScheduled(
    _Event, frozen=True, kw_only=True, tag="onboarding.conversation_scheduled"
):
    host_crew_id: Id
    when: datetime.datetime


class ConversationHeld(_Event, frozen=True, kw_only=True, tag="onboarding.conversation_held"):
    host_crew_id: Id
    notes: Notes = ""
    held_at: datetime.datetime


class NewcomerOnboarded(_Event, frozen=True, kw_only=True, tag="onboarding.newcomer_onboarded"):
    """Welcomed as crew: `person_id` is now their crew id."""

    onboarded_at: datetime.datetime


class KindlyRedirected(_Event, frozen=True, kw_only=True, tag="onboarding.kindly_redirected"):
    """`to` is sealed since 2026-12-04; older events hold it plain, and read as they are."""

    to: Destination
    why: Story = ""
    redirected_at: datetime.datetime


class BuddyAssigned(_Event, frozen=True, kw_only=True, tag="onboarding.buddy_assigned"):
    buddy_crew_id: Id


class CrewMemberRegistered(
    _Event, frozen=True, kw_only=True, tag="onboarding.crew_member_registered"
):
    display_name: DisplayName
    contact: Contact = ""
    registered_at: datetime.datetime


class PersonForgotten(_Event, frozen=True, kw_only=True, tag="onboarding.person_forgotten"):
    """Their key is destroyed: no replay, view or export can read their personal data again."""

    forgotten_at: datetime.datetime


class CoordinatorGranted(_Event, frozen=True, kw_only=True, tag="onboarding.coordinator_granted"):
    granted_at: datetime.datetime


class CoordinatorRevoked(_Event, frozen=True, kw_only=True, tag="onboarding.coordinator_revoked"):
    revoked_at: datetime.datetime


OnboardingEvent = (
    NewcomerArrived
    | ConversationScheduled
    | ConversationHeld
    | NewcomerOnboarded
    | KindlyRedirected
    | BuddyAssigned
    | CrewMemberRegistered
    | PersonForgotten
    | CoordinatorGranted
    | CoordinatorRevoked
)
EVENTS: tuple[type[OnboardingEvent], ...] = OnboardingEvent.__args__  # type: ignore[attr-defined]
Stage = Literal["newcomer", "crew", "redirected", "forgotten"]
