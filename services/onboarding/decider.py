"""Pure rules of onboarding: decide(person, command) -> events, evolve(person, event) -> person.

One person is one aggregate, from arriving to being crew, kindly redirected, or forgotten.
The decider never needs anyone's name: the state holds only stages and ids, so nothing
personal lingers in a service's memory after someone is forgotten."""

from __future__ import annotations

import datetime
from typing import Any, Literal

import msgspec
from msgspec.structs import replace

from crew.decider import Decider, Handlers, Refusal
from schemas import onboarding as o


class AlreadyCrew(Refusal):
    code = "already_crew"


class AlreadyOnboarded(Refusal):
    code = "already_onboarded"


class AlreadyRedirected(Refusal):
    code = "already_redirected"


class NotANewcomer(Refusal):
    code = "not_a_newcomer"


class IsANewcomer(Refusal):
    code = "is_a_newcomer"


class NoConversationYet(Refusal):
    code = "no_conversation_yet"


class Forgotten(Refusal):
    code = "forgotten"


class OwnBuddy(Refusal):
    code = "own_buddy"


class NotCrew(Refusal):
    code = "not_crew"


Stage = Literal["unknown", "newcomer", "crew", "redirected", "forgotten"]


class Person(msgspec.Struct, frozen=True, kw_only=True):
    person_id: str
    stage: Stage = "unknown"
    arrivals: int = 0
    conversation: o.ConversationScheduled | None = None
    conversation_held: bool = False
    buddy: str | None = None
    coordinator: bool = False


def initial(person_id: str) -> Person:
    return Person(person_id=person_id)


def _at(command: Any) -> datetime.datetime:
    if command.at is None:
        raise ValueError("the command has no time (`at`); the shell fills it in")
    at: datetime.datetime = command.at
    return at


def _require_newcomer(person: Person) -> None:
    match person.stage:
        case "unknown":
            raise NotANewcomer(f"{person.person_id} has not arrived as a newcomer")
        case "crew":
            raise AlreadyOnboarded(f"{person.person_id} is crew already")
        case "redirected":
            raise AlreadyRedirected(
                f"{person.person_id} was pointed to another place; register them again if they came back"
            )
        case "forgotten":
            raise Forgotten(f"{person.person_id} was forgotten")


DECIDE = Handlers[Person]("onboarding")
decide = DECIDE.decide


@DECIDE.on(o.RegisterNewcomer)
def _register_newcomer(person: Person, command: o.RegisterNewcomer) -> list[o.OnboardingEvent]:
    pid = person.person_id
    if person.stage == "crew":
        raise AlreadyCrew(f"{pid} is crew already")
    if person.stage == "forgotten":
        raise Forgotten(f"{pid} was forgotten; a returning person gets a new id")
    if person.stage == "newcomer":
        return []
    return [
        o.NewcomerArrived(
            person_id=pid,
            display_name=command.display_name,
            brought_by=command.brought_by,
            interests=list(command.interests),
            contact=command.contact,
            arrived_at=_at(command),
        )
    ]


@DECIDE.on(o.ScheduleConversation)
def _schedule(person: Person, command: o.ScheduleConversation) -> list[o.OnboardingEvent]:
    _require_newcomer(person)
    scheduled = o.ConversationScheduled(
        person_id=person.person_id, host_crew_id=command.host_crew_id, when=command.when
    )
    return [] if person.conversation == scheduled else [scheduled]


@DECIDE.on(o.RecordConversation)
def _record(person: Person, command: o.RecordConversation) -> list[o.OnboardingEvent]:
    _require_newcomer(person)
    return [
        o.ConversationHeld(
            person_id=person.person_id,
            host_crew_id=command.host_crew_id,
            notes=command.notes,
            held_at=_at(command),
        )
    ]


def _require_conversation(person: Person) -> None:
    _require_newcomer(person)
    if not person.conversation_held:
        raise NoConversationYet(f"{person.person_id} has not had the conversation with a host yet")


@DECIDE.on(o.OnboardNewcomer)
def _onboard(person: Person, command: o.OnboardNewcomer) -> list[o.OnboardingEvent]:
    pid, buddy = person.person_id, command.buddy_crew_id
    _require_conversation(person)
    if buddy == pid:
        raise OwnBuddy("a newcomer cannot be their own buddy")
    events: list[o.OnboardingEvent] = [
        o.NewcomerOnboarded(person_id=pid, onboarded_at=_at(command))
    ]
    if buddy and buddy != person.buddy:
        events.append(o.BuddyAssigned(person_id=pid, buddy_crew_id=buddy))
    return events


