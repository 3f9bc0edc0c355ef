"""Who is who: the crew registry (file), display names (in memory), and the restricted details.

No name, contact detail, destination or note is ever written to the DuckDB file. Display
names, and where a redirected newcomer was pointed, live in the in-memory catalog `personal`
of the projector's instance, so everyday views can show them; contact details, what brought a
newcomer and conversation notes live in a separate in-memory instance that only
`crew sql --restricted` reads. Both are rebuilt from the log (decrypting it) when the
projector starts; forgetting a person deletes their rows, and their key is gone."""

from __future__ import annotations

import datetime
from typing import Any

import msgspec
from msgspec.structs import replace

from projections.view import Fact, KeyedFold
from schemas import onboarding as o

NAMES_DDL = """
create table if not exists personal.people (
    person_id    varchar primary key,
    display_name varchar,
    updated_at   timestamptz,
    redirected_to varchar
);
"""

REGISTRY_DDL = """
create table if not exists crew_registry_rows (
    person_id              varchar primary key,
    stage                  varchar,
    arrivals               integer,
    arrived_at             timestamptz,
    conversation_host      varchar,
    conversation_at        timestamptz,
    conversation_held_at   timestamptz,
    onboarded_at           timestamptz,
    registered_at          timestamptz,
    redirected_at          timestamptz,
    redirected_to          varchar,
    buddy_crew_id          varchar,
    forgotten_at           timestamptz,
    updated_at             timestamptz,
    last_seq               bigint
);
-- Who holds the coordinator role now (onboarding.coordinator_granted / _revoked).
create table if not exists coordinator_rows (
    person_id   varchar primary key,
    coordinator boolean,
    changed_at  timestamptz,
    last_seq    bigint
);
create or replace macro display_name(id) as coalesce(
    (select p.display_name from personal.people p where p.person_id = id and p.display_name <> ''),
    (select 'forgotten crew member' from crew_registry_rows r where r.person_id = id and r.stage = 'forgotten'),
    id
);
-- A forgotten crew member stays, as "forgotten crew member": the crew's size and history
-- still count them. A newcomer forgotten before being welcomed was never crew.
create or replace view crew as
select person_id as crew_id, display_name(person_id) as display_name,
       coalesce(onboarded_at, registered_at) as crew_since, buddy_crew_id,
       case when onboarded_at is not null then 'onboarding' else 'registered' end as joined_via,
       stage = 'forgotten' as forgotten,
       coalesce((select c.coordinator from coordinator_rows c
                 where c.person_id = crew_registry_rows.person_id), false) as coordinator
from crew_registry_rows
where stage = 'crew'
   or (stage = 'forgotten' and coalesce(onboarded_at, registered_at) is not null)
order by display_name;
"""

RESTRICTED_DDL = """
create table if not exists people_details (
    person_id  varchar primary key,
    contact    varchar,
    brought_by varchar,
    interests  varchar[],
    updated_at timestamptz
);
create table if not exists conversation_notes (
    person_id     varchar primary key,
    conversations struct(host_crew_id varchar, held_at timestamptz, notes varchar)[]
);
"""


class NameRow(msgspec.Struct):
    person_id: str
    display_name: str = ""
    updated_at: str | datetime.datetime | None = None
    redirected_to: str = ""  # where a newcomer was pointed: personal, so in memory only


class RegistryRow(msgspec.Struct):
    person_id: str
    stage: str = "unknown"
    arrivals: int = 0
    arrived_at: datetime.datetime | None = None
    conversation_host: str | None = None
    conversation_at: datetime.datetime | None = None
    conversation_held_at: datetime.datetime | None = None
    onboarded_at: datetime.datetime | None = None
    registered_at: datetime.datetime | None = None
    redirected_at: datetime.datetime | None = None
    # Never filled any more: where they were pointed is personal, kept in memory (`NameRow`).
    # The column stays for files made before.
    redirected_to: str | None = None
    buddy_crew_id: str | None = None
    forgotten_at: datetime.datetime | None = None
    updated_at: str | datetime.datetime | None = None
    last_seq: int = 0


class CoordinatorRow(msgspec.Struct):
    person_id: str
    coordinator: bool = False
    changed_at: datetime.datetime | None = None
    last_seq: int = 0


class DetailsRow(msgspec.Struct):
    person_id: str
    contact: str = ""
    brought_by: str = ""
    interests: list[str] = []
    updated_at: str | datetime.datetime | None = None


class NotesRow(msgspec.Struct):
    person_id: str
    conversations: list[dict[str, Any]] = []


def person_of(event: object) -> list[str]:
    return [event.person_id] if isinstance(event, o.EVENTS) else []


