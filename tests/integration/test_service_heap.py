"""A real service process freezes its heap for the garbage collector once it has started
(crew/heap.py): after `service_started`, with the objects starting made."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from house.natsserver import NatsServer
from tests.polling import eventually


def test_a_service_process_freezes_its_heap_once_started(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREW_")}
    env |= {"CREW_HOME": str(tmp_path), "CREW_NATS_URL": nats_server.url, "CREW_LOG_FORMAT": "json"}
    log = tmp_path / "meals.log"
    with log.open("wb") as out:
        meals = subprocess.Popen(
            [sys.executable, "-m", "services.meals"], env=env, stdout=out, stderr=out
        )
    try:
        text = eventually(
            log.read_text, until=lambda t: '"heap_frozen"' in t, seconds=30, what="the freeze"
        )
    finally:
        meals.terminate()
        meals.wait(10)
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    started = [line["event"] for line in lines].index("service_started")
    frozen = next(i for i, line in enumerate(lines) if line["event"] == "heap_frozen")
    assert frozen > started, "frozen before the service had started"
    assert lines[frozen]["objects"] > 10_000