@DECIDE.on(o.RedirectNewcomer)
def _redirect(person: Person, command: o.RedirectNewcomer) -> list[o.OnboardingEvent]:
    _require_conversation(person)
    return [
        o.KindlyRedirected(
            person_id=person.person_id, to=command.to, why=command.why, redirected_at=_at(command)
        )
    ]


@DECIDE.on(o.AssignBuddy)
def _assign_buddy(person: Person, command: o.AssignBuddy) -> list[o.OnboardingEvent]:
    pid, buddy = person.person_id, command.buddy_crew_id
    if person.stage not in ("newcomer", "crew"):
        _require_newcomer(person)
    if buddy == pid:
        raise OwnBuddy("nobody is their own buddy")
    return [] if person.buddy == buddy else [o.BuddyAssigned(person_id=pid, buddy_crew_id=buddy)]


@DECIDE.on(o.RegisterCrewMember)
def _register_crew(person: Person, command: o.RegisterCrewMember) -> list[o.OnboardingEvent]:
    pid = person.person_id
    if person.stage == "crew":
        return []
    if person.stage == "newcomer":
        raise IsANewcomer(f"{pid} is a newcomer: onboard them after the conversation")
    if person.stage == "forgotten":
        raise Forgotten(f"{pid} was forgotten; a returning person gets a new id")
    if person.stage == "redirected":
        raise AlreadyRedirected(
            f"{pid} was pointed to another place; if they came back, register them "
            "as a newcomer again and welcome them after the conversation"
        )
    return [
        o.CrewMemberRegistered(
            person_id=pid,
            display_name=command.display_name,
            contact=command.contact,
            registered_at=_at(command),
        )
    ]


@DECIDE.on(o.GrantCoordinator)
def _grant(person: Person, command: o.GrantCoordinator) -> list[o.OnboardingEvent]:
    if person.stage == "forgotten":
        raise Forgotten(f"{person.person_id} was forgotten")
    if person.stage != "crew":
        raise NotCrew(f"{person.person_id} is not crew: only crew can be coordinators")
    if person.coordinator:
        return []
    return [o.CoordinatorGranted(person_id=person.person_id, granted_at=_at(command))]


@DECIDE.on(o.RevokeCoordinator)
def _revoke(person: Person, command: o.RevokeCoordinator) -> list[o.OnboardingEvent]:
    if not person.coordinator:
        return []
    return [o.CoordinatorRevoked(person_id=person.person_id, revoked_at=_at(command))]


@DECIDE.on(o.ForgetPerson)
def _forget(person: Person, command: o.ForgetPerson) -> list[o.OnboardingEvent]:
    if person.stage == "forgotten":
        return []
    return [o.PersonForgotten(person_id=person.person_id, forgotten_at=_at(command))]


def evolve(person: Person, event: o.OnboardingEvent) -> Person:
    match event:
        case o.NewcomerArrived():
            return replace(
                person,
                stage="newcomer",
                arrivals=person.arrivals + 1,
                conversation=None,
                conversation_held=False,
            )
        case o.ConversationScheduled():
            return replace(person, conversation=event)
        case o.ConversationHeld():
            return replace(person, conversation_held=True)
        case o.NewcomerOnboarded() | o.CrewMemberRegistered():
            return replace(person, stage="crew")
        case o.KindlyRedirected():
            return replace(person, stage="redirected")
        case o.BuddyAssigned(buddy_crew_id=buddy):
            return replace(person, buddy=buddy)
        case o.CoordinatorGranted():
            return replace(person, coordinator=True)
        case o.CoordinatorRevoked():
            return replace(person, coordinator=False)
        case o.PersonForgotten():
            return Person(person_id=person.person_id, stage="forgotten", arrivals=person.arrivals)
    return person


def person_of(command: Any) -> str:
    for name in ("newcomer_id", "crew_id", "person_id"):
        if hasattr(command, name):
            return str(getattr(command, name))
    raise TypeError(f"{type(command).__name__} names no person")


ONBOARDING = Decider(
    context=o.CONTEXT,
    commands=dict(o.COMMANDS),
    event_types=o.EVENTS,
    initial=initial,
    decide=decide,
    evolve=evolve,
    aggregate_of=person_of,
    forgets=lambda event: event.person_id if isinstance(event, o.PersonForgotten) else None,
)
