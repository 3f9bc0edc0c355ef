"""Fault 5: JetStream runs out of storage (a small `max_file_store`). Commands get a clear
answer that names the cause, nothing half-written lands, and once the limit is raised the
house goes on, retries included."""

from __future__ import annotations

from pathlib import Path

import msgspec

from crew import subjects
from crew.eventstore import ensure_event_store
from crew.natsserver import NatsServer
from projections.projector import stream_last_seq
from tests.conftest import free_port
from tests.faults.harness import (
    Tally,
    audit,
    client,
    plan_meals,
    ready,
    say,
    spawn,
    stop,
    views_match_a_rebuild,
)


async def sign_up(nc: object, i: int, meal: str) -> dict[str, object]:
    reply = await nc.request(  # type: ignore[attr-defined]
        subjects.command_subject("meals", "sign_up_to_eat"),
        msgspec.json.encode({"meal_id": meal, "crew_id": f"c{i}", "portions": 1}),
        headers={subjects.COMMAND_ID: f"eat-{i}"},
        timeout=10,
    )
    answer: dict[str, object] = msgspec.json.decode(reply.data)
    return answer


async def test_a_full_store_says_so_and_the_house_goes_on_once_there_is_room(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    port = free_port()
    server = NatsServer(home, port, max_file_store="1MB")
    server.start()
    meals = projector = None
    try:
        nc = await client(server.url)
        await ensure_event_store(nc)
        meals = spawn("services.meals", server.url, home)
        projector = spawn("projections", server.url, home)
        await ready(server.url, "meals", "projector", "query")
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
        first_full = full[0]
        last_before = await stream_last_seq(nc)
        say(
            f"store full (max_file_store 1MB) after {first_full} sign-ups: "
            f"{len(full)} commands answered {answer['message']!r}"
        )
        info = await nc.jetstream().stream_info(subjects.STREAM)
        assert info.state.messages == info.state.last_seq  # no gaps, nothing half-written
        stop(meals)
        stop(projector)
        server.stop()

        server = NatsServer(home, port, max_file_store="256MB")  # the coordinator adds room
        server.start()
        await nc.close()
        nc = await client(server.url)
        meals = spawn("services.meals", server.url, home)
        projector = spawn("projections", server.url, home)
        await ready(server.url, "meals", "projector", "query")
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
        assert await views_match_a_rebuild(nc, projector, home, tmp_path / "clean.duckdb")
        await nc.close()
    finally:
        for process in (meals, projector):
            if process is not None:
                stop(process)
        server.stop()
