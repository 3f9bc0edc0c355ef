"""Fault 1: nats-server is killed with SIGKILL during 2,000 concurrent sign-ups, then restarted.
Clients retry with their command ids. Every accepted sign-up is in the log exactly once, and
the views agree with a rebuild."""

from __future__ import annotations

import asyncio
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
from tests.polling import eventually_async

SIGN_UPS = 2_000


async def test_killing_nats_during_2000_sign_ups_loses_and_duplicates_nothing(
    tmp_path: Path,
) -> None:
    async with fleet(tmp_path / "home", "services.meals", "projections") as (house, nc):
        tally = Tally()
        meal_ids = await plan_meals(nc, 40, tally)

        async def kill_when_busy() -> None:
            await eventually_async(  # well into the sign-ups
                lambda: len(tally.accepted) >= 40 + 300, seconds=120, every=0.01
            )
            killed_at, attempts = len(tally.accepted) - 40, tally.attempts
            house.server.kill()
            say(f"nats-server killed (SIGKILL) after {killed_at} accepted sign-ups")
            await eventually_async(  # the outage lasts until the clients have felt it
                lambda: not nc.is_connected and tally.attempts > attempts,
                seconds=60,
                every=0.05,
                what="a sign-up sent again while nats-server was down",
            )
            house.server.start()
            say("nats-server restarted on the same store")

        killer = asyncio.create_task(kill_when_busy())
        await sign_ups(nc, SIGN_UPS, meal_ids, tally)
        await killer
        result = await audit(nc, tally)
        say(f"nats killed: {result.line()}, {tally.attempts} requests in all")
        assert result.sent == SIGN_UPS + 40
        assert result.accepted == SIGN_UPS + 40, "every sign-up gets in once the house is back"
        assert result.lost == 0 and result.duplicated == 0 and result.unanswered == 0
        projector = house.processes[-1]
        assert await views_match_a_rebuild(nc, projector, house.home, tmp_path / "clean.duckdb")
