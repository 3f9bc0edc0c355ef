"""Fault 2: the projector is killed with SIGKILL at random points, ten times, while commands
keep coming. Each time, once it has caught up again, its views equal a clean rebuild."""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path

from crew.eventstore import ensure_event_store
from crew.natsserver import NatsServer
from tests.conftest import free_port
from tests.faults.harness import (
    Tally,
    audit,
    client,
    plan_meals,
    ready,
    say,
    sign_ups,
    spawn,
    stop,
    views_match_a_rebuild,
)

KILLS = 10
PER_ROUND = 200


async def test_killing_the_projector_ten_times_never_double_counts_or_skips(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    server = NatsServer(home, free_port())
    server.start()
    meals = projector = None
    rng = random.Random(8)
    try:
        nc = await client(server.url)
        await ensure_event_store(nc)
        meals = spawn("services.meals", server.url, home)
        projector = spawn("projections", server.url, home, CREW_PROJECTOR_BATCH="50")
        await ready(server.url, "meals", "projector", "query")
        tally = Tally()
        meal_ids = await plan_meals(nc, 20, tally)
        for kill in range(1, KILLS + 1):
            # A round of sign-ups; the projector dies somewhere in it, and comes back.
            first = (kill - 1) * PER_ROUND
            load = asyncio.create_task(
                sign_ups(nc, PER_ROUND, meal_ids, tally, concurrency=8, first=first)
            )
            await asyncio.sleep(rng.uniform(0.05, 0.6))
            projector.send_signal(signal.SIGKILL)
            projector.wait()
            during = not load.done()
            projector = spawn("projections", server.url, home, CREW_PROJECTOR_BATCH="50")
            await load
            await ready(server.url, "projector", "query")
            same = await views_match_a_rebuild(
                nc, projector, home, tmp_path / f"clean-{kill}.duckdb"
            )
            say(
                f"projector kill {kill} ({'during' if during else 'after'} the sign-ups): "
                f"views equal a clean rebuild: {same}"
            )
            assert same
            projector = spawn("projections", server.url, home, CREW_PROJECTOR_BATCH="50")
            await ready(server.url, "projector", "query")
        result = await audit(nc, tally)
        say(f"projector killed {KILLS} times: {result.line()}; views equal a rebuild each time")
        assert result.lost == 0 and result.duplicated == 0
        await nc.close()
    finally:
        for process in (meals, projector):
            if process is not None:
                stop(process)
        server.stop()
