"""`crew up --demo`, beyond the three routines: two initiatives, a season of activities (one
full, with a waitlist and guests) and contributions of several kinds, sent through the real
command path like the rest of the demo (house/demo.py)."""

from __future__ import annotations

import datetime
import random
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from schemas.common import HOUSE_TIMEZONE, house_today

HOUSE = ZoneInfo(HOUSE_TIMEZONE)
INITIATIVES = (
    ("vores-rum", "Vores Rum", "anna", "Vi indretter husets rum sammen.", ("bo", "carla", "jonas")),
    ("skraldecafe", "Skraldecaféen", "frida", "Mad der ellers var smidt ud.", ("karen", "maja")),
)
# (id, title, days from today, start hour, hours, capacity, initiative, open to guests, needs)
SEASON: tuple[tuple[str, str, int, int, int, int | None, str | None, bool, list], ...] = (
    ("repair-1", "Reparationscafé", -20, 10, 3, 12, "vores-rum", True, []),
    ("paint-day", "Maledag i salen", -6, 9, 6, None, "vores-rum", False,
     [{"task": "paint", "capacity": 4}, {"task": "lunch", "capacity": 2}]),
    ("inspiration", "Inspirationsdag: Social Sundhed", 9, 10, 6, 6, None, True,
     [{"task": "coffee", "capacity": 2}]),
    ("trash-cafe", "Skraldecafé", 12, 17, 3, 30, "skraldecafe", True, []),
    ("sewing", "Syværksted", 20, 14, 2, 8, None, False, []),
)  # fmt: skip
GUESTS = (("guest-a1", "Aisha (gæst)"), ("guest-b2", "Birk (gæst)"), ("guest-c3", "Cecilie (gæst)"))
KINDS = ("good_atmosphere", "fixed_something", "baked", "welcomed_guests", "sang")


class Sends(Protocol):
    async def send(self, command: str, body: dict[str, Any], key: str) -> Any: ...


def _at(today: datetime.date, days: int, hour: int) -> datetime.datetime:
    day = today + datetime.timedelta(days=days)
    return datetime.datetime(day.year, day.month, day.day, hour, tzinfo=HOUSE)


async def seed_initiatives(s: Sends) -> None:
    for initiative_id, title, lead, about, members in INITIATIVES:
        body = {"initiative_id": initiative_id, "title": title, "started_by": lead}
        await s.send("activities.start_initiative", {**body, "description": about}, initiative_id)
        for who in members:
            join = {"initiative_id": initiative_id, "crew_id": who}
            await s.send("activities.join_initiative", join, f"{initiative_id}-{who}")
    hand_on = {"initiative_id": "vores-rum", "to_crew_id": "carla"}  # leadership passes on
    await s.send("activities.hand_on_initiative", hand_on, "vores-rum-carla")


async def seed_season(s: Sends, rng: random.Random, crew: list[str]) -> None:
    today = house_today()
    for aid, title, days, hour, hours, capacity, initiative, guests, needs in SEASON:
        plan = {
            "activity_id": aid,
            "title": title,
            "starts_at": _at(today, days, hour).isoformat(),
            "ends_at": _at(today, days, hour + hours).isoformat(),
            "capacity": capacity,
            "place": "Salen",
            "initiative_id": initiative,
            "open_to_guests": guests,
            "fee_note": "50 kr inkl. frokost" if aid == "inspiration" else "",
            "needs": needs,
        }
        await s.send("activities.plan_activity", plan, f"{aid}-p")
        if guests:
            for guest_id, name in GUESTS:
                body = {
                    "activity_id": aid,
                    "guest_id": f"{guest_id}-{aid}"[:64],
                    "display_name": name,
                }
                await s.send("activities.sign_up_guest", body, f"{aid}-{guest_id}")
        # the inspiration day fills up: guests first, then more crew than places: a waitlist
        people = rng.sample(crew, 8 if aid == "inspiration" else rng.randint(3, 6))
        for who in people:
            await s.send("activities.sign_up", {"activity_id": aid, "crew_id": who}, f"{aid}-{who}")
        for need in needs:
            for who in rng.sample(crew, need["capacity"]):
                take = {"activity_id": aid, "crew_id": who, "task": need["task"]}
                await s.send("activities.take_task", take, f"{aid}-{who}-{need['task']}")
        if aid == "inspiration":  # someone steps back: the first one waiting moves up
            body = {"activity_id": aid, "crew_id": people[0]}
            await s.send("activities.withdraw", body, f"{aid}-{people[0]}-w")


async def seed_contributions(s: Sends, rng: random.Random, crew: list[str]) -> None:
    define = {"kind": "sang", "label_da": "Sang for os", "label_en": "Sang for us"}
    await s.send("activities.define_contribution_kind", define, "kind-sang")
    today = house_today()
    for n in range(40):
        body: dict[str, Any] = {
            "contribution_id": f"demo-c{n}",
            "crew_id": rng.choice(crew),
            "kind": rng.choice(KINDS),
            "on": (today - datetime.timedelta(days=rng.randint(0, 90))).isoformat(),
        }
        if rng.random() < 0.5:
            body["minutes"] = rng.choice((15, 30, 60, 120))
        await s.send("activities.record_contribution", body, f"contribution-{n}")


async def seed_activities(s: Sends, rng: random.Random, crew: list[str]) -> None:
    await seed_initiatives(s)
    await seed_season(s, rng, crew)
    await seed_contributions(s, rng, crew)
