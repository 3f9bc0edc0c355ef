"""The benchmark: figures for the command path and the projector, each beside a raw reference
(bare `js.publish`, bare ordered replay) measured on the same embedded NATS in the same run.

Every figure is the median of several rounds. Nothing here asserts: it measures and reports."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgspec
import nats
from nats.aio.client import Client as NATS
from nats.js.api import StorageType, StreamConfig

from bench import workload
from crew import subjects
from crew.eventstore import ensure_event_store
from house import client
from house.natsserver import NatsServer, free_port
from projections.projection import Projection
from projections.projector import stream_last_seq
from schemas import meals as m
from schemas.common import Accepted, reply_decoder
from services.kiosk import tokens

SIZES = {
    # Every figure, each on a handful of commands: the test suite's check that the bench runs.
    "smoke": {
        "sequential": 50,
        "concurrent": 300,
        "rounds": 1,
        "meals": 20,
        "kiosk": 200,
        "houses": 1,
        "replays": 1,
        "samples": 10,
    },
    "quick": {
        "sequential": 400,
        "concurrent": 3_000,
        "rounds": 3,
        "meals": 200,
        "kiosk": 2_000,
        "houses": 10,
        "replays": 3,
        "samples": 100,
    },
    "full": {
        "sequential": 2_000,
        "concurrent": 20_000,
        "rounds": 5,
        "meals": 1_000,
        "kiosk": 10_000,
        "houses": 140,  # about a million events
        "replays": 3,
        "samples": 300,
    },
}
CONCURRENCY = 64
KIOSK_CLIENTS = 32
RESULTS = Path(__file__).with_name("results.json")
EXTRAS: dict[str, str] = {}  # latencies and memory: no raw counterpart, reported as they are
NUMBERS: dict[str, float] = {}  # the same as numbers, for the targets (bench/targets.py)


@dataclass
class Figure:
    name: str
    crew: float
    reference_name: str
    reference: float
    unit: str
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.crew / self.reference if self.reference else 0.0


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def rate(count: int, concurrency: int, one: Callable[[int], Awaitable[object]]) -> float:
    """Operations per second for `count` operations with `concurrency` in flight."""
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            i = next_index
            next_index += 1
            await one(i)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


async def median_of(rounds: int, label: str, measure: Callable[[int], Awaitable[float]]) -> float:
    values = []
    for r in range(rounds):
        values.append(await measure(r))
        say(f"  {label}: round {r + 1}/{rounds}: {values[-1]:,.0f}/s")
    return statistics.median(values)


def event_payload(i: int) -> tuple[bytes, dict[str, str]]:
    """A raw event of the same size and headers as the command path appends."""
    event = m.VolunteeredToCook(meal_id=f"meal{i % 1000}", crew_id=f"crew{i}", role="helper")
    headers = {
        subjects.EVENT_ID: f"{i:032x}",
        subjects.EVENT_TYPE: "meals.volunteered_to_cook",
        subjects.SCHEMA_VERSION: "1",
        subjects.OCCURRED_AT: "2030-01-07T17:30:00+00:00",
        subjects.ACTOR: "bench",
        subjects.CORRELATION_ID: f"{i:032x}",
        subjects.CAUSATION_ID: f"{i:032x}",
        subjects.SOURCE: "bench",
    }
    return msgspec.json.encode(event), headers


async def raw_publish(nc: NATS, count: int, concurrency: int, offset: int) -> float:
    js = nc.jetstream()

    async def one(i: int) -> None:
        data, headers = event_payload(offset + i)
        await js.publish(f"bench.raw.{(offset + i) % 1000}", data, headers=headers)

    return await rate(count, concurrency, one)


async def command_path(
    nc: NATS, count: int, concurrency: int, offset: int, meals: int, phase: str = "crew"
) -> float:
    """`count` sign-ups, `concurrency` in flight: the phase's sign-ups `offset` onwards."""

    async def one(i: int) -> None:
        n = offset + i
        body = msgspec.json.encode(workload.sign_up(phase, n, meals))
        raw = await client.send(nc, "meals.volunteer_to_cook", body, command_id=f"{phase}-{n}")
        if not isinstance(reply_decoder.decode(raw), Accepted):
            raise RuntimeError(raw.decode())

    return await rate(count, concurrency, one)


def quantile_ms(latencies: list[float], q: float) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, max(int(len(ordered) * q) - 1, 0))] * 1000


def percentiles(latencies: list[float]) -> str:
    return f"p50 {quantile_ms(latencies, 0.5):.1f} ms, p99 {quantile_ms(latencies, 0.99):.1f} ms"


