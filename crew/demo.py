"""`crew up --demo`: a realistic small house, seeded through the real command path."""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable

import msgspec

from crew import client

CREW = [
    "anna", "bo", "carla", "dorte", "emil", "frida", "gustav", "hanne", "ib", "jonas",
    "karen", "lars", "maja", "niels", "olga", "peter", "rikke", "søren", "tove", "ulla",
]  # fmt: skip


async def seed(nats_url: str, say: Callable[[str], None], days: int = 14, seed: int = 7) -> None:
    rng = random.Random(seed)
    crew = [c.replace("ø", "oe") for c in CREW]
    nc = await client.connect(nats_url, name="crew-demo")
    sent = accepted = 0

    async def send(command: str, body: dict[str, object], key: str) -> None:
        nonlocal sent, accepted
        reply = await client.send(nc, command, msgspec.json.encode(body), command_id=f"demo-{key}")
        sent += 1
        accepted += b'"accepted"' in reply

    today = datetime.date.today()
    try:
        for offset in range(-days // 2, days):
            day = today + datetime.timedelta(days=offset)
            if day.weekday() >= 5:
                continue
            meal = f"meal-{day.isoformat()}"
            await send(
                "meals.plan_meal",
                {"meal_id": meal, "date": day.isoformat(), "helper_slots": 2, "seats": 40},
                f"{meal}-plan",
            )
            cooks = rng.sample(crew, 4)
            await send(
                "meals.volunteer_to_cook",
                {"meal_id": meal, "crew_id": cooks[0], "role": "head_cook"},
                f"{meal}-head",
            )
            for helper in cooks[1 : 1 + rng.randint(0, 3)]:
                await send(
                    "meals.volunteer_to_cook",
                    {"meal_id": meal, "crew_id": helper, "role": "helper"},
                    f"{meal}-{helper}",
                )
            for diner in rng.sample(crew, rng.randint(6, 16)):
                await send(
                    "meals.sign_up_to_eat",
                    {"meal_id": meal, "crew_id": diner, "portions": rng.choice([1, 1, 1, 2])},
                    f"{meal}-eat-{diner}",
                )
            if offset < 0:
                await send("meals.close_meal", {"meal_id": meal}, f"{meal}-close")
                await send("meals.record_meal_served", {"meal_id": meal}, f"{meal}-served")
        say(f"demo: {sent} commands sent, {accepted} accepted")
    finally:
        await nc.close()
