"""A small realistic meals workload, sent through the real command shell into JetStream."""

from __future__ import annotations

import asyncio
import random

import msgspec
from nats.aio.client import Client as NATS

from crew.eventstore import JetStreamEventStore
from crew.shell import CommandShell
from services.meals.decider import MEALS


async def meals_workload(nc: NATS, meals: int, seed: int = 1) -> int:
    """Plan `meals` meals with cooks, helpers, waitlists, withdrawals and diners; returns events."""
    rng = random.Random(seed)
    shell = CommandShell(MEALS, JetStreamEventStore(nc))
    crew = [f"crew{i}" for i in range(30)]
    appended = 0

    async def one_meal(n: int) -> None:
        nonlocal appended
        meal = f"meal{n}"

        async def send(command: str, body: dict[str, object], key: str) -> None:
            nonlocal appended
            raw = await shell.handle(
                f"crew.cmd.meals.{command}",
                {"Crew-Command-Id": f"{meal}-{key}"},
                msgspec.json.encode(body),
            )
            appended += len(msgspec.json.decode(raw).get("events", []))

        await send(
            "plan_meal",
            {"meal_id": meal, "date": "2030-01-07", "helper_slots": 2, "seats": 30},
            "p",
        )
        people = rng.sample(crew, 12)
        await send(
            "volunteer_to_cook", {"meal_id": meal, "crew_id": people[0], "role": "head_cook"}, "h"
        )
        for who in people[1:5]:
            await send(
                "volunteer_to_cook", {"meal_id": meal, "crew_id": who, "role": "helper"}, who
            )
        await send("withdraw", {"meal_id": meal, "crew_id": people[1]}, "w")
        for who in people[5:]:
            await send(
                "sign_up_to_eat", {"meal_id": meal, "crew_id": who, "portions": 2}, f"e{who}"
            )
        await send("cancel_eating", {"meal_id": meal, "crew_id": people[6]}, "c")
        await send("close_meal", {"meal_id": meal}, "close")

    for start in range(0, meals, 32):
        await asyncio.gather(*(one_meal(n) for n in range(start, min(start + 32, meals))))
    return appended
