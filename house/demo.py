"""`crew up --demo`: a realistic small house, seeded through the real command path.

Twenty crew members and five newcomers at every stage of onboarding, and six newcomers of the
past half year who were welcomed and joined in; lunch, the daily joint meal, Monday to Friday
from a rota series, with cooks, helpers and diners; two initiatives, a season of activities
(one full, with a waitlist and guests) and contributions of several kinds
(house/demo_activities.py); the weekly cleaning party on Thursdays with its tasks; a morning
duty shift; standing
intentions, a hand-over, check-ins; and half a year of past meal days in which three people
carry most of the cooking, three regulars have drifted away, and one person's load is rising
steeply; half a year of past cleaning parties and opening shifts, with check-ins, so every chart
of the coordinators' dashboard and the report has data; an extra meal tomorrow with no cook, and
three people who asked to hear of it. The generator is seeded: the same seed
gives the same house."""

from __future__ import annotations

import asyncio
import datetime
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import msgspec
from nats.aio.client import Client as NATS

from house import client
from house.demo_activities import seed_activities
from schemas.common import Accepted, Refused, Reply, house_today, reply_decoder

NAMES = {
    "anna": "Anna Holm", "bo": "Bo Madsen", "carla": "Carla Nørgaard", "dorte": "Dorte Lund",
    "emil": "Emil Krogh", "frida": "Frida Bach", "gustav": "Gustav Bak", "hanne": "Hanne Juhl",
    "ib": "Ib Sørensen", "jonas": "Jonas Friis", "karen": "Karen Dam", "lars": "Lars Vinther",
    "maja": "Maja Skov", "niels": "Niels Brandt", "olga": "Olga Iversen", "peter": "Peter Kjær",
    "rikke": "Rikke Møller", "soeren": "Søren Ravn", "tove": "Tove Winther", "ulla": "Ulla Thygesen",
}  # fmt: skip
CREW = list(NAMES)
NEWCOMERS = {
    "nora": ("Nora Ahmadi", "welcomed"),
    "otto": ("Otto Berg", "redirected"),
    "petra": ("Petra Lind", "talked"),
    "rasmus": ("Rasmus Holt", "scheduled"),
    "sofie": ("Sofie Kaas", "arrived"),
}


class Seeder:
    def __init__(self, nc: NATS, say: Callable[[str], None]) -> None:
        self.nc = nc
        self.say = say
        self.sent = 0
        self.accepted = 0
        self.refused: Counter[str] = Counter()  # as in a real house: a task fills up

    async def send(self, command: str, body: dict[str, Any], key: str) -> Reply:
        reply = await client.send(
            self.nc, command, msgspec.json.encode(body), command_id=f"demo-{key}"[:64]
        )
        self.sent += 1
        answer = reply_decoder.decode(reply)
        match answer:
            case Accepted():
                self.accepted += 1
            case Refused(code=code):
                self.refused[code] += 1
            case _:
                self.refused[str(type(answer).__struct_config__.tag)] += 1
        if self.sent % 100 == 0:
            self.say(f"  demo: {self.sent} commands sent ...")
        return answer


async def wait_for_meal(nc: NATS, meal_id: str) -> None:
    """Meal days are planned by the meals service following the rota: wait until it has."""
    for _ in range(100):
        raw = await client.request_json(
            nc,
            "crew.query.sql",
            {"sql": "select 1 from meal_plan where meal_id = ?", "params": [meal_id]},
            10,
            "query service",
        )
        if msgspec.json.decode(raw).get("rows"):
            return
        await asyncio.sleep(0.1)


