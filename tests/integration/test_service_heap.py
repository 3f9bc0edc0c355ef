"""A real service process freezes its heap for the garbage collector once it has started
(crew/heap.py): after its start-up line, with the objects starting made. The projector too:
its full collections held up every batch and every query in the process; and the kiosk, once
it has reached the bus."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from house.natsserver import NatsServer
from tests.polling import eventually
from tests.ports import free_port


@pytest.mark.parametrize(
    ("module", "started"),
    [
        ("services.meals", "service_started"),
        ("projections", "projector_started"),
        ("services.kiosk", "kiosk_started"),
    ],
)
def test_a_process_freezes_its_heap_once_started(
    nats_server: NatsServer, tmp_path: Path, module: str, started: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREW_")}
    env |= {"CREW_HOME": str(tmp_path), "CREW_NATS_URL": nats_server.url, "CREW_LOG_FORMAT": "json"}
    env["CREW_HTTP_PORT"] = str(free_port())  # the kiosk's
    log = tmp_path / "process.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", module], env=env, stdout=out, stderr=out)
    try:
        text = eventually(
            log.read_text, until=lambda t: '"heap_frozen"' in t, seconds=30, what="the freeze"
        )
    finally:
        process.terminate()
        process.wait(10)
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    events = [line["event"] for line in lines]
    assert started in events, f"no {started} before the freeze: {events}"
    frozen = events.index("heap_frozen")
    assert frozen > events.index(started), "frozen before the process had started"
    assert lines[frozen]["objects"] > 10_000