async def timed(
    count: int, concurrency: int, one: Callable[[int], Awaitable[object]]
) -> tuple[float, str]:
    latencies: list[float] = []

    async def measured(i: int) -> None:
        started = time.perf_counter()
        await one(i)
        latencies.append(time.perf_counter() - started)

    per_second = await rate(count, concurrency, measured)
    return per_second, percentiles(latencies)


async def kiosk_knows(url: str, token: str, seconds: float = 30) -> None:
    """Wait until the kiosk takes the new token (it learns tokens from a watch on the bucket)."""
    import httpx

    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                empty = await http.post(  # 422 once the token is known; 401 or 503 before
                    "/api/v1/commands/meals/volunteer_to_cook",
                    json={},
                    headers={"authorization": f"Bearer {token}", "idempotency-key": "bench-probe"},
                )
                if empty.status_code not in (401, 503):
                    return
            await asyncio.sleep(0.05)
    raise SystemExit("the kiosk never took the bench's token")


async def kiosk_vs_nats(nc: NATS, url: str, token: str, count: int, meals: int) -> Figure:
    """Sign-ups through the kiosk's HTTP API at 32 concurrent clients, and the same commands
    sent straight over NATS at the same concurrency."""
    import httpx

    limits = httpx.Limits(max_connections=KIOSK_CLIENTS)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:

        async def tap(i: int) -> None:
            body = workload.sign_up("k", i, meals)
            headers = {"authorization": f"Bearer {token}", "idempotency-key": f"kiosk-{i}"}
            for attempt in range(5):  # as a tablet does: a dropped connection is retried, same key
                try:
                    response = await http.post(
                        "/api/v1/commands/meals/volunteer_to_cook", json=body, headers=headers
                    )
                    break
                except httpx.TransportError:
                    if attempt == 4:
                        raise
                    await asyncio.sleep(0.05)
            if response.status_code != 200:
                raise RuntimeError(f"{response.status_code} {response.text}")

        http_rate, http_latency = await timed(count, KIOSK_CLIENTS, tap)

    async def direct(i: int) -> None:
        body = msgspec.json.encode(workload.sign_up("n", i, meals))
        await client.send(nc, "meals.volunteer_to_cook", body, command_id=f"direct-{i}")

    nats_rate, nats_latency = await timed(count, KIOSK_CLIENTS, direct)
    return Figure(
        f"kiosk HTTP sign-ups, {KIOSK_CLIENTS} clients",
        http_rate,
        f"same over NATS, {KIOSK_CLIENTS} in flight",
        nats_rate,
        "/s",
        f"HTTP {http_latency}; NATS {nats_latency}",
    )


async def freshness(
    nc: NATS, samples: int, meals: int, heavy: bool
) -> tuple[list[float], list[float]]:
    """From sending a sign-up to its row visible in meal_plan (the projector's checkpoint
    reaches the event's sequence, committed with the row): the whole, which the target is held
    to, and the part after the `accepted` reply (the rest is the command's own round trip)."""
    stop = asyncio.Event()
    load: list[asyncio.Task[None]] = []
    if heavy:
        churned = itertools.count()

        async def churn() -> None:
            while not stop.is_set():
                body = msgspec.json.encode(workload.sign_up("load", next(churned), meals))
                await client.send(nc, "meals.volunteer_to_cook", body)

        load = [asyncio.create_task(churn()) for _ in range(CONCURRENCY)]
    latencies, after_reply = [], []
    probe = msgspec.json.encode({"sql": "select seq from projector_checkpoint"})
    for i in range(samples):
        body = msgspec.json.encode(workload.sign_up(f"fresh{int(heavy)}-", i, meals))
        sent = time.perf_counter()
        raw = await client.send(nc, "meals.volunteer_to_cook", body)
        reply = reply_decoder.decode(raw)
        if not isinstance(reply, Accepted) or not reply.events:
            raise RuntimeError(raw.decode())
        seq = reply.events[-1].seq
        accepted = time.perf_counter()
        while True:
            answer = msgspec.json.decode(
                (await nc.request(subjects.QUERY_SQL, probe, timeout=10)).data
            )
            if answer["rows"][0][0] >= seq:
                break
            await asyncio.sleep(0.001)
        visible = time.perf_counter()
        latencies.append(visible - sent)
        after_reply.append(visible - accepted)
        await asyncio.sleep(0.05 if not heavy else 0.01)
    stop.set()
    await asyncio.gather(*load, return_exceptions=True)
    return latencies, after_reply


