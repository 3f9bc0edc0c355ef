"""Pure rules of who is told what: decide(person, command) -> events, evolve(person, event).

The notices a rule finds (services/notices/rules.py) are recorded here, per person, once each:
a notice id is made from its rule, what it is about and the person, so finding the same gap
again, after a restart or by a second instance, records nothing new."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Literal

import msgspec
from msgspec.structs import replace

from crew.decider import Decider, Handlers, Refusal
from schemas import notices as n


class NotSubscribed(Refusal):
    code = "not_subscribed"


class NoAddress(Refusal):
    code = "no_address"


class PersonForgotten(Refusal):
    code = "person_forgotten"


class UnknownNotice(Refusal):
    code = "unknown_notice"


NoticeState = Literal["recorded", "sent", "cancelled", "given_up"]


class Notice(msgspec.Struct, frozen=True, kw_only=True):
    topic: n.NoticeTopic
    state: NoticeState = "recorded"


class Person(msgspec.Struct, frozen=True, kw_only=True):
    crew_id: str
    has_address: bool = False
    topics: frozenset[n.Topic] = frozenset()
    notices: dict[str, Notice] = {}
    stopped: bool = False
    page_links: int = 0  # fresh links to their page asked for so far
    page_link_at: datetime | None = None  # when the last one was asked for

    def pending(self, topic: n.NoticeTopic | None = None) -> list[str]:
        """The notices recorded and neither sent nor cancelled (of one topic, or of all)."""
        return [
            notice_id
            for notice_id, notice in self.notices.items()
            if notice.state == "recorded" and topic in (None, notice.topic)
        ]


def initial(crew_id: str) -> Person:
    return Person(crew_id=crew_id)


def _require_not_stopped(person: Person) -> None:
    if person.stopped:
        raise PersonForgotten(f"{person.crew_id} was forgotten: nothing goes to them any more")


DECIDE = Handlers[Person]("notices")
decide = DECIDE.decide


@DECIDE.on(n.SetAddress)
def _set_address(person: Person, command: n.SetAddress) -> list[n.NoticesEvent]:
    _require_not_stopped(person)
    return [n.AddressSet(crew_id=person.crew_id, email=command.email)]


@DECIDE.on(n.Subscribe)
def _subscribe(person: Person, command: n.Subscribe) -> list[n.NoticesEvent]:
    _require_not_stopped(person)
    if command.topic in person.topics:
        return []
    return [n.Subscribed(crew_id=person.crew_id, topic=command.topic)]


@DECIDE.on(n.Unsubscribe)
def _unsubscribe(person: Person, command: n.Unsubscribe) -> list[n.NoticesEvent]:
    if command.topic not in person.topics:
        return []
    events: list[n.NoticesEvent] = [n.Unsubscribed(crew_id=person.crew_id, topic=command.topic)]
    if pending := person.pending(command.topic):
        events.append(
            n.NoticesCancelled(crew_id=person.crew_id, notice_ids=pending, why="unsubscribed")
        )
    return events


PAGE_LINK_EVERY = timedelta(minutes=10)  # a tap more often than this mails nothing new


def page_link_id(crew_id: str, count: int) -> str:
    """The notice id of a person's `count`-th fresh page link: within the 64 of an id."""
    text = f"page-link-{count}-{crew_id}"
    return (
        text
        if len(text) <= 64
        else f"page-link-{count}-{hashlib.sha256(crew_id.encode()).hexdigest()[:40]}"
    )


@DECIDE.on(n.AskForPageLink)
def _ask_for_page_link(person: Person, command: n.AskForPageLink) -> list[n.NoticesEvent]:
    _require_not_stopped(person)
    if not person.has_address:
        raise NoAddress(f"{person.crew_id} has no address to send a link to")
    assert command.at is not None  # the shell stamps every command with its time
    recent = person.page_link_at is not None and command.at - person.page_link_at < PAGE_LINK_EVERY
    if recent or person.pending("page_link"):
        return []  # the one asked for a moment ago is on its way
    return [
        n.NoticeRecorded(
            crew_id=person.crew_id,
            notice_id=page_link_id(person.crew_id, person.page_links + 1),
            topic="page_link",
            rule="page_link",
            about=person.crew_id,
            send_after=command.at,
        )
    ]


