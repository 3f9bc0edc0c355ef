"""Pure rules of what to tell whom: fold the log into a `Picture`, then ask `due`.

`see(picture, event, recorded_at, seq)` takes one decoded event of any context, in log order.
`due(picture, now, quiet)` lists every notice that should be recorded now and is not yet: only
for people subscribed to its topic, with an address, not stopped and not forgotten. No clock,
no I/O: the service passes `now`, and records each `Due` with `notices.record_notice`.

A notice id is made from its rule, what it is about and the person (and, for something that
happened to one person, the event's stream sequence), so the same gap found again gives the
same id, and the decider records it once.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo

import msgspec

from schemas import meals as m
from schemas import notices as n
from schemas import onboarding as o
from schemas import rota as r
from schemas.common import HOUSE_TIMEZONE

HOUSE = ZoneInfo(HOUSE_TIMEZONE)
COOK_AHEAD = datetime.timedelta(hours=36)  # a meal this close without a head cook: tell
HELPERS_AHEAD = datetime.timedelta(hours=24)  # a meal this close with open helper places: tell
NEWCOMER_AFTER = datetime.timedelta(hours=1)  # waiting this long with nothing scheduled: tell
# Older than this, a newcomer is no longer "waiting" and a change to a sign-up is old news: a
# house that starts its notices on a long log does not mail about last year.
NEWCOMER_UNTIL = datetime.timedelta(days=7)
PERSONAL_FRESH = datetime.timedelta(hours=48)

Rule = Literal[
    "meal_needs_cook",
    "meal_needs_helpers",
    "newcomer_waiting",
    "sign_up_affected",
    "task_released",
    "claim_released",
]
MealStatus = Literal["open", "closed", "served", "cancelled"]


# The picture -------------------------------------------------------------------------------


@dataclass
class Meal:
    date: datetime.date
    time: str  # HH:MM, house time
    helper_slots: int
    head_cook: str | None = None
    helpers: list[str] = field(default_factory=list)
    waitlist: list[str] = field(default_factory=list)
    status: MealStatus = "open"

    def starts(self) -> datetime.datetime:
        hour, minute = (int(part) for part in self.time.split(":"))
        day = self.date
        return datetime.datetime(day.year, day.month, day.day, hour, minute, tzinfo=HOUSE)

    def open_places(self) -> int:
        return max(0, self.helper_slots - len(self.helpers))

    def has(self, crew_id: str) -> bool:
        """On the meal already: head cook, helper or waiting to help."""
        return crew_id == self.head_cook or crew_id in self.helpers or crew_id in self.waitlist


@dataclass
class Newcomer:
    arrived_at: datetime.datetime
    waiting: bool = True  # False once a conversation is scheduled or held, or they moved on


@dataclass
class Occurrence:
    title: str
    date: datetime.date
    start: str


@dataclass(frozen=True)
class Happened:
    """Something that happened to one person's sign-up or claim: theirs to be told."""

    seq: int
    recorded_at: datetime.datetime
    event: r.SignUpAffected | r.ClaimReleased


@dataclass
class Subscriber:
    topics: set[str] = field(default_factory=set)
    has_address: bool = False
    stopped: bool = False


@dataclass
class Picture:
    """What the rules know, folded from the log by `see`."""

    meals: dict[str, Meal] = field(default_factory=dict)
    newcomers: dict[str, Newcomer] = field(default_factory=dict)
    occurrences: dict[str, Occurrence] = field(default_factory=dict)
    happened: list[Happened] = field(default_factory=list)
    people: dict[str, Subscriber] = field(default_factory=dict)
    forgotten: set[str] = field(default_factory=set)
    recorded: set[str] = field(default_factory=set)

    def reachable(self, crew_id: str, topic: n.Topic) -> bool:
        """Subscribed to the topic, with an address, neither stopped nor forgotten."""
        person = self.people.get(crew_id)
        return (
            person is not None
            and topic in person.topics
            and person.has_address
            and not person.stopped
            and crew_id not in self.forgotten
        )

    def subscribers(self, topic: n.Topic) -> list[str]:
        return sorted(who for who in self.people if self.reachable(who, topic))