def query_latency(path: Path, rounds: int = 20) -> dict[str, str]:
    """p50 and p95 of the counting views over the rebuilt file (NUMBERS: `<view>_p95_ms`),
    asked at the seeded year's end, when they count every contribution of it."""
    projection = Projection(path)
    at = workload.YEAR_END
    projection.con.execute(f"create or replace temp macro house_now() as timestamp '{at}'")
    found = {}
    for view in ("crew_contributions", "load_balance", "drifting_away"):
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            projection.con.execute(f"select * from {view}").fetchall()
            times.append(time.perf_counter() - started)
        NUMBERS[f"{view}_p95_ms"] = quantile_ms(times, 0.95)
        found[view] = f"p50 {quantile_ms(times, 0.5):.1f} ms, p95 {quantile_ms(times, 0.95):.1f} ms"
    projection.close()
    return found


async def raw_replay(nc: NATS, last: int) -> float:
    """The raw limit: an ordered push consumer that only counts what arrives (about 95-130k
    events/s on 2 cores). It keeps up easily, so it never overruns its pending queue."""
    done = asyncio.Event()
    seen = 0

    async def count(msg: Any) -> None:
        nonlocal seen
        seen = msg.metadata.sequence.stream
        if seen >= last:
            done.set()

    started = time.perf_counter()
    sub = await nc.jetstream().subscribe(
        subjects.EVENTS_ALL, stream=subjects.STREAM, ordered_consumer=True, cb=count,
        pending_msgs_limit=1_000_000, pending_bytes_limit=1024 * 1024 * 1024,
    )  # fmt: skip
    await asyncio.wait_for(done.wait(), timeout=600)
    elapsed = time.perf_counter() - started
    await sub.unsubscribe()
    return last / elapsed


PROBES: list[dict[str, Any]] = []  # each rebuild probe's JSON


async def projector_rebuild(url: str, folder: Path, r: int) -> float:
    """A rebuild of every view in its own process (as the projector would), so its peak memory
    is its own."""
    path = folder / f"rebuild-{r}.duckdb"
    probe = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.rebuild_probe", url, str(path), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await probe.communicate()
    result = json.loads(out)
    PROBES.append(result)
    return float(result["events_per_s"])


async def round_trips(nc: NATS, plan: dict[str, int]) -> list[Figure]:
    """Command round-trips against raw publishes, one at a time and many in flight."""
    rounds, seq_n, conc_n = plan["rounds"], plan["sequential"], plan["concurrent"]
    say("raw js.publish, sequential ...")
    raw_seq = await median_of(rounds, "raw seq", lambda r: raw_publish(nc, seq_n, 1, r * seq_n))
    say("command round-trips, sequential ...")
    cmd_seq = await median_of(
        rounds, "cmd seq", lambda r: command_path(nc, seq_n, 1, r * seq_n, plan["meals"], "s")
    )
    say(f"raw js.publish, {CONCURRENCY} in flight ...")
    base = 1_000_000
    raw_conc = await median_of(
        rounds, "raw 64", lambda r: raw_publish(nc, conc_n, CONCURRENCY, base + r * conc_n)
    )
    say(f"command round-trips, {CONCURRENCY} concurrent ...")
    cmd_conc = await median_of(
        rounds,
        "cmd 64",
        lambda r: command_path(nc, conc_n, CONCURRENCY, r * conc_n, plan["meals"], "c"),
    )
    return [
        Figure(
            "command round-trips, sequential", cmd_seq, "raw js.publish, sequential", raw_seq, "/s"
        ),
        Figure(
            f"command round-trips, {CONCURRENCY} concurrent",
            cmd_conc,
            f"raw js.publish, {CONCURRENCY} in flight",
            raw_conc,
            "/s",
        ),
    ]


async def measure_freshness(
    nc: NATS, server: NatsServer, env: dict[str, str], log: IO[bytes], plan: dict[str, int]
) -> None:
    """Sent -> visible in meal_plan, under light and heavy load, with a live projector."""
    say("freshness: sent -> visible in meal_plan, light and heavy load ...")
    projector = subprocess.Popen(
        [sys.executable, "-m", "projections"], env=env, stdout=log, stderr=log
    )
    try:
        if await client.wait_for_components(server.url, ["projector"], timeout=60):
            raise SystemExit("the projector did not start")
        caught_up = await stream_last_seq(nc)
        probe = msgspec.json.encode({"sql": "select seq from projector_checkpoint"})
        while True:  # measure freshness, not the start-up catch-up
            answer = msgspec.json.decode(
                (await nc.request(subjects.QUERY_SQL, probe, timeout=10)).data
            )
            if answer.get("rows") and answer["rows"][0][0] >= caught_up:
                break
            await asyncio.sleep(0.2)
        for heavy, label in ((False, "light load"), (True, f"{CONCURRENCY} concurrent commands")):
            latencies, after_reply = await freshness(
                nc, plan["samples"], plan["meals"], heavy=heavy
            )
            load = "heavy" if heavy else "light"
            EXTRAS[f"freshness, {label}"] = (
                f"{percentiles(latencies)}; after the reply {percentiles(after_reply)}"
            )
            NUMBERS[f"freshness_{load}_p99_ms"] = quantile_ms(latencies, 0.99)
            NUMBERS[f"freshness_{load}_after_reply_p99_ms"] = quantile_ms(after_reply, 0.99)
    finally:
        projector.terminate()
        projector.wait(30)


