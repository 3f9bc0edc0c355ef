"""Fault 2: the projector is killed with SIGKILL at random points, ten times, while commands
keep coming. Each time, once it has caught up again, its views equal a clean rebuild."""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path

from tests.faults.harness import (
    Tally,
    audit,
    fleet,
    plan_meals,
    say,
    sign_ups,
    views_match_a_rebuild,
)

KILLS = 10
PER_ROUND = 200
SMALL_BATCHES = {"CREW_PROJECTOR_BATCH": "50"}  # many commits: more places for a kill to land


async def test_killing_the_projector_ten_times_never_double_counts_or_skips(
    tmp_path: Path,
) -> None:
    rng = random.Random(8)
    async with fleet(tmp_path / "home", "services.meals") as (house, nc):
        projector = await house.start("projections", **SMALL_BATCHES)
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
            projector = await house.start("projections", **SMALL_BATCHES)
            await load
            same = await views_match_a_rebuild(
                nc, projector, house.home, tmp_path / f"clean-{kill}.duckdb"
            )
            say(
                f"projector kill {kill} ({'during' if during else 'after'} the sign-ups): "
                f"views equal a clean rebuild: {same}"
            )
            assert same
            projector = await house.start("projections", **SMALL_BATCHES)
        result = await audit(nc, tally)
        say(f"projector killed {KILLS} times: {result.line()}; views equal a rebuild each time")
        assert result.lost == 0 and result.duplicated == 0
