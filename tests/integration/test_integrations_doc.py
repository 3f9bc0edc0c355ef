"""docs/integrations.md shows another service following the log as its developers would: the
Python example there is docs/examples/follow_events.py, and it runs here, as its own process,
against a real house."""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.cli import send

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "follow_events.py"


def test_the_doc_shows_the_example_as_it_is() -> None:
    doc = (ROOT / "docs" / "integrations.md").read_text()
    assert f"```python\n{EXAMPLE.read_text()}```\n" in doc


def seq_of(reply: dict[str, object], expected_type: str) -> int:
    assert reply["status"] == "accepted", reply
    events = reply["events"]
    assert isinstance(events, list) and [e["type"] for e in events] == [expected_type], reply
    return int(events[0]["seq"])


def test_the_example_follows_a_real_house_from_a_given_sequence(
    house: tuple[dict[str, str], subprocess.Popen[bytes]],
) -> None:
    env, _ = house
    home = Path(env["CREW_HOME"])
    send(env, "onboarding.register_crew_member", {"crew_id": "ana", "display_name": "Ana"})
    send(env, "meals.plan_meal", {"meal_id": "m1", "date": "2030-01-07", "helper_slots": 2})
    planned = seq_of(
        send(env, "meals.plan_meal", {"meal_id": "m2", "date": "2030-01-08", "helper_slots": 2}),
        "meals.meal_planned",
    )
    follower = subprocess.Popen(
        [
            sys.executable, str(EXAMPLE), "--house", str(home / "house.json"),
            "--from", str(planned), "--subject", "crew.evt.meals.>",
            "--schemas", str(ROOT / "docs" / "schemas"), "--count", "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=home,  # nothing of this checkout on its path: it runs as an outside program would
    )  # fmt: skip
    try:
        assert follower.stderr is not None
        deadline = time.monotonic() + 30
        started = ""
        while "following" not in started and time.monotonic() < deadline:
            if select.select([follower.stderr], [], [], 0.5)[0]:
                started += follower.stderr.readline()
            assert follower.poll() is None, started + follower.stderr.read()
        assert "following crew.evt.meals.> from seq" in started, started
        # while it follows: two more meals events, and one of another context between them
        cooks = seq_of(
            send(env, "meals.volunteer_to_cook", {"meal_id": "m2", "crew_id": "ana", "role": "head_cook"}),
            "meals.volunteered_to_cook",
        )  # fmt: skip
        send(env, "onboarding.register_crew_member", {"crew_id": "bo", "display_name": "Bo"})
        helps = seq_of(
            send(env, "meals.volunteer_to_cook", {"meal_id": "m2", "crew_id": "bo", "role": "helper"}),
            "meals.volunteered_to_cook",
        )  # fmt: skip
        out, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert follower.returncode == 0, err
    lines = [line.split(" ", 3) for line in out.splitlines()]
    assert [(int(seq), kind) for seq, kind, _, _ in lines] == [
        (planned, "meals.meal_planned"),
        (cooks, "meals.volunteered_to_cook"),
        (helps, "meals.volunteered_to_cook"),
    ], out + err
    payloads = [json.loads(payload) for _, _, _, payload in lines]
    assert payloads[0]["meal_id"] == "m2" and payloads[0]["date"] == "2030-01-08"
    assert payloads[1] == {
        "type": "meals.volunteered_to_cook", "meal_id": "m2", "crew_id": "ana", "role": "head_cook"
    }  # fmt: skip
    assert payloads[2]["crew_id"] == "bo" and payloads[2]["role"] == "helper"
    assert all(occurred.startswith("20") for _, _, occurred, _ in lines)  # Crew-Occurred-At
    assert "does not match" not in err and "no schema" not in err, err
