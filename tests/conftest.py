"""Shared fixtures: a real nats-server from the wheel per test, on a free port, in a temp dir."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS

from crew.eventstore import ensure_event_store
from house.natsserver import NatsServer
from tests.ports import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats-home", free_port())
    server.start()
    yield server
    server.kill()


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[NATS]:
    client = await nats.connect(nats_server.url, max_reconnect_attempts=3)
    await ensure_event_store(client)
    yield client
    await client.close()


def crew_environment(home: Path) -> dict[str, str]:
    """Environment for `crew` subprocesses run from this checkout's venv, in `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREW_")}
    env["CREW_HOME"] = str(home)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture
def crew_env(tmp_path: Path) -> dict[str, str]:
    return crew_environment(tmp_path / "home")


@contextlib.contextmanager
def start_house(
    crew_env: dict[str, str], *flags: str
) -> Iterator[tuple[dict[str, str], subprocess.Popen[bytes]]]:
    """`crew up` in a temporary home on free ports, as its own process group; ready once it
    prints its banner (after any demo seeding); killed, with everything it started, after."""
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
            *flags,
        ],
        env=crew_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        bufsize=0,
        start_new_session=True,
    )
    assert process.stdout is not None
    output = b""
    deadline = time.monotonic() + 240
    try:
        while b"crew is up" not in output:
            ready, _, _ = select.select([process.stdout], [], [], 0.5)
            if ready:
                output += os.read(process.stdout.fileno(), 65536)
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("crew up did not come up:\n" + output.decode(errors="replace")[-3000:])
        process.banner = output.decode(errors="replace")  # type: ignore[attr-defined]
        yield crew_env, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def house(crew_env: dict[str, str]) -> Iterator[tuple[dict[str, str], subprocess.Popen[bytes]]]:
    """A running house; the process is handed over too, for tests that stop it themselves."""
    with start_house(crew_env) as running:
        yield running


FAULTS_SAID: list[str] = []  # what the fault cases said, gathered where the run is reported


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """What a fault case said rides on its report, so a pytest-xdist worker's lines reach the
    summary the controller prints."""
    from tests.faults.harness import REPORT

    report = yield
    if report.when == "teardown":
        report.user_properties.extend(("faults", line) for line in REPORT)
        REPORT.clear()
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    FAULTS_SAID.extend(line for key, line in report.user_properties if key == "faults")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """What the fault cases tried and counted, after the run: lost, duplicated, refused."""
    if FAULTS_SAID:
        terminalreporter.section(
            "fault injection, auth and fuzzing: what was tried, and the counts"
        )
        for line in FAULTS_SAID:
            terminalreporter.write_line(line)
