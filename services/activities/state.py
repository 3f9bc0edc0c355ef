"""What the activities decider remembers of one aggregate, and how each event changes it.

An aggregate id names an activity, an initiative or the book of contributions; the state holds
a part for each, so the three never need to know which one an id was meant for. It holds ids
only: a guest's name stays sealed in the log."""

from __future__ import annotations

from typing import Literal

import msgspec
from msgspec.structs import replace

from schemas import activities as a

Status = Literal["unplanned", "planned", "cancelled"]


class Activity(msgspec.Struct, frozen=True, kw_only=True):
    status: Status = "unplanned"
    plan: a.ActivityPlanned | None = None
    capacity: int | None = None
    places: tuple[str, ...] = ()  # crew ids and guest ids holding a place, in order
    waitlist: tuple[str, ...] = ()
    guests: frozenset[str] = frozenset()
    tasks: tuple[tuple[str, str], ...] = ()  # (task, crew_id)

    @property
    def full(self) -> bool:
        return self.capacity is not None and len(self.places) >= self.capacity

    def holders(self, task: str) -> list[str]:
        return [who for t, who in self.tasks if t == task]


class Initiative(msgspec.Struct, frozen=True, kw_only=True):
    started: bool = False
    lead: str | None = None
    members: tuple[str, ...] = ()


class Book(msgspec.Struct, frozen=True, kw_only=True):
    kinds: dict[str, tuple[str, str]] = msgspec.field(default_factory=lambda: a.STARTING_KINDS)
    recorded: dict[str, a.ContributionRecorded] = {}


class Aggregate(msgspec.Struct, frozen=True, kw_only=True):
    aggregate_id: str
    activity: Activity = Activity()
    initiative: Initiative = Initiative()
    book: Book = Book()


def initial(aggregate_id: str) -> Aggregate:
    return Aggregate(aggregate_id=aggregate_id)


def _without(people: tuple[str, ...], who: str | None) -> tuple[str, ...]:
    return tuple(p for p in people if p != who)


def _promoted(act: Activity, who: str) -> Activity:
    return replace(act, places=(*act.places, who), waitlist=_without(act.waitlist, who))


def evolve_activity(act: Activity, event: a.ActivityEvent) -> Activity:
    match event:
        case a.ActivityPlanned(capacity=capacity):
            return replace(act, status="planned", plan=event, capacity=capacity)
        case a.SignedUpForActivity(crew_id=who):
            return replace(act, places=(*act.places, who))
        case a.WaitlistedForActivity(crew_id=who):
            return replace(act, waitlist=(*act.waitlist, who))
        case a.GuestSignedUp(guest_id=who, waitlisted=waiting):
            guests = act.guests | {who}
            if waiting:
                return replace(act, waitlist=(*act.waitlist, who), guests=guests)
            return replace(act, places=(*act.places, who), guests=guests)
        case a.PromotedOnActivity(crew_id=crew, guest_id=guest):
            return _promoted(act, crew or guest or "")
        case a.WithdrewFromActivity(crew_id=who) | a.GuestWithdrew(guest_id=who):
            return replace(
                act, places=_without(act.places, who), waitlist=_without(act.waitlist, who)
            )
        case a.ActivityChanged(capacity=capacity) if capacity is not None:
            return replace(act, capacity=capacity)
        case a.ActivityCancelled():
            return replace(act, status="cancelled")
        case a.TookActivityTask(crew_id=who, task=task):
            return replace(act, tasks=(*act.tasks, (task, who)))
        case a.DroppedActivityTask(crew_id=who, task=task):
            return replace(act, tasks=tuple(t for t in act.tasks if t != (task, who)))
    return act


def evolve_initiative(ini: Initiative, event: a.ActivityEvent) -> Initiative:
    match event:
        case a.InitiativeStarted(started_by=who):
            return replace(ini, started=True, lead=who, members=(who,))
        case a.JoinedInitiative(crew_id=who):
            return replace(ini, members=(*ini.members, who))
        case a.LeftInitiative(crew_id=who):
            return replace(ini, members=_without(ini.members, who))
        case a.InitiativeHandedOn(to_crew_id=who):
            members = ini.members if who in ini.members else (*ini.members, who)
            return replace(ini, lead=who, members=members)
    return ini


def evolve_book(book: Book, event: a.ActivityEvent) -> Book:
    match event:
        case a.ContributionKindDefined(kind=kind, label_da=da, label_en=en):
            return replace(book, kinds={**book.kinds, kind: (da, en)})
        case a.ContributionRecorded(contribution_id=cid):
            return replace(book, recorded={**book.recorded, cid: event})
    return book


def evolve(state: Aggregate, event: a.ActivityEvent) -> Aggregate:
    match event:
        case a.InitiativeStarted() | a.JoinedInitiative() | a.LeftInitiative():
            return replace(state, initiative=evolve_initiative(state.initiative, event))
        case a.InitiativeHandedOn():
            return replace(state, initiative=evolve_initiative(state.initiative, event))
        case a.ContributionKindDefined() | a.ContributionRecorded():
            return replace(state, book=evolve_book(state.book, event))
    return replace(state, activity=evolve_activity(state.activity, event))