def fold_name(row: NameRow | None, fact: Fact, person: str) -> NameRow | None:
    match fact.event:
        case o.NewcomerArrived(display_name=name) | o.CrewMemberRegistered(display_name=name):
            return NameRow(person_id=person, display_name=name, updated_at=fact.occurred_at)
        case o.KindlyRedirected(to=to):
            return replace(row or NameRow(person_id=person), redirected_to=to)
        case o.PersonForgotten():
            return None
    return row


def fold_registry(row: RegistryRow | None, fact: Fact, person: str) -> RegistryRow:
    row = row or RegistryRow(person_id=person)
    event = fact.event
    match event:
        case o.NewcomerArrived(arrived_at=at):
            row = replace(
                row,
                stage="newcomer",
                arrivals=row.arrivals + 1,
                arrived_at=at,
                conversation_host=None,
                conversation_at=None,
                conversation_held_at=None,
                redirected_at=None,
                redirected_to=None,
            )
        case o.ConversationScheduled(host_crew_id=host, when=when):
            row = replace(row, conversation_host=host, conversation_at=when)
        case o.ConversationHeld(host_crew_id=host, held_at=at):
            row = replace(row, conversation_host=host, conversation_held_at=at)
        case o.NewcomerOnboarded(onboarded_at=at):
            row = replace(row, stage="crew", onboarded_at=at)
        case o.CrewMemberRegistered(registered_at=at):
            row = replace(row, stage="crew", registered_at=at)
        case o.KindlyRedirected(redirected_at=at):
            row = replace(row, stage="redirected", redirected_at=at)
        case o.BuddyAssigned(buddy_crew_id=buddy):
            row = replace(row, buddy_crew_id=buddy)
        case o.PersonForgotten(forgotten_at=at):
            row = replace(row, stage="forgotten", forgotten_at=at)
    return replace(row, updated_at=fact.occurred_at, last_seq=fact.seq)


def fold_coordinator(row: CoordinatorRow | None, fact: Fact, person: str) -> CoordinatorRow | None:
    match fact.event:
        case o.CoordinatorGranted(granted_at=at):
            return CoordinatorRow(person, True, at, fact.seq)
        case o.CoordinatorRevoked(revoked_at=at):
            return CoordinatorRow(person, False, at, fact.seq)
        case o.PersonForgotten(forgotten_at=at) if row is not None:
            return CoordinatorRow(person, False, at, fact.seq)
    return row


def fold_details(row: DetailsRow | None, fact: Fact, person: str) -> DetailsRow | None:
    match fact.event:
        case o.NewcomerArrived() as e:
            return DetailsRow(
                person_id=person,
                contact=e.contact,
                brought_by=e.brought_by,
                interests=list(e.interests),
                updated_at=fact.occurred_at,
            )
        case o.CrewMemberRegistered(contact=contact):
            base = row or DetailsRow(person_id=person)
            return replace(base, contact=contact or base.contact, updated_at=fact.occurred_at)
        case o.PersonForgotten():
            return None
    return row


def fold_notes(row: NotesRow | None, fact: Fact, person: str) -> NotesRow | None:
    match fact.event:
        case o.ConversationHeld(host_crew_id=host, held_at=at, notes=notes):
            base = row or NotesRow(person_id=person)
            held = {"host_crew_id": host, "held_at": at, "notes": notes}
            return replace(base, conversations=[*base.conversations, held])
        case o.PersonForgotten():
            return None
    return row


NAMES = KeyedFold(
    name="personal.people",
    ddl=NAMES_DDL,
    table="personal.people",
    key="person_id",
    row_type=NameRow,
    keys_of=person_of,
    fold=fold_name,
    where="memory",
    reads=("onboarding",),
)
REGISTRY = KeyedFold(
    name="crew",
    ddl=REGISTRY_DDL,
    table="crew_registry_rows",
    key="person_id",
    row_type=RegistryRow,
    keys_of=person_of,
    fold=fold_registry,
    reads=("onboarding",),
)
COORDINATORS = KeyedFold(
    name="coordinator_rows",
    ddl="",  # made with the registry: the crew view reads it
    table="coordinator_rows",
    key="person_id",
    row_type=CoordinatorRow,
    keys_of=person_of,
    fold=fold_coordinator,
    reads=("onboarding",),
)
DETAILS = KeyedFold(
    name="people_details",
    ddl=RESTRICTED_DDL,
    table="people_details",
    key="person_id",
    row_type=DetailsRow,
    keys_of=person_of,
    fold=fold_details,
    where="restricted",
    reads=("onboarding",),
)
NOTES = KeyedFold(
    name="conversation_notes",
    ddl="",
    table="conversation_notes",
    key="person_id",
    row_type=NotesRow,
    keys_of=person_of,
    fold=fold_notes,
    where="restricted",
    reads=("onboarding",),
)
