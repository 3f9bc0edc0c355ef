"""On the demo house (`crew up --demo`: half a year of meals, cleaning parties, shifts,
activities, initiatives and recorded contributions, hand-overs and withdrawals), the counting
views over the counts the projector keeps give exactly what the plain SQL over every
contribution gave (contribution_reference.py): live, as the projector folded the seeding event
by event; after a crew member is forgotten; after `crew rebuild`; and, the house stopped, in its
file at moments from four months ago to two months ahead."""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path
from typing import Any

import duckdb
from nats.aio.client import Client as NATS

from projections.projection import Projection
from schemas.common import house_today
from tests.conftest import crew_environment, start_house
from tests.integration import contribution_reference as reference
from tests.integration.cli import connected, crew, sql_over
from tests.integration.test_contribution_counts import disagreements
from tests.polling import eventually, eventually_async


def difference(view: str) -> str:
    """The rows of the view and of its reference that the other lacks, in one query: one
    snapshot of the file and one "now", while the projector goes on folding."""
    return f"""
        with kept as (select * from {view}), plain as ({reference.query(view)}
        )
        select 'kept' as side, * from (select * from kept except all select * from plain)
        union all
        select 'plain', * from (select * from plain except all select * from kept)
    """


async def live_disagreements(env: dict[str, str]) -> list[dict[str, Any]]:
    """Each view and its reference asked of the running house, as any reader asks (the order
    of the rows is compared on the file, where both are views)."""
    async with connected(env) as nc:
        found = [
            row
            for view in reference.VIEWS
            if view != "drifting_away"
            for row in await sql_over(nc, difference(view))
        ]
        await drifting_alike(nc)
    return found


async def drifting_alike(nc: NATS) -> None:
    """drifting_away and its reference in one query run out of the query service's memory
    (DuckDB 2.0 plans their two correlated subqueries together), so they are asked apart,
    until they are asked between two batches of the projector."""

    async def both() -> list[list[str]]:
        return [
            sorted(map(repr, await sql_over(nc, query)))
            for query in ("select * from drifting_away", reference.query("drifting_away"))
        ]

    await eventually_async(both, until=lambda found: found[0] == found[1], what="drifting_away")


async def sizes(env: dict[str, str]) -> dict[str, int]:
    async with connected(env) as nc:
        return {
            view: (await sql_over(nc, f"select count(*) as n from {view}"))[0]["n"]
            for view in reference.VIEWS
        }


async def forgotten(env: dict[str, str], person: str) -> None:
    async def stage() -> list[dict[str, Any]]:
        async with connected(env) as nc:
            return await sql_over(
                nc, f"select stage from crew_registry_rows where person_id = '{person}'"
            )

    await eventually_async(stage, until=lambda rows: rows == [{"stage": "forgotten"}])


def moments() -> list[str]:
    today = house_today()
    days = (-120, -45, -7, 0, 3, 60)
    return [f"{today + datetime.timedelta(days=n)} 12:30:00" for n in days]


def test_the_demo_house_counts_as_the_plain_sql_live_forgotten_and_rebuilt(
    tmp_path: Path,
) -> None:
    env = crew_environment(tmp_path / "home")
    with start_house(env, "--demo"):
        assert all(asyncio.run(sizes(env)).values()), "a view with no rows compares nothing"
        assert asyncio.run(live_disagreements(env)) == []
        crew(env, "forget", "carla")  # one of the busiest: her counts stay, her name goes
        asyncio.run(forgotten(env, "carla"))
        assert asyncio.run(live_disagreements(env)) == []
        assert "rebuilt every view" in crew(env, "rebuild").stderr
        assert asyncio.run(live_disagreements(env)) == []
    # the projector's lock on the file goes with its process, a moment after it is killed
    stopped = eventually(
        lambda: Projection(tmp_path / "home" / "views.duckdb"), ignoring=(duckdb.IOException,)
    )
    try:
        assert disagreements(stopped.con, moments()) == []
    finally:
        stopped.close()
