"""Fault 4: the service dies between the append and the reply. The client's retry with the same
command id gets the original outcome (the same sequence numbers), and the log holds the event
once. The crash is injected with CREW_FAULT_EXIT_AFTER_APPENDS (crew/service.py)."""

from __future__ import annotations

from pathlib import Path

import nats.errors

from crew import subjects
from tests.faults.harness import Tally, ask, audit, fleet, say, stop

CRASHES = 3


async def test_a_retry_after_a_crash_between_append_and_reply_gets_the_original_outcome(
    tmp_path: Path,
) -> None:
    async with fleet(tmp_path / "home") as (house, nc):
        tally = Tally()
        for crash in range(1, CRASHES + 1):
            service = await house.start("services.meals", CREW_FAULT_EXIT_AFTER_APPENDS="2")
            lost_reply = None
            for n in range(3):  # the second append kills the service before it replies
                command_id = f"plan-{crash}-{n}"
                body = {"meal_id": f"m{crash}-{n}", "date": "2030-01-07", "helper_slots": 2}
                try:
                    answer = await ask(nc, "meals.plan_meal", body, command_id, timeout_s=3)
                    tally.replies[command_id] = answer["status"]
                except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
                    lost_reply = (command_id, body)
                    break
            assert lost_reply is not None, "the fault never fired"
            assert service.wait(10) == 137
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
