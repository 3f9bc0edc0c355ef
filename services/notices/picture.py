"""What the notices rules know, folded from the log, and the shape of what they find.

`see(picture, event, recorded_at, seq)` takes one decoded event of any context, in log order,
into a `Picture`: the meals, the newcomers, the rota's occurrences (who is in, who offers their
place, who holds a tentative claim), what happened to one person's sign-up, who wants which
notices, and who holds the coordinator role. A rule (services/notices/rules.py,
services/notices/rota_rules.py) reads the picture and finds `Due`s. No clock, no I/O.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo

import msgspec

from schemas import activities as a
from schemas import meals as m
from schemas import notices as n
from schemas import onboarding as o
from schemas import rota as r
from schemas.common import HOUSE_TIMEZONE

HOUSE = ZoneInfo(HOUSE_TIMEZONE)
# A change to a sign-up older than this is old news: a house that starts its notices on a
# long log does not mail about last year.
PERSONAL_FRESH = datetime.timedelta(hours=48)
FACT_MAX = 200  # a fact's longest value (schemas/notices.py `Facts`); a longer title is cut

Rule = Literal[
    "meal_needs_cook",
    "meal_needs_helpers",
    "newcomer_waiting",
    "sign_up_affected",
    "task_released",
    "claim_released",
    "hand_over",
    "confirm_intention",
    "weekly_digest",
    "burnout_watch",
]
MealStatus = Literal["open", "closed", "served", "cancelled"]


def house_moment(day: datetime.date, clock: str, zone: ZoneInfo = HOUSE) -> datetime.datetime:
    """A date and an HH:MM clock time, in house time."""
    hour, minute = (int(part) for part in clock.split(":"))
    return datetime.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)


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
    # Which gap is open: "" since the meal was planned, else the stream sequence of what
    # opened it again (the head cook or a helper withdrew, the meal moved). A notice is about
    # one gap: a gap that opens again is told again.
    cook_gap: str = ""
    helper_gap: str = ""

    def starts(self) -> datetime.datetime:
        return house_moment(self.date, self.time)

    def open_places(self) -> int:
        return max(0, self.helper_slots - len(self.helpers))

    def has(self, crew_id: str) -> bool:
        """On the meal already: head cook, helper or waiting to help."""
        return crew_id == self.head_cook or crew_id in self.helpers or crew_id in self.waitlist

    def cooks(self, crew_id: str) -> bool:
        """Signed up to cook: head cook or helper (waiting to help is not yet signed up)."""
        return crew_id == self.head_cook or crew_id in self.helpers


@dataclass
class Newcomer:
    arrived_at: datetime.datetime
    waiting: bool = True  # False once a conversation is scheduled or held, or they moved on


@dataclass(frozen=True)
class Claim:
    """A tentative claim from a standing intention. `seq` is the stream sequence of the claim
    made: a claim released and made again is a new claim."""

    seq: int
    task: str | None = None


@dataclass(frozen=True)
class SeriesPlan:
    """What of a series the rules need: how many days before an occurrence a tentative claim
    on it must be confirmed (services/rota/claims.py `past_deadline`), in whose time zone."""

    claim_confirm_days: int = 2
    timezone: str = HOUSE_TIMEZONE


@dataclass
class Occurrence:
    """One occurrence of a rota series, as the rota's own fold (services/rota/evolve.py) has
    who is in, their tasks, the places on offer and the tentative claims."""

    title: str
    date: datetime.date
    start: str
    series_id: str = ""
    kind: str = ""  # meal, cleaning_party or shift
    cancelled: bool = False
    capacity: int | None = None  # a shift's places; None: no limit
    tasks: dict[str, int] = field(default_factory=dict)  # a cleaning party's: task -> team size
    people: list[str] = field(default_factory=list)  # joined the party or signed up
    task_of: dict[str, str] = field(default_factory=dict)
    offers: dict[str, int] = field(default_factory=dict)  # giver -> the offer's stream sequence
    claims: dict[str, Claim] = field(default_factory=dict)

    def starts(self) -> datetime.datetime:
        return house_moment(self.date, self.start)

    def facts(self, prefix: str = "") -> dict[str, str]:
        return {
            f"{prefix}title": self.title[:FACT_MAX],
            f"{prefix}date": self.date.isoformat(),
            f"{prefix}start": self.start,
        }

    def shaped(self, tasks: list[r.TaskSpec], capacity: int | None) -> None:
        """The tasks and capacity it was scheduled (or changed, or restored) with."""
        self.tasks = {spec.task: spec.capacity for spec in tasks}
        self.capacity = capacity

    def open_places(self) -> dict[str, int]:
        """Places still free, as the rota counts them: a shift's capacity less people less
        tentative claims (key ""); each task's team less its holders and claims. A shift
        without a limit and a cleaning party itself have room for everyone: not listed."""
        claimed = [claim.task or "" for claim in self.claims.values()]
        if self.kind == "shift" and self.capacity is not None:
            free = {"": self.capacity - len(self.people) - claimed.count("")}
        elif self.kind == "cleaning_party":
            held = list(self.task_of.values())
            free = {t: size - held.count(t) - claimed.count(t) for t, size in self.tasks.items()}
        else:
            free = {}
        return {task: places for task, places in free.items() if places > 0}

    def join(self, who: str, task: str | None = None) -> None:
        if who not in self.people:
            self.people.append(who)
        if task:
            self.task_of[who] = task

    def leave(self, who: str) -> None:
        """Out, with their task, and their offer ends."""
        self.people = [p for p in self.people if p != who]
        self.task_of.pop(who, None)
        self.offers.pop(who, None)


@dataclass(frozen=True)
class Happened:
    """Something that happened to one person's sign-up or claim: theirs to be told."""

    seq: int
    recorded_at: datetime.datetime
    event: r.SignUpAffected | r.ClaimReleased | a.ActivitySignUpAffected


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
    series: dict[str, SeriesPlan] = field(default_factory=dict)
    occurrences: dict[str, Occurrence] = field(default_factory=dict)
    happened: list[Happened] = field(default_factory=list)
    people: dict[str, Subscriber] = field(default_factory=dict)
    forgotten: set[str] = field(default_factory=set)
    recorded: set[str] = field(default_factory=set)
    coordinators: set[str] = field(default_factory=set)  # who holds the coordinator role now

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
        _see_meal(picture, event, seq)
    elif isinstance(event, o.EVENTS):
        _see_newcomer(picture, event)
    elif isinstance(event, r.EVENTS):
        _see_rota(picture, event, _aware(recorded_at), seq)
        _see_taking_part(picture, event, seq)
    elif isinstance(event, n.EVENTS):
        _see_notices(picture, event)
    elif isinstance(event, a.EVENTS):
        _see_activity(picture, event, _aware(recorded_at), seq)


