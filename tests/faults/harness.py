"""What the fault cases share: real processes to kill, clients that retry as a tablet does, and
an audit of the log against every answer a client was ever given."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from crew import subjects
from house import natsserver
from house.client import wait_for_components
from house.natsserver import NatsServer
from house.runner import COMPONENTS, prepare_when_ready
from projections.projector import stream_last_seq
from tests.integration.test_projector import checkpoint_via_query, clean_rebuild, snapshot
from tests.polling import eventually_async
from tests.ports import free_port

FINAL = {"accepted", "refused", "invalid"}
TRANSIENT = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
)


REPORT: list[str] = []  # printed again at the end of the run (tests/conftest.py)


def say(text: str) -> None:
    """Each case prints what it tried and the counts, as it goes (pytest -s) and in the
    summary at the end of `make test`."""
    REPORT.append(text)
    print(f"[faults] {text}", flush=True)


def spawn(module: str, url: str, home: Path, **env: str) -> subprocess.Popen[bytes]:
    """`python -m <module>` against `url`, logging into <home>/logs/<module>.log."""
    (home / "logs").mkdir(parents=True, exist_ok=True)
    with (home / "logs" / f"{module}.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", module],
            env={
                **os.environ,
                "CREW_NATS_URL": url,
                "CREW_HOME": str(home),
                "CREW_LOG_FORMAT": "json",
                **env,
            },
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def ready(url: str, *components: str) -> None:
    missing = await wait_for_components(url, list(components), timeout=60)
    assert not missing, f"no answer from {missing}"


async def client(url: str) -> NATS:
    """A client that never gives up reconnecting, like a kiosk."""
    return await nats.connect(
        url.split(","),
        name="crew-faults",
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.25,
        connect_timeout=2,
    )


ANSWERS = {c.module: list(c.answers_as) for c in COMPONENTS}  # what `crew status` hears


class Fleet:
    """Real nats-server nodes and real component processes, each one killable on its own."""

    def __init__(self, home: Path, servers: list[NatsServer]) -> None:
        self.home = home
        self.servers = servers
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def server(self) -> NatsServer:
        return self.servers[0]

    @property
    def url(self) -> str:
        return ",".join(s.url for s in self.servers)

    async def start(
        self, module: str, home: Path | None = None, **env: str
    ) -> subprocess.Popen[bytes]:
        """`python -m <module>` in `home` (the fleet's by default), once it answers."""
        process = spawn(module, self.url, home or self.home, **env)
        self.processes.append(process)
        await ready(self.url, *ANSWERS[module])
        return process

    def stop(self) -> None:
        for process in self.processes:
            stop(process)
        for server in self.servers:
            server.stop()


@contextlib.asynccontextmanager
async def fleet(
    home: Path, *modules: str, nodes: int = 1, max_file_store: str | None = None
) -> AsyncIterator[tuple[Fleet, NATS]]:
    """A fresh NATS (one node, or a cluster with everything at 3 replicas) with the stream and
    buckets made, `modules` started against it, and a client; all of it stopped afterwards."""
    running = Fleet(
        home,
        natsserver.nodes(home, [free_port() for _ in range(nodes)], max_file_store=max_file_store),
    )
    try:
        for server in running.servers:
            server.start()
        nc = await client(running.url)
        await prepare_when_ready(nc, min(nodes, 3))
        for module in modules:
            await running.start(module)
        yield running, nc
        await nc.close()
    finally:
        running.stop()


@dataclass
class Tally:
    """Every answer the clients got, by command id."""

    replies: dict[str, str] = field(default_factory=dict)
    attempts: int = 0
    accepted_at: list[float] = field(default_factory=list)

    @property
    def accepted(self) -> set[str]:
        return {c for c, status in self.replies.items() if status == "accepted"}

    def count(self, status: str) -> int:
        return sum(1 for s in self.replies.values() if s == status)


async def ask(
    nc: NATS, command: str, body: dict[str, object], command_id: str, timeout_s: float = 10
) -> dict[str, Any]:
    """One attempt: the reply as it came. No answer raises (nats' TimeoutError and kin)."""
    context, name = command.split(".")
    reply = await nc.request(
        subjects.command_subject(context, name),
        msgspec.json.encode(body),
        headers={subjects.COMMAND_ID: command_id, subjects.SOURCE: "faults"},
        timeout=timeout_s,
    )
    answer: dict[str, Any] = msgspec.json.decode(reply.data)
    return answer


async def send_until_answered(
    nc: NATS,
    command: str,
    body: dict[str, object],
    command_id: str,
    tally: Tally,
    deadline_s: float = 180,
    timeout_s: float = 10,
) -> str:
    """Send, and on no answer or `unavailable` send again with the same command id."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        tally.attempts += 1
        try:
            status = str((await ask(nc, command, body, command_id, timeout_s)).get("status"))
        except TRANSIENT:
            status = "no answer"
        if status in FINAL:
            tally.replies[command_id] = status
            if status == "accepted":
                tally.accepted_at.append(time.monotonic())
            return status
        await asyncio.sleep(0.2)
    tally.replies[command_id] = "gave up"
    return "gave up"


async def plan_meals(nc: NATS, meals: int, tally: Tally) -> list[str]:
    ids = [f"m{n}" for n in range(meals)]
    for meal in ids:
        body = {"meal_id": meal, "date": "2030-01-07", "helper_slots": 4}
        assert await send_until_answered(nc, "meals.plan_meal", body, f"plan-{meal}", tally) in (
            "accepted",
            "refused",
        )
    return ids


async def sign_ups(
    nc: NATS,
    n: int,
    meals: list[str],
    tally: Tally,
    concurrency: int | None = None,
    first: int = 0,
) -> None:
    """`n` people sign up to eat, all at once (or `concurrency` at a time), each retrying."""
    gate = asyncio.Semaphore(concurrency or n)

    async def one(i: int) -> None:
        async with gate:
            body = {"meal_id": meals[i % len(meals)], "crew_id": f"c{i}", "portions": 1}
            await send_until_answered(nc, "meals.sign_up_to_eat", body, f"eat-{i}", tally)

    await asyncio.gather(*(one(i) for i in range(first, first + n)))


async def events_by_command(nc: NATS) -> collections.Counter[str]:
    """How many events in the log each command id caused (Crew-Causation-Id)."""
    js = nc.jetstream()
    last = await stream_last_seq(nc)
    counts: collections.Counter[str] = collections.Counter()
    if last == 0:
        return counts
    config = ConsumerConfig(
        name=f"audit-{uuid.uuid4().hex[:8]}",
        ack_policy=AckPolicy.NONE,
        deliver_policy=DeliverPolicy.ALL,
        inactive_threshold=30,
    )
    # Right after a node of a cluster was killed, making a consumer waits for the cluster to
    # elect a new meta leader (seconds on a busy machine). The same name and config again is
    # the same consumer, so asking again is safe.
    sub = await eventually_async(
        lambda: js.pull_subscribe(subjects.EVENTS_ALL, stream=subjects.STREAM, config=config),
        until=lambda _: True,
        seconds=60,
        ignoring=(nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError),
        what="the audit's consumer",
    )
    seen = 0
    deadline = time.monotonic() + 120
    try:
        while seen < last:
            try:
                batch = await sub.fetch(1000, timeout=5)
            except nats.errors.TimeoutError:  # not every event read yet: the audit waits on
                assert time.monotonic() < deadline, f"the audit read {seen} of {last} events"
                continue
            except nats.js.errors.ServiceUnavailableError:  # 503: a new consumer with no leader
                # yet, right after a node was killed (a pull it answers so delivered nothing)
                assert time.monotonic() < deadline, f"the audit read {seen} of {last} events"
                await asyncio.sleep(0.2)
                continue
            for msg in batch:
                seen = msg.metadata.sequence.stream
                counts[(msg.headers or {}).get(subjects.CAUSATION_ID, "")] += 1
    finally:
        await sub.unsubscribe()
    return counts


@dataclass(frozen=True)
class Audit:
    sent: int
    accepted: int
    lost: int
    duplicated: int
    unanswered: int

    def line(self) -> str:
        return (
            f"sent {self.sent}, accepted {self.accepted}, lost {self.lost}, "
            f"duplicated {self.duplicated}, never answered {self.unanswered}"
        )


async def audit(nc: NATS, tally: Tally, per_command: int = 1) -> Audit:
    """Lost: answered `accepted`, yet not in the log. Duplicated: in the log more than once."""
    in_log = await events_by_command(nc)
    accepted = tally.accepted
    return Audit(
        sent=len(tally.replies),
        accepted=len(accepted),
        lost=sum(1 for c in accepted if in_log[c] == 0),
        duplicated=sum(1 for c, n in in_log.items() if c in tally.replies and n > per_command),
        unanswered=tally.count("gave up"),
    )


async def views_match_a_rebuild(
    nc: NATS, projector: subprocess.Popen[bytes], home: Path, scratch: Path
) -> bool:
    """Let the projector catch up with the log, stop it, and compare its file with a clean
    rebuild of the same log."""
    last = await stream_last_seq(nc)
    await eventually_async(
        lambda: checkpoint_via_query(nc),
        until=lambda checkpoint: checkpoint >= last,
        seconds=60,
        what=f"the projector caught up with {last}",
    )
    stop(projector)
    return snapshot(home / "views.duckdb") == await clean_rebuild(nc, scratch)