async def rebuild(nc: NATS, server: NatsServer, folder: Path, plan: dict[str, int]) -> Figure:
    """A year of several houses written to the log, then replayed raw and rebuilt into views."""
    say(f"writing the workload: a year in {plan['houses']} houses ...")
    written = await workload.write(nc, plan["houses"], seed=7, say=say)
    last = await stream_last_seq(nc)
    say(f"replaying {last:,} events ({written:,} from the workload) ...")
    replays = plan["replays"]
    raw = await median_of(replays, "raw replay", lambda r: raw_replay(nc, last))
    rebuilt = await median_of(
        replays, "rebuild", lambda r: projector_rebuild(server.url, folder, r)
    )
    peak = max(p["peak_rss_mb"] for p in PROBES)
    EXTRAS["projector peak memory during rebuild"] = f"{peak:.0f} MB for {last:,} events"
    NUMBERS.update(rebuild_peak_mb=peak, rebuild_events=last, rebuild_seconds=last / rebuilt)
    for view, figure in query_latency(folder / "rebuild-0.duckdb").items():
        EXTRAS[f"{view} query over {last:,} events, at {workload.YEAR_END}"] = figure
    return Figure(f"projector rebuild ({last:,} events)", rebuilt, "raw ordered replay", raw, "/s")


def embedded_nats(folder: Path) -> tuple[NatsServer, dict[str, str]]:
    """An embedded NATS started under `folder`, and the environment of the bench's processes."""
    server = NatsServer(folder / "home", free_port())
    server.start()
    env = {**os.environ, "CREW_NATS_URL": server.url, "CREW_HOME": str(folder / "home")}
    env["CREW_LOG_FORMAT"] = "json"
    return server, env


async def plan_meals(nc: NATS, meals: int) -> None:
    """Meals meal0 to meal<meals - 1>, each with 50 helper places (the sign-ups' meals)."""
    for n in range(meals):
        body = {"meal_id": f"meal{n}", "date": "2030-01-07", "helper_slots": 50}
        await client.send(nc, "meals.plan_meal", msgspec.json.encode(body), command_id=f"plan-{n}")


def start(module: str, env: dict[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", module], env=env, stdout=log, stderr=log)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()


async def bench(size: str) -> list[Figure]:
    plan = SIZES[size]
    with tempfile.TemporaryDirectory(prefix="crew-bench-") as tmp:
        folder = Path(tmp)
        server, env = embedded_nats(folder)
        log = (folder / "meals.log").open("wb")
        http_port = free_port()
        unlimited = {"CREW_HTTP_PORT": str(http_port), "CREW_KIOSK_RATE": "1e9"}
        meals = start("services.meals", env, log)
        kiosk = start("services.kiosk", {**env, **unlimited, "CREW_KIOSK_BURST": "1e9"}, log)
        try:
            nc = await nats.connect(server.url)
            await ensure_event_store(nc)
            await nc.jetstream().add_stream(
                StreamConfig(name="BENCH_RAW", subjects=["bench.raw.>"], storage=StorageType.FILE)
            )
            if await client.wait_for_components(server.url, ["meals"], timeout=30):
                raise SystemExit("the meals service did not start")
            say(f"planning {plan['meals']} meals ...")
            await plan_meals(nc, plan["meals"])
            figures = await round_trips(nc, plan)
            say(f"kiosk HTTP sign-ups, {KIOSK_CLIENTS} clients, and the same over NATS ...")
            token = await tokens.add(nc, "bench")
            url = f"http://127.0.0.1:{http_port}"
            await kiosk_knows(url, token)
            figures.append(await kiosk_vs_nats(nc, url, token, plan["kiosk"], plan["meals"]))
            await measure_freshness(
                nc, server, {**env, "CREW_HOME": str(folder / "live")}, log, plan
            )
            figures.append(await rebuild(nc, server, folder, plan))
            await nc.close()
            return figures
        finally:
            for process in (meals, kiosk):
                stop(process)
            log.close()
            server.stop()