async def seed_newcomers(s: Seeder, rng: random.Random) -> None:
    host_at = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=2)).isoformat()
    for newcomer, (name, stage) in NEWCOMERS.items():
        await s.send(
            "onboarding.register_newcomer",
            {
                "newcomer_id": newcomer,
                "display_name": name,
                "brought_by": "the joint meal",
                "interests": rng.sample(
                    ["cooking", "gardening", "repairs", "music", "children"], 2
                ),
            },
            f"new-{newcomer}",
        )
        if stage == "arrived":
            continue
        host = rng.choice(CREW)
        await s.send(
            "onboarding.schedule_conversation",
            {"newcomer_id": newcomer, "host_crew_id": host, "when": host_at},
            f"sched-{newcomer}",
        )
        if stage == "scheduled":
            continue
        await s.send(
            "onboarding.record_conversation",
            {"newcomer_id": newcomer, "host_crew_id": host, "notes": "a good talk about the house"},
            f"talk-{newcomer}",
        )
        if stage == "welcomed":
            await s.send(
                "onboarding.onboard_newcomer",
                {"newcomer_id": newcomer, "buddy_crew_id": host},
                f"welcome-{newcomer}",
            )
        elif stage == "redirected":
            await s.send(
                "onboarding.redirect_newcomer",
                {"newcomer_id": newcomer, "to": "the climbing club", "why": "looking for sport"},
                f"redirect-{newcomer}",
            )


CARRIERS = ("anna", "bo", "carla")  # the ildsjæle who carry most of it
DRIFTERS = ("gustav", "hanne", "ib")  # regular until about three months ago, then gone quiet
RISING = "dorte"  # whose load climbs steeply in the last weeks: the burnout watch should see her
ACTIVE = [c for c in CREW if c not in DRIFTERS]


async def seed_history(s: Seeder, rng: random.Random, weeks: int = 26) -> None:
    """Half a year of past meal days, so that every coordinator view has something to say."""
    today = house_today()
    regulars = [c for c in CREW if c not in (*CARRIERS, *DRIFTERS, RISING)]
    for back in range(weeks * 7, 0, -1):
        day = today - datetime.timedelta(days=back)
        if day.weekday() >= 5:
            continue
        weeks_ago = back // 7
        people = list(CARRIERS) * 8 + regulars + ([RISING] * (12 if weeks_ago < 4 else 1))
        if weeks_ago >= 12:
            people += list(DRIFTERS) * 3
        cooks: list[str] = []
        while len(cooks) < rng.randint(2, 3):
            pick = rng.choice(people)
            if pick not in cooks:
                cooks.append(pick)
        meal = f"hist-{day:%Y%m%d}"
        await s.send(
            "meals.plan_meal",
            {"meal_id": meal, "date": day, "helper_slots": 2, "seats": 40, "ends_at": "13:30"},
            f"{meal}-p",
        )
        await s.send(
            "meals.volunteer_to_cook",
            {"meal_id": meal, "crew_id": cooks[0], "role": "head_cook"},
            f"{meal}-h",
        )
        for helper in cooks[1:]:
            await s.send(
                "meals.volunteer_to_cook",
                {"meal_id": meal, "crew_id": helper, "role": "helper"},
                f"{meal}-{helper}",
            )
        await s.send("meals.close_meal", {"meal_id": meal}, f"{meal}-c")
        await s.send(
            "meals.record_meal_served",
            {"meal_id": meal, "diners": rng.randint(12, 30)},
            f"{meal}-s",
        )


PAST_SERIES: list[dict[str, Any]] = [  # the half year before this week, scheduled back then
    {
        "series_id": "cleaning-past",
        "kind": "cleaning_party",
        "title": "Cleaning party",
        "weekdays": [3],
        "start": "17:00",
        "end": "19:00",
        "tasks": [{"task": "kitchen", "capacity": 3}, {"task": "floors", "capacity": 4}],
    },
    {
        "series_id": "opening-past",
        "kind": "shift",
        "title": "Open the house",
        "weekdays": [0, 2],
        "start": "08:00",
        "end": "10:00",
        "capacity": 2,
    },
]


