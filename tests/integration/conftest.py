from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.integration.cli import crew


@pytest.fixture
def house(crew_env: dict[str, str]) -> Iterator[tuple[dict[str, str], subprocess.Popen[str]]]:
    """`crew up` in a temporary home on free ports, as its own process group."""
    home = Path(crew_env["CREW_HOME"])
    process = subprocess.Popen(
        [
            "crew",
            "up",
            "--home",
            str(home),
            "--nats-port",
            str(free_port()),
            "--http-port",
            str(free_port()),
        ],
        env=crew_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    for _ in range(240):
        if crew(crew_env, "status", check=False).returncode == 0:
            break
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        time.sleep(0.25)
    else:
        pytest.fail("crew status never answered")
    yield crew_env, process
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
