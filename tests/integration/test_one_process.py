"""`crew up --one-process` on a real NATS: every context and the kiosk answer from one process,
commands (over NATS and over the kiosk's HTTP) and the followers between contexts work, and
SIGTERM stops it all."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess

from schemas.common import house_today
from tests.conftest import start_house
from tests.integration.cli import crew, eventually
from tests.integration.test_kiosk_http import base, kiosk_token, post

CONTEXTS = ("meals", "rota", "onboarding", "notices", "activities")
WEEKDAYS = [0, 1, 2, 3, 4, 5, 6]


def test_one_process_serves_every_context_and_stops_cleanly(crew_env: dict[str, str]) -> None:
    with start_house(crew_env, "--one-process") as (env, process):
        status = crew(env, "status").stdout
        pids = dict(re.findall(r"^(\w+)\s+ok \(pid (\d+)\)", status, re.M))
        assert len({pids[c] for c in (*CONTEXTS, "kiosk")}) == 1, status
        assert pids["meals"] != pids["projector"]
        series = {
            "series_id": "lunch",
            "kind": "meal",
            "title": "Fællesspisning",
            "weekdays": WEEKDAYS,
            "start": "12:00",
            "end": "13:00",
            "starts_on": house_today().isoformat(),
        }
        sent = crew(env, "send", "rota.schedule_series", json.dumps(series), check=False)
        assert json.loads(sent.stdout)["status"] == "accepted", sent.stdout + sent.stderr
        eventually(  # meals follows the rota: a meal day becomes a meal, across contexts
            env,
            "select count(*) > 0 as planned from meal_plan",
            [{"planned": True}],
        )
        activity = {
            "activity_id": "a1",
            "title": "Workshop",
            "starts_at": "2030-01-02T10:00:00+01:00",
            "ends_at": "2030-01-02T12:00:00+01:00",
        }
        sent = crew(env, "send", "activities.plan_activity", json.dumps(activity))
        assert json.loads(sent.stdout)["status"] == "accepted"
        signed_up = post(  # the kiosk, beside the contexts, as its own NATS user
            f"{base(env)}/api/v1/commands/activities/sign_up",
            {"activity_id": "a1", "crew_id": "c-kiosk"},
            kiosk_token(env),
        )
        assert signed_up.json()["status"] == "accepted", signed_up.text
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(30) == 0
        leftovers = subprocess.run(["pgrep", "-g", str(process.pid)], capture_output=True)
        assert leftovers.stdout.strip() == b""