def at_on(day: datetime.date, clock: str) -> str:
    """A command's `at` on a past day (house time is near enough UTC for a demo)."""
    return f"{day.isoformat()}T{clock}:00+00:00"


async def seed_past_rota(s: Seeder, rng: random.Random, weeks: int = 26) -> None:
    """Half a year of cleaning parties and opening shifts, each command dated on its day (a
    coordinator may send `at`), with who came: the same few carry most, the drifters stop."""
    monday = house_today() - datetime.timedelta(days=house_today().weekday())
    first = monday - datetime.timedelta(weeks=weeks)
    for series in PAST_SERIES:
        body = {**series, "starts_on": first, "until": monday - datetime.timedelta(days=1)}
        body |= {"weeks_ahead": weeks, "at": at_on(first, "07:00")}
        await s.send("rota.schedule_series", body, series["series_id"])
    for day in (first + datetime.timedelta(days=n) for n in range(weeks * 7)):
        weeks_ago = (monday - day).days // 7
        pool = [c for c in ACTIVE if c != RISING] + list(CARRIERS) * 3
        pool += [RISING] * (6 if weeks_ago < 4 else 0) + list(DRIFTERS if weeks_ago >= 12 else ())
        pool += welcomed_by(weeks_ago)
        if day.weekday() == 3:
            await seed_past_occurrence(s, f"cleaning-past-{day:%Y%m%d}", day, pool, rng, 8)
        elif day.weekday() in (0, 2):
            await seed_past_occurrence(s, f"opening-past-{day:%Y%m%d}", day, pool, rng, 2)


PAST_NEWCOMERS = {  # arrived this many weeks ago, welcomed a week later, then joined in
    "vera": ("Vera Dahl", 22), "william": ("William Eske", 19), "yasmin": ("Yasmin Okafor", 16),
    "zaid": ("Zaid Haddad", 13), "alma": ("Alma Vestergaard", 10), "bjarke": ("Bjarke Lind", 7),
}  # fmt: skip


async def seed_past_newcomers(s: Seeder, monday: datetime.date) -> None:
    """Newcomers of the past half year, each dated on their day: arrived, talked with a host
    five days later, welcomed with a buddy two days after that; the funnel has every step."""
    for n, (newcomer, (name, weeks)) in enumerate(PAST_NEWCOMERS.items()):
        arrived = monday - datetime.timedelta(weeks=weeks)
        talk = arrived + datetime.timedelta(days=5)
        host = CARRIERS[n % len(CARRIERS)]
        steps: list[tuple[str, dict[str, Any], datetime.date]] = [
            ("register_newcomer", {"display_name": name, "brought_by": "a friend"}, arrived),
            (
                "schedule_conversation",
                {"host_crew_id": host, "when": at_on(talk, "16:00")},
                arrived,
            ),
            ("record_conversation", {"host_crew_id": host, "notes": "a good talk"}, talk),
            ("onboard_newcomer", {"buddy_crew_id": host}, talk + datetime.timedelta(days=2)),
        ]
        for command, body, on in steps:
            body = {"newcomer_id": newcomer, **body, "at": at_on(on, "16:30")}
            await s.send(f"onboarding.{command}", body, f"{command}-{newcomer}")


def welcomed_by(weeks_ago: int) -> list[str]:
    """The past newcomers welcomed by then, twice each: new people join in eagerly."""
    return [n for n, (_, weeks) in PAST_NEWCOMERS.items() if weeks_ago < weeks - 1] * 2


async def seed_past_occurrence(
    s: Seeder, occurrence: str, day: datetime.date, pool: list[str], rng: random.Random, n: int
) -> None:
    """Who joined a past party or shift (in the week before), and who checked in on the day."""
    people = list(dict.fromkeys(rng.sample(pool, min(len(pool), n * 2))))[:n]
    join = (
        "rota.sign_up_for_shift" if occurrence.startswith("opening") else "rota.join_cleaning_party"
    )
    joined_at = at_on(day - datetime.timedelta(days=2), "12:00")
    for who in people:
        body = {"occurrence_id": occurrence, "crew_id": who}
        await s.send(join, {**body, "at": joined_at}, f"{occurrence}-{who}")
        if rng.random() < 0.85:
            await s.send(
                "rota.check_in", {**body, "at": at_on(day, "08:05")}, f"{occurrence}-{who}-in"
            )


