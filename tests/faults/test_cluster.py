"""Fault 3: a 3-node NATS cluster on loopback, the stream at 3 replicas. The node leading the
stream is killed during load: commands go on, and nothing acknowledged is lost. And `crew up
--cluster 3` runs the whole house on such a cluster."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import nats

from crew import auth, subjects
from tests.conftest import start_house
from tests.faults.harness import Tally, audit, fleet, plan_meals, say, sign_ups
from tests.integration.cli import eventually, send


async def test_losing_the_stream_leader_mid_load_loses_nothing(tmp_path: Path) -> None:
    async with fleet(tmp_path / "home", "services.meals", nodes=3) as (house, nc):
        tally = Tally()
        meal_ids = await plan_meals(nc, 20, tally)

        async def kill_the_leader() -> float:
            while len(tally.accepted) < 20 + 300:
                await asyncio.sleep(0.01)
            info = await nc.jetstream().stream_info(subjects.STREAM)
            assert info.cluster is not None
            leader = next(s for s in house.servers if s.name == info.cluster.leader)
            leader.kill()
            say(f"killed {leader.name}, the stream's leader, after {len(tally.accepted)} accepted")
            return time.monotonic()

        killer = asyncio.create_task(kill_the_leader())
        await sign_ups(nc, 1_500, meal_ids, tally, concurrency=32)
        killed_at = await killer
        after = sum(1 for t in tally.accepted_at if t > killed_at)
        info = await nc.jetstream().stream_info(subjects.STREAM)
        result = await audit(nc, tally)
        say(
            f"3-node cluster, leader killed: {result.line()}; {after} accepted after the kill; "
            f"new leader {info.cluster.leader if info.cluster else '?'}"
        )
        assert info.config.num_replicas == 3
        assert after > 0, "commands went on after the node died"
        assert result.accepted == result.sent
        assert result.lost == 0 and result.duplicated == 0


async def test_crew_up_cluster_3_runs_the_house_on_three_nodes(crew_env: dict[str, str]) -> None:
    with start_house(crew_env, "--cluster", "3") as (env, _):
        send(env, "meals.plan_meal", {"meal_id": "m1", "date": "2030-01-07", "helper_slots": 2})
        eventually(env, "select meal_id from meal_plan", [{"meal_id": "m1"}])
        house = json.loads((Path(env["CREW_HOME"]) / "house.json").read_text())
        nc = await nats.connect(**auth.connection(house["nats_url"]))
        info = await nc.jetstream().stream_info(subjects.STREAM)
        await nc.close()
        assert len(house["nats_url"].split(",")) == 3
        assert info.config.num_replicas == 3
        assert info.cluster is not None and len(info.cluster.replicas or []) == 2
        say(
            f"crew up --cluster 3: stream at {info.config.num_replicas} replicas, leader "
            f"{info.cluster.leader}"
        )
