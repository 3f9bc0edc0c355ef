"""Fault 3: a 3-node NATS cluster on loopback, the stream at 3 replicas. The node leading the
stream is killed during load: commands go on, and nothing acknowledged is lost. And `crew up
--cluster 3` runs the whole house on such a cluster."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import nats

from crew import subjects, urls
from house import auth, natsserver
from tests.conftest import start_house
from tests.faults.harness import Tally, audit, fleet, plan_meals, say, sign_ups
from tests.integration.cli import eventually, send
from tests.polling import eventually_async
from tests.ports import free_port


async def test_losing_the_stream_leader_mid_load_loses_nothing(tmp_path: Path) -> None:
    async with fleet(tmp_path / "home", "services.meals", nodes=3) as (house, nc):
        tally = Tally()
        meal_ids = await plan_meals(nc, 20, tally)

        async def kill_the_leader() -> float:
            await eventually_async(lambda: len(tally.accepted) >= 20 + 300, seconds=120, every=0.01)
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
        nc = await nats.connect(**urls.connection(house["nats_url"]))
        info = await nc.jetstream().stream_info(subjects.STREAM)
        await nc.close()
        assert len(house["nats_url"].split(",")) == 3
        assert info.config.num_replicas == 3
        assert info.cluster is not None and len(info.cluster.replicas or []) == 2
        say(
            f"crew up --cluster 3: stream at {info.config.num_replicas} replicas, leader "
            f"{info.cluster.leader}"
        )


async def test_a_node_of_crew_up_cluster_routes_only_to_peers_that_know_the_password(
    tmp_path: Path,
) -> None:
    """A stranger on this machine dials a node's route port: without the route password it gets
    no route, so a client of the stranger hears nothing the house says; with it, it does."""
    login = auth.route_login()
    (node,) = natsserver.nodes(tmp_path / "house", [free_port(), free_port()], route_login=login)[
        :1
    ]
    assert node.cluster is not None and login.password_hash in node.cluster.config_text()
    node.start()
    try:

        async def stranger_hears(credentials: str, wait_s: float) -> bool:
            assert node.cluster is not None
            port = free_port()
            home = tmp_path / f"stranger-{port}"
            stranger = natsserver.NatsServer(
                home,
                port,
                cluster=natsserver.Cluster("crew", free_port(), []),
                name=f"stranger{port}",
            )
            home.mkdir(parents=True)
            stranger.config_text = lambda: (  # type: ignore[method-assign]
                f"server_name: stranger{port}\nlisten: 127.0.0.1:{port}\n"
                f"cluster {{\n  name: crew\n  listen: 127.0.0.1:{free_port()}\n"
                f'  routes: ["nats-route://{credentials}127.0.0.1:{node.cluster.port}"]\n}}\n'
            )
            stranger.start()
            listener = await nats.connect(stranger.url, allow_reconnect=False)
            speaker = await nats.connect(node.url, allow_reconnect=False)
            try:
                heard = await listener.subscribe("crew.probe")
                await listener.flush()
                deadline = time.monotonic() + wait_s
                while time.monotonic() < deadline:
                    await speaker.publish("crew.probe", b"hello")
                    await speaker.flush()
                    try:
                        await heard.next_msg(timeout=0.2)
                        return True
                    except nats.errors.TimeoutError:
                        continue
                return False
            finally:
                await listener.close()
                await speaker.close()
                stranger.stop()

        assert not await stranger_hears("", 3), "a node routed to a peer that gave no password"
        assert not await stranger_hears("route:wrong@", 3), "a node took a wrong route password"
        assert await stranger_hears(f"route:{login.password}@", 15), "the right password failed"
        say("crew up --cluster: a route needs the route password; a stranger hears nothing")
    finally:
        node.stop()