def _aware(at: datetime.datetime) -> datetime.datetime:
    """A time without an offset (none is written so; an old event might be) is read as UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=datetime.UTC)


def _see_meal(picture: Picture, event: m.MealEvent, seq: int) -> None:
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
            if meal.head_cook == who:
                meal.head_cook, meal.cook_gap = None, str(seq)
            if who in meal.helpers:
                meal.helpers, meal.helper_gap = [h for h in meal.helpers if h != who], str(seq)
            meal.waitlist = [w for w in meal.waitlist if w != who]
        case m.MealRescheduled(date=day, time=at):
            meal.date, meal.time = day, at
            meal.cook_gap = meal.helper_gap = str(seq)
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
            picture.coordinators.discard(who)  # a forgotten person's role ends with them
        case o.CoordinatorGranted(person_id=who) if who not in picture.forgotten:
            picture.coordinators.add(who)
        case o.CoordinatorRevoked(person_id=who):
            picture.coordinators.discard(who)
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
    """The series and their occurrences: when and what they are; what happened to whom."""
    occurrence = picture.occurrences.get(getattr(event, "occurrence_id", ""))
    match event:
        case r.SeriesScheduled(series_id=series, claim_confirm_days=days, timezone=zone):
            picture.series[series] = SeriesPlan(claim_confirm_days=days, timezone=zone)
        case r.OccurrenceScheduled(occurrence_id=occ, title=title, date=day, start=start):
            picture.occurrences[occ] = Occurrence(
                title=title, date=day, start=start, series_id=event.series_id, kind=event.kind
            )
            picture.occurrences[occ].shaped(event.tasks, event.capacity)
        case r.OccurrenceMoved(date=day, start=start) if occurrence is not None:
            occurrence.date, occurrence.start = day, start
        case r.OccurrenceRestored(date=day, start=start) if occurrence is not None:
            occurrence.date, occurrence.start, occurrence.cancelled = day, start, False
            occurrence.shaped(event.tasks, event.capacity)
        case r.OccurrenceCancelled() if occurrence is not None:
            occurrence.cancelled = True
        case r.OccurrenceChanged(start=start) if occurrence is not None:
            occurrence.start = start
            occurrence.date = event.date or occurrence.date
            occurrence.shaped(event.tasks, event.capacity)
        # A claim its holder let go themselves is no news to them: only the house's releases.
        case r.SignUpAffected() | r.ClaimReleased(by_holder=False):
            _happened(picture, Happened(seq=seq, recorded_at=recorded_at, event=event))


def _happened(picture: Picture, happened: Happened) -> None:
    cutoff = happened.recorded_at - PERSONAL_FRESH  # keep the picture small: old news goes
    picture.happened = [h for h in picture.happened if h.recorded_at >= cutoff]
    picture.happened.append(happened)


def _see_activity(
    picture: Picture, event: a.ActivityEvent, recorded_at: datetime.datetime, seq: int
) -> None:
    """An activity is an occurrence to the rules: its title, day and start, in house time;
    what a change or a cancellation did to someone's place is theirs to be told."""
    match event:
        case a.ActivityPlanned(activity_id=aid, title=title, starts_at=starts):
            at = starts.astimezone(HOUSE)
            picture.occurrences[aid] = Occurrence(
                title=title, date=at.date(), start=at.strftime("%H:%M"), kind="activity"
            )
        case a.ActivityChanged(activity_id=aid) if aid in picture.occurrences:
            occurrence = picture.occurrences[aid]
            occurrence.title = event.title or occurrence.title
            if event.starts_at is not None:
                at = event.starts_at.astimezone(HOUSE)
                occurrence.date, occurrence.start = at.date(), at.strftime("%H:%M")
        case a.ActivityCancelled(activity_id=aid) if aid in picture.occurrences:
            picture.occurrences[aid].cancelled = True
        # a place or a task is theirs: the weekly digest lists it among their own sign-ups
        case a.SignedUpForActivity(activity_id=aid, crew_id=who) if aid in picture.occurrences:
            picture.occurrences[aid].join(who)
        case a.PromotedOnActivity(activity_id=aid, crew_id=str(who)) if aid in picture.occurrences:
            picture.occurrences[aid].join(who)
        case a.TookActivityTask(activity_id=aid, crew_id=who, task=task) if (
            aid in picture.occurrences
        ):
            picture.occurrences[aid].join(who, task)
        case a.WithdrewFromActivity(activity_id=aid, crew_id=who) if aid in picture.occurrences:
            if who not in picture.occurrences[aid].task_of:  # a task keeps them in it
                picture.occurrences[aid].leave(who)
        case a.DroppedActivityTask(activity_id=aid, crew_id=who) if aid in picture.occurrences:
            picture.occurrences[aid].task_of.pop(who, None)
        case a.ActivitySignUpAffected():
            _happened(picture, Happened(seq=seq, recorded_at=recorded_at, event=event))


