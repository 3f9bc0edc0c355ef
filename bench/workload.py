"""A seeded year in N houses, written straight to the event log (no command path): crew,
daily meals with cooks, helpers and diners, weekly cleaning parties with tasks and check-ins,
newcomers, withdrawals and hand-overs in realistic proportions. About 7,000 events per house.

The events are the real ones (the projector folds them like any other); personal fields are
sealed with real per-person keys, as the shell would.

Also the helper sign-ups the command benchmarks send (`sign_up`)."""

from __future__ import annotations

import asyncio
import datetime
import random
import uuid
from collections.abc import Callable, Iterator

import msgspec
from nats.aio.client import Client as NATS

from crew import subjects
from crew.personal import JetStreamVault, seal_event
from schemas import meals as m
from schemas import onboarding as o
from schemas import rota as r

EPOCH = datetime.datetime(2030, 1, 1, 8, 0, tzinfo=datetime.UTC)
# The seeded year's last evening, house time: the counting views then count all of it (at the
# machine's own now, before 2030, they count nothing yet).
YEAR_END = "2030-12-31 20:00:00"
# The people each phase's sign-ups come from. A prime, so that with any meal count it does
# not divide, the i-th sign-up's meal (i mod meals) and person (i mod PEOPLE) never pair
# twice for i < meals x PEOPLE: every command is a new sign-up, as one person comes again and
# again in a house.
PEOPLE = 1_009


def sign_up(phase: str, i: int, meals: int) -> dict[str, str]:
    """The body of a phase's `i`th helper sign-up: meal `i` mod `meals`, by one of the phase's
    PEOPLE people. Before, every command signed a new person up: the full size's log then held
    110,000 people who came once, beside the houses' 8,000, and the counting views ranked them
    (docs/performance.md, "The bench's people")."""
    if meals % PEOPLE == 0:
        raise ValueError(f"meals: {meals} is a multiple of {PEOPLE}; sign-ups would pair twice")
    return {"meal_id": f"meal{i % meals}", "crew_id": f"{phase}{i % PEOPLE}", "role": "helper"}


def house_events(house: int, rng: random.Random, start: datetime.date) -> Iterator[msgspec.Struct]:
    crew = [f"h{house}-c{n}" for n in range(40)]
    weights = [8 if n < 4 else 3 if n < 20 else 1 for n in range(40)]  # a few carry much of it
    for who in crew:
        yield o.CrewMemberRegistered(person_id=who, display_name=f"Crew {who}", registered_at=EPOCH)
    series = f"h{house}-cleaning"
    tasks = [
        r.TaskSpec(task=t, capacity=c) for t, c in (("kitchen", 2), ("bathrooms", 2), ("floors", 3))
    ]
    yield r.SeriesScheduled(series_id=series, kind="cleaning_party", title="Cleaning party", weekdays=[3],
                            start="17:00", end="19:00", starts_on=start, tasks=tasks, weeks_ahead=4)  # fmt: skip
    for offset in range(365):
        day = start + datetime.timedelta(days=offset)
        if day.weekday() < 5:
            meal = f"h{house}-m{day:%Y%m%d}"
            yield m.MealPlanned(meal_id=meal, date=day, time="17:30", helper_slots=2, seats=40)
            cooks = list(dict.fromkeys(rng.choices(crew, weights, k=4)))[:3]
            yield m.VolunteeredToCook(meal_id=meal, crew_id=cooks[0], role="head_cook")
            for helper in cooks[1:]:
                yield m.VolunteeredToCook(meal_id=meal, crew_id=helper, role="helper")
            if len(cooks) > 2 and rng.random() < 0.1:
                yield m.Withdrew(meal_id=meal, crew_id=cooks[2], role="helper", reason="ill")
            for diner in rng.sample(crew, rng.randint(8, 20)):
                yield m.SignedUpToEat(meal_id=meal, crew_id=diner, portions=rng.choice([1, 1, 2]))
            yield m.MealClosed(meal_id=meal)
            yield m.MealServed(meal_id=meal, diners=rng.randint(10, 30))
        if day.weekday() == 3:
            occ = f"{series}-{day:%Y%m%d}"
            yield r.OccurrenceScheduled(
                series_id=series, occurrence_id=occ, kind="cleaning_party", title="Cleaning party",
                date=day, start="17:00", end="19:00", tasks=tasks,
            )  # fmt: skip
            party = list(dict.fromkeys(rng.choices(crew, weights, k=14)))
            for n, who in enumerate(party):
                yield r.JoinedCleaningParty(series_id=series, occurrence_id=occ, crew_id=who)
                if n < 7:
                    task = tasks[n % 3].task
                    yield r.TookTask(series_id=series, occurrence_id=occ, crew_id=who, task=task)
            if rng.random() < 0.2:
                yield r.HandOverOffered(series_id=series, occurrence_id=occ, crew_id=party[0])
                taker = next(c for c in crew if c not in party)
                yield r.HandOverTaken(
                    series_id=series, occurrence_id=occ, crew_id=taker, from_crew_id=party[0]
                )
            for who in party[: len(party) * 2 // 3]:
                yield r.CheckedIn(series_id=series, occurrence_id=occ, crew_id=who, at=EPOCH)
        if rng.random() < 0.06:
            newcomer = f"h{house}-n{offset}"
            yield o.NewcomerArrived(
                person_id=newcomer, display_name=f"New {newcomer}", arrived_at=EPOCH
            )
            yield o.ConversationHeld(
                person_id=newcomer, host_crew_id=rng.choice(crew), held_at=EPOCH
            )
            if rng.random() < 0.8:
                yield o.NewcomerOnboarded(person_id=newcomer, onboarded_at=EPOCH)
            else:
                yield o.KindlyRedirected(person_id=newcomer, to="the library", redirected_at=EPOCH)


def aggregate_of(event: msgspec.Struct) -> str:
    for field in ("meal_id", "series_id", "person_id"):
        if hasattr(event, field):
            return str(getattr(event, field))
    raise TypeError(type(event).__name__)


async def write(
    nc: NATS, houses: int, seed: int, say: Callable[[str], None], in_flight: int = 256
) -> int:
    """Publish the workload; returns how many events were written."""
    js = nc.jetstream()
    vault = JetStreamVault(nc)
    rng = random.Random(seed)
    start = datetime.date(2030, 1, 6)
    sent = 0
    pending: set[asyncio.Future[object]] = set()
    for house in range(houses):
        for event in house_events(house, rng, start):
            kind = str(type(event).__struct_config__.tag)
            headers = {
                subjects.EVENT_ID: uuid.uuid4().hex,
                subjects.EVENT_TYPE: kind,
                subjects.SCHEMA_VERSION: "1",
                subjects.OCCURRED_AT: EPOCH.isoformat(),
                subjects.ACTOR: "bench",
                subjects.CAUSATION_ID: f"bench-{sent}",
                subjects.CORRELATION_ID: f"bench-{sent}",
                subjects.SOURCE: "bench",
            }
            data = await seal_event(event, vault)
            subject = subjects.event_subject(kind, aggregate_of(event))
            pending.add(asyncio.ensure_future(js.publish(subject, data, headers=headers)))
            sent += 1
            if len(pending) >= in_flight:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for future in done:
                    future.result()
            if sent % 50_000 == 0:
                say(f"  workload: {sent:,} events written ...")
    await asyncio.gather(*pending)
    return sent
