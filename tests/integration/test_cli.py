"""The crew CLI as a coordinator meets it: joining a NATS the house does not run, the events
tail (text, JSON, --follow), and how soon a sign-up is visible in SQL."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

from house.natsserver import NatsServer
from tests.conftest import start_house
from tests.faults.harness import say
from tests.integration.cli import crew, sql


def test_crew_up_joins_the_nats_named_by_crew_nats_url_and_the_log_can_be_followed(
    nats_server: NatsServer, crew_env: dict[str, str]
) -> None:
    env = {**crew_env, "CREW_NATS_URL": nats_server.url}
    with start_house(env):
        crew(
            env, "send", "meals.plan_meal", '{"meal_id":"m1","date":"2030-01-07","helper_slots":2}'
        )
        follow = subprocess.Popen(
            ["crew", "events", "--follow", "--format", "json"],
            env=env,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            body = '{"meal_id":"m1","crew_id":"c-7f3a","role":"head_cook"}'
            crew(env, "send", "--command-id", "cook-1", "meals.volunteer_to_cook", body)
            accepted = time.monotonic()
            while sql(env, "select head_cook from meal_plan") != [{"head_cook": "c-7f3a"}]:
                assert time.monotonic() - accepted < 30, "the cook never appeared in meal_plan"
            seen = time.monotonic() - accepted
            lines = _lines_until(follow, "cook-1")
        finally:
            follow.kill()
        say(f"cli: a cook accepted by `crew send` was in `crew sql` after {seen:.2f} s")
        huge = subprocess.run(  # more than NATS will carry: still a plain answer, no traceback
            ["crew", "send", "meals.plan_meal", "-"],
            input='{"meal_id":"' + "x" * 9_000_000 + '"}',
            env=env,
            capture_output=True,
            text=True,
        )
        assert json.loads(huge.stdout)["status"] == "invalid", huge.stderr[-2000:]
        assert "Traceback" not in huge.stderr
    events = [json.loads(line) for line in lines]
    assert [e["type"] for e in events] == ["meals.meal_planned", "meals.volunteered_to_cook"]
    cooked = events[-1]
    assert cooked["causation_id"] == "cook-1" and cooked["source"] == "cli"
    assert cooked["payload"]["crew_id"] == "c-7f3a"
    assert {"seq", "event_id", "occurred_at", "recorded_at", "actor", "correlation_id"} <= set(
        cooked
    )
    assert not (Path(env["CREW_HOME"]) / "nats.conf").exists()  # it started no nats-server


def _lines_until(process: subprocess.Popen[bytes], marker: str, seconds: float = 30) -> list[str]:
    assert process.stdout is not None
    output = ""
    deadline = time.monotonic() + seconds
    while marker not in output:
        assert time.monotonic() < deadline, f"crew events --follow never showed {marker}: {output}"
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            output += os.read(process.stdout.fileno(), 65536).decode()
    return [line for line in output.splitlines() if line.strip()]


def test_crew_up_help_names_what_it_reads_from_the_environment(crew_env: dict[str, str]) -> None:
    text = crew(crew_env, "up", "--help").stdout
    assert "CREW_NATS_URL" in text and "CREW_HOME" in text


def test_an_unreadable_event_in_the_log_does_not_stop_a_persons_export(
    nats_server: NatsServer, crew_env: dict[str, str]
) -> None:
    env = {**crew_env, "CREW_NATS_URL": nats_server.url}  # a NATS without users: we may publish
    with start_house(env):
        body = '{"crew_id":"c-7f3a","display_name":"Ada Lund"}'
        crew(env, "send", "onboarding.register_crew_member", body)
        subprocess.run(
            [sys.executable, "-c", JUNK, nats_server.url], check=True, capture_output=True
        )
        exported = json.loads(crew(env, "export", "c-7f3a").stdout)
    assert exported["personal_data"]["display_name"] == "Ada Lund"
    assert {"seq": 2, "type": "onboarding.crew_member_registered", "unreadable": True} in (
        exported["events"]
    )


JUNK = """
import asyncio, sys, nats
async def main():
    nc = await nats.connect(sys.argv[1])
    await nc.jetstream().publish(
        "crew.evt.onboarding.c-7f3a.crew_member_registered", b"not json",
        headers={"Crew-Event-Type": "onboarding.crew_member_registered"})
    await nc.close()
asyncio.run(main())
"""
