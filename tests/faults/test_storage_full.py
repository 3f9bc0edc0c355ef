"""Fault 5: JetStream runs out of storage (a small `max_file_store`). Commands get a clear
answer that names the cause, nothing half-written lands, and once the limit is raised the
house goes on, retries included."""

from __future__ import annotations

from pathlib import Path

from nats.aio.client import Client as NATS

from crew import subjects
from projections.projector import stream_last_seq
from tests.faults.harness import (
    ANSWERS,
    Tally,
    ask,
    audit,
    fleet,
    plan_meals,
    ready,
    say,
    views_match_a_rebuild,
)


async def sign_up(nc: NATS, i: int, meal: str) -> dict[str, object]:
    body = {"meal_id": meal, "crew_id": f"c{i}", "portions": 1}
    return await ask(nc, "meals.sign_up_to_eat", body, f"eat-{i}")


async def test_a_full_store_says_so_and_the_house_goes_on_once_there_is_room(
    tmp_path: Path,
) -> None:
    modules = ("services.meals", "projections")
    async with fleet(tmp_path / "home", *modules, max_file_store="1MB") as (house, nc):
        tally = Tally()
        meal_ids = await plan_meals(nc, 10, tally)
        full: list[int] = []
        i = 0
        while len(full) < 20 and i < 20_000:
            answer = await sign_up(nc, i, meal_ids[i % 10])
            if answer["status"] == "accepted":
                tally.replies[f"eat-{i}"] = "accepted"
            else:
                assert answer["status"] == "unavailable", answer
                assert "out of storage" in str(answer["message"]), answer
                full.append(i)
            i += 1
        assert full, "the store never filled"
        last_before = await stream_last_seq(nc)
        say(
            f"store full (max_file_store 1MB) after {full[0]} sign-ups: "
            f"{len(full)} commands answered {answer['message']!r}"
        )
        info = await nc.jetstream().stream_info(subjects.STREAM)
        assert info.state.messages == info.state.last_seq  # no gaps, nothing half-written

        house.server.stop()  # the coordinator adds room and restarts nats-server, nothing else
        house.server.max_file_store = "256MB"
        house.server.start()
        await ready(house.url, *(name for m in modules for name in ANSWERS[m]))
        for j in full:  # the refused ones, retried with their command ids
            answer = await sign_up(nc, j, meal_ids[j % 10])
            assert answer["status"] == "accepted", answer
            tally.replies[f"eat-{j}"] = "accepted"
        for j in range(i, i + 50):  # and life goes on
            answer = await sign_up(nc, j, meal_ids[j % 10])
            assert answer["status"] == "accepted", answer
            tally.replies[f"eat-{j}"] = "accepted"
        result = await audit(nc, tally)
        say(
            f"limit raised: {len(full)} retries and 50 new sign-ups accepted; {result.line()}; "
            f"log grew from {last_before} to {await stream_last_seq(nc)} events"
        )
        assert result.lost == 0 and result.duplicated == 0
        projector = house.processes[-1]
        assert await views_match_a_rebuild(nc, projector, house.home, tmp_path / "clean.duckdb")