# Folding ----------------------------------------------------------------------------------


def see(picture: Picture, event: msgspec.Struct, recorded_at: datetime.datetime, seq: int) -> None:
    """Take one event of any context into the picture; events the rules need not are skipped.
    `seq` is its stream sequence: it tells two changes to the same sign-up apart."""
    if isinstance(event, m.EVENTS):
        _see_meal(picture, event)
    elif isinstance(event, o.EVENTS):
        _see_newcomer(picture, event)
    elif isinstance(event, r.EVENTS):
        _see_rota(picture, event, _aware(recorded_at), seq)
    elif isinstance(event, n.EVENTS):
        _see_notices(picture, event)


def _aware(at: datetime.datetime) -> datetime.datetime:
    """A time without an offset (none is written so; an old event might be) is read as UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=datetime.UTC)


def _see_meal(picture: Picture, event: m.MealEvent) -> None:
    if isinstance(event, m.MealPlanned):
        picture.meals[event.meal_id] = Meal(
            date=event.date, time=event.time, helper_slots=event.helper_slots
        )
        return
    meal = picture.meals.get(event.meal_id)
    if meal is None:
        return
    match event:
        case m.VolunteeredToCook(crew_id=who, role="head_cook"):
            meal.head_cook = who
        case m.VolunteeredToCook(crew_id=who):
            meal.helpers.append(who)
        case m.WaitlistedToHelp(crew_id=who):
            meal.waitlist.append(who)
        case m.PromotedFromWaitlist(crew_id=who):
            meal.waitlist = [w for w in meal.waitlist if w != who]
            meal.helpers.append(who)
        case m.Withdrew(crew_id=who):
            meal.head_cook = None if meal.head_cook == who else meal.head_cook
            meal.helpers = [h for h in meal.helpers if h != who]
            meal.waitlist = [w for w in meal.waitlist if w != who]
        case m.MealRescheduled(date=day, time=at):
            meal.date, meal.time = day, at
        case m.MealClosed():
            meal.status = "closed"
        case m.MealServed():
            meal.status = "served"
        case m.MealCancelled():
            meal.status = "cancelled"


def _see_newcomer(picture: Picture, event: o.OnboardingEvent) -> None:
    match event:
        case o.NewcomerArrived(person_id=who, arrived_at=at):
            picture.newcomers[who] = Newcomer(arrived_at=_aware(at))
        case o.PersonForgotten(person_id=who):
            picture.forgotten.add(who)
            picture.newcomers.pop(who, None)
        case (
            o.ConversationScheduled(person_id=who)
            | o.ConversationHeld(person_id=who)
            | o.NewcomerOnboarded(person_id=who)
            | o.KindlyRedirected(person_id=who)
        ) if who in picture.newcomers:
            picture.newcomers[who].waiting = False


def _see_rota(
    picture: Picture, event: r.RotaEvent, recorded_at: datetime.datetime, seq: int
) -> None:
    match event:
        case r.OccurrenceScheduled(occurrence_id=occ, title=title, date=day, start=start):
            picture.occurrences[occ] = Occurrence(title=title, date=day, start=start)
        case (
            r.OccurrenceMoved(occurrence_id=occ, date=day, start=start)
            | r.OccurrenceRestored(occurrence_id=occ, date=day, start=start)
        ) if occ in picture.occurrences:
            picture.occurrences[occ].date = day
            picture.occurrences[occ].start = start
        case r.OccurrenceChanged(occurrence_id=occ, start=start) if occ in picture.occurrences:
            picture.occurrences[occ].start = start
            picture.occurrences[occ].date = event.date or picture.occurrences[occ].date
        case r.SignUpAffected() | r.ClaimReleased():
            cutoff = recorded_at - PERSONAL_FRESH  # keep the picture small: old news goes
            picture.happened = [h for h in picture.happened if h.recorded_at >= cutoff]
            picture.happened.append(Happened(seq=seq, recorded_at=recorded_at, event=event))


def _see_notices(picture: Picture, event: n.NoticesEvent) -> None:
    person = picture.people.setdefault(event.crew_id, Subscriber())
    match event:
        case n.AddressSet(email=email):
            person.has_address = bool(email)  # a forgotten address reads as ""
        case n.Subscribed(topic=topic):
            person.topics.add(topic)
        case n.Unsubscribed(topic=topic):
            person.topics.discard(topic)
        case n.NoticeRecorded(notice_id=notice_id):
            picture.recorded.add(notice_id)
        case n.NoticesStopped():
            person.stopped, person.has_address, person.topics = True, False, set()


# Quiet hours ------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuietHours:
    """No mail from `start_hour` to `end_hour`, house time; 21-08 runs past midnight."""

    start_hour: int = 21
    end_hour: int = 8

    def __post_init__(self) -> None:
        hours = (self.start_hour, self.end_hour)
        if not all(0 <= hour <= 23 for hour in hours) or self.start_hour == self.end_hour:
            raise ValueError(f"quiet hours {hours}: two different hours from 0 to 23")

    @staticmethod
    def parse(text: str) -> QuietHours | None:
        """`21-08` (from 21:00 to 08:00), or `none` for no quiet hours."""
        said = text.strip().lower()
        if said == "none":
            return None
        found = re.fullmatch(r"(\d{1,2})-(\d{1,2})", said)
        if found:
            start, end = int(found[1]), int(found[2])
            if 0 <= start <= 23 and 0 <= end <= 23 and start != end:
                return QuietHours(start_hour=start, end_hour=end)
        raise ValueError(
            f"quiet hours {text!r}: expected two different hours HH-HH (e.g. 21-08) or none"
        )

    def holds(self, hour: int) -> bool:
        if self.start_hour < self.end_hour:
            return self.start_hour <= hour < self.end_hour
        return hour >= self.start_hour or hour < self.end_hour


def send_after(now: datetime.datetime, quiet: QuietHours | None) -> datetime.datetime:
    """The first moment at or after `now` outside quiet hours, in house time."""
    if now.tzinfo is None:
        raise ValueError(f"now {now} has no UTC offset")
    local = now.astimezone(HOUSE)
    if quiet is None or not quiet.holds(local.hour):
        return now
    day = local.date()
    if quiet.start_hour > quiet.end_hour and local.hour >= quiet.start_hour:
        day += datetime.timedelta(days=1)  # quiet runs past midnight: it ends tomorrow
    wall = datetime.datetime(day.year, day.month, day.day, quiet.end_hour, tzinfo=HOUSE)
    # a wall time a DST change skips (02:30 in March) is read as the moment after the gap
    return max(now, wall.astimezone(datetime.UTC).astimezone(HOUSE))


# The rules --------------------------------------------------------------------------------


class Due(msgspec.Struct, frozen=True, kw_only=True):
    """A notice to record: for whom, which, about what, from when, and plain facts (no names,
    no contact details) to write the mail from."""

    crew_id: str
    notice_id: str
    topic: n.Topic
    rule: Rule
    about: str
    send_after: datetime.datetime
    facts: dict[str, str]


def notice_id(rule: str, about: str, crew_id: str, occasion: str = "") -> str:
    """The same rule, subject and person (and occasion) give the same id, always: the rule,
    then 20 hex digits of a sha256 (at most 39 characters, a valid `Id`)."""
    key = "\x1f".join((rule, about, crew_id, occasion)).encode()
    return f"{rule}-{hashlib.sha256(key).hexdigest()[:20]}"


def due(picture: Picture, now: datetime.datetime, quiet: QuietHours | None) -> list[Due]:
    """Every notice that should be recorded now and is not recorded yet."""
    after = send_after(now, quiet)
    found = [
        *_meal_notices(picture, now, after),
        *_newcomer_notices(picture, now, after),
        *_personal_notices(picture, now, after),
    ]
    fresh = [d for d in found if d.notice_id not in picture.recorded]
    return sorted(fresh, key=lambda d: (d.rule, d.about, d.crew_id, d.notice_id))


def _meal_notices(picture: Picture, now: datetime.datetime, after: datetime.datetime) -> list[Due]:
    found: list[Due] = []
    for meal_id, meal in picture.meals.items():
        starts = meal.starts()
        # past, started, or a notice that would wait until after it starts: nothing to say
        if meal.status != "open" or not now < starts or not after < starts:
            continue
        facts = {"date": meal.date.isoformat(), "time": meal.time, "meal_id": meal_id}
        if meal.head_cook is None and starts - now <= COOK_AHEAD:
            found += _to_subscribers(picture, "meal_needs_cook", meal_id, after, facts, meal)
        if (places := meal.open_places()) and starts - now <= HELPERS_AHEAD:
            helper_facts = {**facts, "open_places": str(places)}
            found += _to_subscribers(
                picture, "meal_needs_helpers", meal_id, after, helper_facts, meal
            )
    return found


def _to_subscribers(
    picture: Picture,
    rule: Literal["meal_needs_cook", "meal_needs_helpers", "newcomer_waiting"],
    about: str,
    after: datetime.datetime,
    facts: dict[str, str],
    meal: Meal | None = None,
) -> list[Due]:
    """One notice for each subscriber to the rule's topic (the topic is named as the rule)
    who is not on the meal already."""
    return [
        Due(
            crew_id=who,
            notice_id=notice_id(rule, about, who),
            topic=rule,
            rule=rule,
            about=about,
            send_after=after,
            facts=dict(facts),
        )
        for who in picture.subscribers(rule)
        if meal is None or not meal.has(who)
    ]


def _newcomer_notices(
    picture: Picture, now: datetime.datetime, after: datetime.datetime
) -> list[Due]:
    found: list[Due] = []
    for newcomer_id, newcomer in picture.newcomers.items():
        waited = now - newcomer.arrived_at
        if not newcomer.waiting or not NEWCOMER_AFTER < waited <= NEWCOMER_UNTIL:
            continue
        facts = {"arrived": newcomer.arrived_at.astimezone(HOUSE).isoformat()}
        found += _to_subscribers(picture, "newcomer_waiting", newcomer_id, after, facts)
    return found


def _personal_notices(
    picture: Picture, now: datetime.datetime, after: datetime.datetime
) -> list[Due]:
    found: list[Due] = []
    for happened in picture.happened:
        event = happened.event
        if now - happened.recorded_at > PERSONAL_FRESH:
            continue  # old news
        if not picture.reachable(event.crew_id, "my_sign_ups"):
            continue
        rule: Rule = "claim_released"
        # The rota's reason for a released claim may name who took the place: left out.
        facts = {**_occurrence_facts(picture, event.occurrence_id), "reason": ""}
        if isinstance(event, r.SignUpAffected):
            rule = "task_released" if event.outcome == "task_released" else "sign_up_affected"
            facts.update(_affected_facts(picture, event))
        found.append(
            Due(
                crew_id=event.crew_id,
                notice_id=notice_id(rule, event.occurrence_id, event.crew_id, str(happened.seq)),
                topic="my_sign_ups",
                rule=rule,
                about=event.occurrence_id,
                send_after=after,
                facts=facts,
            )
        )
    return found


def _occurrence_facts(picture: Picture, occurrence_id: str, prefix: str = "") -> dict[str, str]:
    occurrence = picture.occurrences.get(occurrence_id)
    if occurrence is None:
        return {}
    return {
        f"{prefix}title": occurrence.title,
        f"{prefix}date": occurrence.date.isoformat(),
        f"{prefix}start": occurrence.start,
    }


# What a sign-up's outcome was, in the words of the mail (services/notices/mail.py).
WHAT = {"kept": "changed", "moved": "moved", "released": "cancelled", "task_released": "changed"}


def _affected_facts(picture: Picture, event: r.SignUpAffected) -> dict[str, str]:
    """The outcome, and the task and the new occurrence if there are; the reason is the rota's
    own words (the change and its date), never a person's."""
    facts = {"outcome": event.outcome, "what": WHAT[event.outcome], "reason": event.reason}
    if event.task:
        facts["task"] = event.task
    if event.moved_to:
        facts.update(_occurrence_facts(picture, event.moved_to, prefix="moved_to_"))
    return facts