SERIES: list[dict[str, Any]] = [  # each starts on this week's Monday
    {
        "series_id": "meal-days",
        "kind": "meal",
        "title": "Joint meal",
        "weekdays": [0, 1, 2, 3, 4],
        "start": "12:00",  # the daily joint meal is lunch
        "end": "13:30",
        "weeks_ahead": 2,
        "helper_slots": 2,
        "seats": 40,
    },
    {
        "series_id": "cleaning",
        "kind": "cleaning_party",
        "title": "Cleaning party",
        "weekdays": [3],
        "start": "17:00",
        "end": "19:00",
        "weeks_ahead": 4,
        "tasks": [
            {"task": "kitchen", "capacity": 2},
            {"task": "bathrooms", "capacity": 2},
            {"task": "floors", "capacity": 3},
            {"task": "yard", "capacity": 2},
        ],
    },
    {
        "series_id": "opening",
        "kind": "shift",
        "title": "Open the house",
        "weekdays": [0, 1, 2, 3, 4],
        "start": "08:00",
        "end": "10:00",
        "weeks_ahead": 2,
        "capacity": 2,
    },
]
INTENTIONS: list[dict[str, Any]] = [
    {"series_id": "cleaning", "crew_id": "maja", "task": "kitchen"},
    {"series_id": "meal-days", "crew_id": "lars", "weekdays": [1], "task": "head_cook"},
]


async def seed_series(s: Seeder, monday: datetime.date) -> None:
    """The meal days, the weekly cleaning party and the opening shift, with two intentions."""
    for series in SERIES:
        await s.send("rota.schedule_series", {**series, "starts_on": monday}, series["series_id"])
    for n, intention in enumerate(INTENTIONS, 1):
        await s.send("rota.state_intention", intention, f"i{n}")


async def seed_cleaning_parties(
    s: Seeder, rng: random.Random, monday: datetime.date, today: datetime.date
) -> None:
    """The coming cleaning parties: who joins, who takes which task, and one hand-over."""
    for week in range(4):
        thursday = monday + datetime.timedelta(days=3 + 7 * week)
        if thursday < today:
            continue
        party = f"cleaning-{thursday:%Y%m%d}"
        for who in rng.sample(ACTIVE, rng.randint(6, 11)):
            task = rng.choice(["kitchen", "bathrooms", "floors", "yard", None])
            await s.send(
                "rota.join_cleaning_party",
                {"occurrence_id": party, "crew_id": who},
                f"{party}-{who}",
            )
            if task:
                await s.send(
                    "rota.take_task",
                    {"occurrence_id": party, "crew_id": who, "task": task},
                    f"{party}-{who}-t",
                )
        if week == 1:
            joined = await s.send(
                "rota.join_cleaning_party",
                {"occurrence_id": party, "crew_id": "olga"},
                f"{party}-olga",
            )
            if isinstance(joined, Accepted):
                await s.send(
                    "rota.offer_hand_over", {"occurrence_id": party, "crew_id": "olga"}, "ho1"
                )
                await s.send(
                    "rota.take_hand_over",
                    {"occurrence_id": party, "crew_id": "peter", "from_crew_id": "olga"},
                    "ho2",
                )


