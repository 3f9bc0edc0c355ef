"""Fault 4: the service dies between the append and the reply. The client's retry with the same
command id gets the original outcome (the same sequence numbers), and the log holds the event
once. The crash is injected with CREW_FAULT_EXIT_AFTER_APPENDS (crew/service.py)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import nats.errors

from crew import subjects
from crew.eventstore import ensure_event_store
from crew.natsserver import NatsServer
from tests.conftest import free_port
from tests.faults.harness import Tally, audit, client, ready, say, spawn, stop

CRASHES = 5


async def test_a_retry_after_a_crash_between_append_and_reply_gets_the_original_outcome(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    server = NatsServer(home, free_port())
    server.start()
    service = None
    try:
        nc = await client(server.url)
        await ensure_event_store(nc)
        tally = Tally()
        sent = 0
        for crash in range(1, CRASHES + 1):
            service = spawn("services.meals", server.url, home, CREW_FAULT_EXIT_AFTER_APPENDS="2")
            await ready(server.url, "meals")
            lost_reply = None
            for n in range(3):  # the second append kills the service before it replies
                command_id = f"plan-{crash}-{n}"
                body = {"meal_id": f"m{crash}-{n}", "date": "2030-01-07", "helper_slots": 2}
                sent += 1
                try:
                    reply = await nc.request(
                        subjects.command_subject("meals", "plan_meal"),
                        msgspec.json.encode(body),
                        headers={subjects.COMMAND_ID: command_id},
                        timeout=3,
                    )
                    tally.replies[command_id] = msgspec.json.decode(reply.data)["status"]
                except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
                    lost_reply = (command_id, body)
                    break
            assert lost_reply is not None, "the fault never fired"
            service.wait(10)
            assert service.returncode == 137
            service = spawn("services.meals", server.url, home)  # back, without the fault
            await ready(server.url, "meals")
            command_id, body = lost_reply
            retried = msgspec.json.decode(
                (
                    await nc.request(
                        subjects.command_subject("meals", "plan_meal"),
                        msgspec.json.encode(body),
                        headers={subjects.COMMAND_ID: command_id},
                        timeout=10,
                    )
                ).data
            )
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
            service = None
        result = await audit(nc, tally)
        say(f"crash between append and reply, {CRASHES} times: {result.line()}")
        assert result.accepted == len(tally.replies)
        assert result.lost == 0 and result.duplicated == 0
        await nc.close()
    finally:
        if service is not None:
            stop(service)
        server.stop()