def _see_taking_part(picture: Picture, event: r.RotaEvent, seq: int) -> None:
    """Who is in an occurrence, their tasks, the places on offer and the tentative claims,
    following services/rota/evolve.py."""
    occurrence = picture.occurrences.get(getattr(event, "occurrence_id", ""))
    if occurrence is None:
        return
    match event:
        case r.JoinedCleaningParty(crew_id=who) | r.SignedUpForShift(crew_id=who):
            occurrence.join(who)
        case r.TookTask(crew_id=who, task=task):
            occurrence.join(who, task)
        case r.DroppedTask(crew_id=who):
            occurrence.task_of.pop(who, None)
        case r.LeftCleaningParty(crew_id=who) | r.WithdrewFromShift(crew_id=who):
            occurrence.leave(who)
        case r.HandOverOffered(crew_id=who) if who not in occurrence.offers:
            occurrence.offers[who] = seq
        case r.HandOverTaken(crew_id=taker, from_crew_id=giver, task=task):
            occurrence.people = [taker if p == giver else p for p in occurrence.people]
            occurrence.task_of.pop(giver, None)
            occurrence.offers.pop(giver, None)
            occurrence.claims.pop(taker, None)
            occurrence.join(taker, task)
        case r.TentativeClaimMade(crew_id=who, task=task):
            occurrence.claims[who] = Claim(seq=seq, task=task)
        case r.ClaimConfirmed(crew_id=who) | r.ClaimReleased(crew_id=who):
            occurrence.claims.pop(who, None)
        case r.SignUpAffected(crew_id=who, outcome="task_released"):
            occurrence.task_of.pop(who, None)
        case r.SignUpAffected(crew_id=who, outcome="released"):
            occurrence.leave(who)
        case r.SignUpAffected(crew_id=who, outcome="moved", moved_to=target, task=task):
            occurrence.leave(who)
            if target is not None and target in picture.occurrences:
                picture.occurrences[target].join(who, task)


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


# What a rule finds ------------------------------------------------------------------------


class Due(msgspec.Struct, frozen=True, kw_only=True):
    """A notice to record: for whom, which, about what, from when, and plain facts (no names,
    no contact details) to write the mail from, with what it lists (the weekly digest's)."""

    crew_id: str
    notice_id: str
    topic: n.Topic
    rule: Rule
    about: str
    send_after: datetime.datetime
    facts: dict[str, str]
    listing: list[n.Listed] = []


def notice_id(rule: str, about: str, crew_id: str, occasion: str = "") -> str:
    """The same rule, subject and person (and occasion) give the same id, always: the rule,
    then 20 hex digits of a sha256 (at most 39 characters, a valid `Id`)."""
    key = "\x1f".join((rule, about, crew_id, occasion)).encode()
    return f"{rule}-{hashlib.sha256(key).hexdigest()[:20]}"
