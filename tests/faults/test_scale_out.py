"""Scaling out, as docs/operations.md describes it: two instances of a command service share
the commands through their queue group without stepping on each other, and two projector
replicas, each with its own DuckDB file, fold the same log into the same views."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from nats.aio.client import Client as NATS

from projections.projector import stream_last_seq
from tests.faults.harness import Tally, ask, audit, fleet, plan_meals, say, sign_ups, stop
from tests.integration.test_projector import checkpoint_via_query, snapshot


async def test_two_service_instances_and_two_projector_replicas(tmp_path: Path) -> None:
    homes = [tmp_path / "one", tmp_path / "two"]
    async with fleet(tmp_path / "nats") as (house, nc):
        for home in homes:
            await house.start("services.meals", home)
            await house.start("projections", home)
        tally = Tally()
        meal_ids = await plan_meals(nc, 10, tally)  # every instance meets every meal
        await sign_ups(nc, 600, meal_ids, tally, concurrency=32)
        result = await audit(nc, tally)
        conflicts_before = conflicts(homes)
        race = await helpers_race_for_two_slots(nc)
        raced = conflicts(homes) - conflicts_before
        handled = [
            (home / "logs" / "services.meals.log").read_text().count("command_accepted")
            for home in homes
        ]
        last = await stream_last_seq(nc)
        caught_up = 0  # the queue group picks a replica per query: 20 in a row ask both
        while caught_up < 20:
            caught_up = caught_up + 1 if await checkpoint_via_query(nc) >= last else 0
        for process in house.processes:
            stop(process)
        views = [snapshot(home / "views.duckdb") for home in homes]
        say(
            f"two meals instances: {result.line()}; commands accepted by each {handled}; "
            f"two projector replicas at event {views[0]['projector_checkpoint'][0][1]} and "
            f"{views[1]['projector_checkpoint'][0][1]} of {last}, views equal: {views[0] == views[1]}"
        )
        say(
            f"two meals instances, 20 helpers racing for 2 slots: {race}; "
            f"expected-sequence conflicts caught and decided again: {raced}"
        )
        assert race == {"meals.volunteered_to_cook": 2, "meals.waitlisted_to_help": 18}
        assert result.lost == 0 and result.duplicated == 0 and result.accepted == 610
        assert all(n > 50 for n in handled), "the queue group spreads the commands"
        assert views[0] == views[1]
        assert views[0]["projector_checkpoint"][0][1] == last


async def helpers_race_for_two_slots(nc: NATS) -> dict[str, int]:
    """20 helpers at once for 2 slots, answered by whichever instance the queue group picks:
    each instance decides on its own cached meal, and only the append's expected sequence
    keeps them honest."""
    plan = {"meal_id": "race", "date": "2030-03-01", "helper_slots": 2}
    assert (await ask(nc, "meals.plan_meal", plan, "race-plan"))["status"] == "accepted"
    for instance_warm_up in range(4):  # both instances load the meal into their caches
        await ask(
            nc, "meals.withdraw", {"meal_id": "race", "crew_id": "x"}, f"race-w{instance_warm_up}"
        )
    replies = await asyncio.gather(
        *(
            ask(
                nc,
                "meals.volunteer_to_cook",
                {"meal_id": "race", "crew_id": f"c-race-{i}", "role": "helper"},
                f"race-{i}",
                timeout_s=30,
            )
            for i in range(20)
        )
    )
    assert all(r["status"] == "accepted" for r in replies), replies
    return dict(Counter(e["type"] for r in replies for e in r["events"]))


def conflicts(homes: list[Path]) -> int:
    return sum(
        (home / "logs" / "services.meals.log").read_text().count("append_conflict")
        for home in homes
    )