async def seed_coming_days(
    s: Seeder, nc: NATS, rng: random.Random, monday: datetime.date, today: datetime.date
) -> None:
    """The next two weeks' opening shifts and meals: cooks, helpers and diners. The first meal
    after today has no cook yet: the notices ask for one, and the dashboard shows the gap."""
    no_cook_yet: datetime.date | None = None
    for offset in range(10):
        day = monday + datetime.timedelta(days=offset + (offset // 5) * 2)
        if day < today:
            continue
        if day > today and no_cook_yet is None:
            no_cook_yet = day
        shift = f"opening-{day:%Y%m%d}"
        for who in rng.sample(ACTIVE, 2):
            await s.send(
                "rota.sign_up_for_shift",
                {"occurrence_id": shift, "crew_id": who},
                f"{shift}-{who}",
            )
        meal = f"meal-days-{day:%Y%m%d}"
        await wait_for_meal(nc, meal)
        cooks = rng.sample(ACTIVE, 4)
        if day != no_cook_yet:
            await s.send(
                "meals.volunteer_to_cook",
                {"meal_id": meal, "crew_id": cooks[0], "role": "head_cook"},
                f"{meal}-head",
            )
        for helper in cooks[1 : 1 + rng.randint(0, 3)]:
            await s.send(
                "meals.volunteer_to_cook",
                {"meal_id": meal, "crew_id": helper, "role": "helper"},
                f"{meal}-{helper}",
            )
        for diner in rng.sample(ACTIVE, rng.randint(6, 16)):
            await s.send(
                "meals.sign_up_to_eat",
                {"meal_id": meal, "crew_id": diner, "portions": rng.choice([1, 1, 1, 2])},
                f"{meal}-eat-{diner}",
            )


async def seed(nats_url: str, say: Callable[[str], None], seed: int = 7) -> None:
    rng = random.Random(seed)
    nc = await client.connect(nats_url, name="crew-demo")
    s = Seeder(nc, say)
    today = house_today()
    monday = today - datetime.timedelta(days=today.weekday())
    try:
        for crew_id, name in NAMES.items():
            await s.send(
                "onboarding.register_crew_member",
                {"crew_id": crew_id, "display_name": name},
                f"crew-{crew_id}",
            )
        await seed_newcomers(s, rng)
        say("  demo: half a year of meal days ...")
        await seed_history(s, rng)
        say("  demo: half a year of cleaning parties, opening shifts and newcomers ...")
        await seed_past_newcomers(s, monday)
        await seed_past_rota(s, rng)
        await seed_series(s, monday)
        await seed_cleaning_parties(s, rng, monday, today)
        await seed_coming_days(s, nc, rng, monday, today)
        tomorrow = today + datetime.timedelta(days=1)  # an extra meal with no cook yet: asked
        extra = {"meal_id": f"extra-{tomorrow:%Y%m%d}", "date": tomorrow, "time": "12:00"}
        await s.send("meals.plan_meal", {**extra, "helper_slots": 2}, "extra-meal")
        for who in ("maja", "lars", "tove"):  # they asked to hear when a meal needs hands
            await s.send(
                "notices.set_address", {"crew_id": who, "email": f"{who}@example.org"}, f"a-{who}"
            )
            for topic in ("meal_needs_cook", "meal_needs_helpers"):
                body = {"crew_id": who, "topic": topic}
                await s.send("notices.subscribe", body, f"s-{who}-{topic}")
        say("  demo: initiatives, a season of activities, contributions of every kind ...")
        others = [c for c in CREW if c not in (*DRIFTERS, RISING)]  # they show what they show
        await seed_activities(s, rng, others)
        today_party = f"cleaning-{today:%Y%m%d}"
        if today.weekday() == 3:
            await s.send(
                "rota.check_in", {"occurrence_id": today_party, "crew_id": "anna"}, "checkin"
            )
        said_no = ", ".join(f"{code} {n}" for code, n in s.refused.most_common())
        say(
            f"demo: {s.sent} commands sent, {s.accepted} accepted"
            + (f"; refused: {said_no}" if said_no else "")
        )
    finally:
        await nc.close()
