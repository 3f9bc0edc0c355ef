"""The query service's turns: queries side by side, and one asked again alone after it ran out
of memory while others ran (projections/app.py, Turns)."""

from __future__ import annotations

import asyncio

from projections.app import Turns, out_of_memory
from projections.query import OUT_OF_MEMORY, SqlError


async def test_a_query_asked_again_alone_waits_for_those_running_and_holds_back_new_ones() -> None:
    turns = Turns()
    order: list[str] = []
    first_may_end = asyncio.Event()

    async def running_query() -> None:
        async with turns.side_by_side():
            order.append("running starts")
            await first_may_end.wait()
            order.append("running ends")

    async def again_alone() -> None:
        async with turns.alone():
            order.append("alone")

    async def new_query() -> None:
        async with turns.side_by_side():
            order.append("new")

    running = asyncio.create_task(running_query())
    await asyncio.sleep(0)
    alone = asyncio.create_task(again_alone())
    await asyncio.sleep(0.01)
    new = asyncio.create_task(new_query())
    await asyncio.sleep(0.01)
    assert order == ["running starts"], "the lone query waits, and so does the new one"
    first_may_end.set()
    await asyncio.gather(running, alone, new)
    assert order == ["running starts", "running ends", "alone", "new"]


async def test_queries_side_by_side_do_not_wait_for_each_other() -> None:
    turns = Turns()
    inside = 0
    most = 0

    async def query() -> None:
        nonlocal inside, most
        async with turns.side_by_side():
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(query() for _ in range(5)))
    assert most == 5


def test_only_duckdbs_out_of_memory_counts_as_out_of_memory() -> None:
    assert out_of_memory(SqlError(message=f"{OUT_OF_MEMORY} (failed to pin block)"))
    assert not out_of_memory(SqlError(message="the query ran longer than 10 s and was stopped"))
