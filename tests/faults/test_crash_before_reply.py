"""Fault 4: the service dies between the append and the reply. The client's retry with the same
command id gets the original outcome (the same sequence numbers), and the log holds the event
once. The crash is injected with CREW_FAULT_EXIT_AFTER_APPENDS (crew/service.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats.errors

from crew import subjects
from tests.faults.harness import Tally, ask, audit, fleet, say, stop

CRASHES = 3


def plan(meal_id: str) -> dict[str, object]:
    return {"meal_id": meal_id, "date": "2030-01-07", "helper_slots": 2}


async def test_a_retry_after_a_crash_between_append_and_reply_gets_the_original_outcome(
    tmp_path: Path,
) -> None:
    async with fleet(tmp_path / "home") as (house, nc):
        tally = Tally()
        for crash in range(1, CRASHES + 1):
            service = await house.start("services.meals", CREW_FAULT_EXIT_AFTER_APPENDS="2")
            # The first command is answered; the second append kills the service before it
            # replies, so its answer never comes (however slow the machine, it is lost).
            first = f"plan-{crash}-0"
            answer = await ask(nc, "meals.plan_meal", plan(f"m{crash}-0"), first, timeout_s=30)
            tally.replies[first] = answer["status"]
            lost_reply = (f"plan-{crash}-1", plan(f"m{crash}-1"))
            try:
                await ask(nc, "meals.plan_meal", lost_reply[1], lost_reply[0], timeout_s=1)
                raise AssertionError("the fault never fired")
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
                pass
            assert await asyncio.to_thread(service.wait, 30) == 137
            service = await house.start("services.meals")  # back, without the fault
            command_id, body = lost_reply
            retried = await ask(nc, "meals.plan_meal", body, command_id)
            tally.replies[command_id] = retried["status"]
            in_log = await nc.jetstream().get_last_msg(
                subjects.STREAM, f"crew.evt.meals.{body['meal_id']}.meal_planned"
            )
            say(
                f"crash {crash}: the reply to {command_id} was lost; the retry got "
                f"{retried['status']} seq {retried['events'][0]['seq']} (log: seq {in_log.seq})"
            )
            assert retried["status"] == "accepted"
            assert retried["events"][0]["seq"] == in_log.seq
            stop(service)
        result = await audit(nc, tally)
        say(f"crash between append and reply, {CRASHES} times: {result.line()}")
        assert result.accepted == len(tally.replies)
        assert result.lost == 0 and result.duplicated == 0
