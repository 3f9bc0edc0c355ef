"""The meals service as it runs: the FastStream app on a real nats-server, requests over NATS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from nats.aio.client import Client as NATS

from crew import subjects
from crew.service import build_app
from crew.settings import Settings
from house.client import wait_for_components
from house.natsserver import NatsServer
from services.meals.decider import MEALS


@pytest.fixture
async def meals(nats_server: NatsServer, nc: NATS, tmp_path: Path) -> AsyncIterator[NATS]:
    app = build_app(MEALS, Settings(home=tmp_path, nats_url=nats_server.url))
    await app.start()
    assert await wait_for_components(nats_server.url, ["meals"], timeout=10) == []
    yield nc
    await app.stop()


async def send(nc: NATS, command: str, body: bytes | dict, command_id: str) -> dict:
    raw = body if isinstance(body, bytes) else msgspec.json.encode(body)
    reply = await nc.request(
        f"crew.cmd.meals.{command}", raw, headers={subjects.COMMAND_ID: command_id}, timeout=5
    )
    return msgspec.json.decode(reply.data)


async def stored(nc: NATS) -> int:
    return (await nc.jetstream().stream_info(subjects.STREAM)).state.messages


@pytest.mark.parametrize(
    ("command", "body", "path"),
    [
        ("volunteer_to_cook", b'{"meal_id":"m1","crew_id":7,"role":"helper"}', "$.crew_id"),
        ("volunteer_to_cook", b'{"meal_id":"m1","role":"helper"}', "$.crew_id"),
        ("volunteer_to_cook", b"{not json", "$"),
        ("no_such_command", b"{}", "$"),
        ("volunteer_to_cook", b'{"meal_id":"' + b"x" * 200_000 + b'"}', "$"),
    ],
    ids=["wrong-type", "missing-field", "non-json", "unknown-command", "huge-body"],
)
async def test_bad_input_gets_an_invalid_reply_naming_the_field_never_a_timeout(
    meals: NATS, command: str, body: bytes, path: str
) -> None:
    await send(meals, "plan_meal", {"meal_id": "m1", "date": "2030-01-07", "helper_slots": 2}, "p")
    before = await stored(meals)
    reply = await send(meals, command, body, "bad")
    assert reply["status"] == "invalid"
    assert reply["errors"][0]["path"] == path
    assert await stored(meals) == before


async def test_twenty_concurrent_volunteers_for_two_slots_give_two_helpers_and_eighteen_waitlisted(
    meals: NATS,
) -> None:
    await send(
        meals, "plan_meal", {"meal_id": "race", "date": "2030-01-07", "helper_slots": 2}, "p"
    )
    replies = await asyncio.gather(
        *(
            send(
                meals,
                "volunteer_to_cook",
                {"meal_id": "race", "crew_id": f"c{i}", "role": "helper"},
                f"v{i}",
            )
            for i in range(20)
        )
    )
    kinds = [r["events"][0]["type"] for r in replies]
    assert kinds.count("meals.volunteered_to_cook") == 2
    assert kinds.count("meals.waitlisted_to_help") == 18


async def test_a_withdrawal_and_the_promotion_it_causes_land_as_one_atomic_batch(
    meals: NATS,
) -> None:
    await send(meals, "plan_meal", {"meal_id": "m2", "date": "2030-01-07", "helper_slots": 1}, "p")
    await send(
        meals, "volunteer_to_cook", {"meal_id": "m2", "crew_id": "anna", "role": "helper"}, "a"
    )
    await send(
        meals, "volunteer_to_cook", {"meal_id": "m2", "crew_id": "bo", "role": "helper"}, "b"
    )
    reply = await send(meals, "withdraw", {"meal_id": "m2", "crew_id": "anna"}, "w")
    assert [e["type"] for e in reply["events"]] == [
        "meals.withdrew",
        "meals.promoted_from_waitlist",
    ]
    first, second = (e["seq"] for e in reply["events"])
    assert second == first + 1
    msg = await meals.jetstream().get_msg(subjects.STREAM, second)
    assert msg.headers["Nats-Batch-Id"] and msg.headers[subjects.CAUSATION_ID] == "w"


async def test_a_retry_with_the_same_command_id_gets_the_same_reply_and_appends_nothing(
    nats_server: NatsServer, meals: NATS, tmp_path: Path
) -> None:
    plan = {"meal_id": "m3", "date": "2030-01-07", "helper_slots": 2}
    first = await send(meals, "plan_meal", plan, "same-id")
    replan = {**plan, "helper_slots": 5}
    refused = await send(meals, "plan_meal", replan, "replan")
    count = await stored(meals)
    # A second instance with a cold cache answers alike: the log and the bucket are the memory.
    other = build_app(MEALS, Settings(home=tmp_path, nats_url=nats_server.url))
    await other.start()
    try:
        for _ in range(3):
            assert await send(meals, "plan_meal", plan, "same-id") == first
            assert await send(meals, "plan_meal", replan, "replan") == refused
    finally:
        await other.stop()
    assert await stored(meals) == count
    kv = await meals.jetstream().key_value(subjects.OUTCOMES_BUCKET)
    assert (await kv.get("replan")).value  # kept beyond the 2-minute dedup window


async def test_every_event_carries_the_contract_headers(meals: NATS) -> None:
    reply = await send(
        meals, "plan_meal", {"meal_id": "m4", "date": "2030-01-07", "helper_slots": 2}, "h"
    )
    msg = await meals.jetstream().get_msg(subjects.STREAM, reply["events"][0]["seq"])
    assert msg.subject == "crew.evt.meals.m4.meal_planned"
    for header in (
        "Crew-Event-Id", "Crew-Event-Type", "Crew-Schema-Version", "Crew-Occurred-At", "Crew-Actor",
        "Crew-Correlation-Id", "Crew-Causation-Id", "Crew-Source", "Nats-Msg-Id",
    ):  # fmt: skip
        assert msg.headers.get(header), header
    assert msg.headers["Crew-Event-Type"] == "meals.meal_planned"