@DECIDE.on(n.RecordNotice)
def _record(person: Person, command: n.RecordNotice) -> list[n.NoticesEvent]:
    if command.notice_id in person.notices:
        return []  # found again: already recorded (and perhaps sent)
    _require_not_stopped(person)
    if command.topic not in person.topics:
        raise NotSubscribed(f"{person.crew_id} is not subscribed to {command.topic}")
    if not person.has_address:
        raise NoAddress(f"{person.crew_id} has no address for notices")
    return [
        n.NoticeRecorded(
            crew_id=person.crew_id,
            notice_id=command.notice_id,
            topic=command.topic,
            rule=command.rule,
            about=command.about,
            send_after=command.send_after,
            facts=command.facts,
            listing=command.listing,
        )
    ]


def _still_recorded(person: Person, notice_id: str) -> bool:
    """Whether a notice of theirs is still waiting to go out: a notice already sent, cancelled
    or given up takes no further step (the command is then answered with no events)."""
    notice = person.notices.get(notice_id)
    if notice is None:
        raise UnknownNotice(f"no notice {notice_id} for {person.crew_id}")
    return notice.state == "recorded"


@DECIDE.on(n.MarkSent)
def _mark_sent(person: Person, command: n.MarkSent) -> list[n.NoticesEvent]:
    if not _still_recorded(person, command.notice_id):
        return []  # sent already, or cancelled after the mail server took it: nothing new
    assert command.at is not None  # the shell stamps every command with its time
    return [n.NoticeSent(crew_id=person.crew_id, notice_id=command.notice_id, sent_at=command.at)]


@DECIDE.on(n.CancelNotice)
def _cancel(person: Person, command: n.CancelNotice) -> list[n.NoticesEvent]:
    if not _still_recorded(person, command.notice_id):
        return []  # sent already, or cancelled before: nothing to take back
    return [
        n.NoticesCancelled(crew_id=person.crew_id, notice_ids=[command.notice_id], why=command.why)
    ]


@DECIDE.on(n.GiveUpNotice)
def _give_up(person: Person, command: n.GiveUpNotice) -> list[n.NoticesEvent]:
    if not _still_recorded(person, command.notice_id):
        return []  # sent, cancelled or given up already: nothing to give up
    assert command.at is not None
    return [
        n.NoticeGivenUp(
            crew_id=person.crew_id,
            notice_id=command.notice_id,
            given_up_at=command.at,
            code=command.code,
        )
    ]


@DECIDE.on(n.StopNotices)
def _stop(person: Person, command: n.StopNotices) -> list[n.NoticesEvent]:
    if person.stopped:
        return []
    assert command.at is not None
    events: list[n.NoticesEvent] = []
    if pending := person.pending():
        events.append(
            n.NoticesCancelled(crew_id=person.crew_id, notice_ids=pending, why="forgotten")
        )
    events.append(n.NoticesStopped(crew_id=person.crew_id, stopped_at=command.at))
    return events


def _with_notices(person: Person, ids: list[str], state: NoticeState) -> Person:
    notices = dict(person.notices)
    for notice_id in ids:
        if notice_id in notices:
            notices[notice_id] = replace(notices[notice_id], state=state)
    return replace(person, notices=notices)


def evolve(person: Person, event: n.NoticesEvent) -> Person:
    match event:
        case n.AddressSet(email=email):
            return replace(person, has_address=bool(email))  # forgotten: sealed as ""
        case n.Subscribed(topic=topic):
            return replace(person, topics=person.topics | {topic})
        case n.Unsubscribed(topic=topic):
            return replace(person, topics=person.topics - {topic})
        case n.NoticeRecorded(notice_id=notice_id, topic=topic, send_after=asked_at):
            person = replace(person, notices={**person.notices, notice_id: Notice(topic=topic)})
            if topic == "page_link":
                person = replace(person, page_links=person.page_links + 1, page_link_at=asked_at)
            return person
        case n.NoticeSent(notice_id=notice_id):
            return _with_notices(person, [notice_id], "sent")
        case n.NoticesCancelled(notice_ids=ids):
            return _with_notices(person, ids, "cancelled")
        case n.NoticeGivenUp(notice_id=notice_id):
            return _with_notices(person, [notice_id], "given_up")
        case n.NoticesStopped():
            return replace(person, stopped=True, has_address=False, topics=frozenset())
    return person


NOTICES = Decider(
    context=n.CONTEXT,
    commands=dict(n.COMMANDS),
    event_types=n.EVENTS,
    initial=initial,
    decide=decide,
    evolve=evolve,
    aggregate_of=lambda command: command.crew_id,
)
