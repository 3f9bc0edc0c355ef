"""`python -m bench.id_memory`: what the hundred-year duplicate window costs nats-server.

`CREW_EVENTS` deduplicates message ids for a hundred years (crew.eventstore.DUPLICATE_WINDOW):
every accepted command's id stays in nats-server's memory, and is read back from the stream
when it starts. This probe appends N events to a fresh embedded NATS with the stream as crew
makes it, once with a command id on each (as crew's appends) and once without, and prints
nats-server's RSS as it goes, and again after a restart. docs/performance.md quotes it."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import nats
from nats.aio.client import Client as NATS

from bench.at_rest import rss_mb
from bench.run import embedded_nats
from crew import subjects
from crew.eventstore import ensure_event_store
from house.natsserver import NatsServer

IN_FLIGHT = 512
BODY = b'{"meal_id":"meal1","crew_id":"p00001","portions":1}'


async def append(nc: NATS, first: int, end: int, with_ids: bool) -> None:
    """Events first..end-1, IN_FLIGHT at a time; with a 26-character id each (as the kiosk's)."""
    js, numbers = nc.jetstream(), iter(range(first, end))

    async def worker() -> None:
        for n in numbers:
            headers = {"Nats-Msg-Id": f"c-{n:024x}"} if with_ids else None
            subject = f"crew.evt.meals.signed_up_to_eat.meal{n % 500}"
            await js.publish(subject, BODY, headers=headers)

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))


def pid_of(server: NatsServer) -> int:
    assert server.process is not None
    return server.process.pid


async def measure(steps: list[int], with_ids: bool, settle_s: float = 5.0) -> None:
    kind = "with a command id each" if with_ids else "without ids"
    with tempfile.TemporaryDirectory(prefix="crew-id-memory-") as folder:
        server, _ = embedded_nats(Path(folder))
        try:
            nc = await nats.connect(server.url)
            await ensure_event_store(nc, admin=True)
            print(f"{kind}: empty stream, nats-server {rss_mb(pid_of(server)):.0f} MB", flush=True)
            done = 0
            for step in steps:
                started = time.perf_counter()
                await append(nc, done, step, with_ids)
                done, took = step, time.perf_counter() - started
                rss = rss_mb(pid_of(server))
                print(f"  {done:>10,} events: nats-server {rss:.0f} MB ({took:.0f} s)", flush=True)
            await nc.close()
            server.stop()
            started = time.perf_counter()
            server.start(timeout=600)
            nc = await nats.connect(server.url)
            await nc.jetstream().stream_info(subjects.STREAM)
            took = time.perf_counter() - started
            await asyncio.sleep(settle_s)
            rss = rss_mb(pid_of(server))
            print(f"  restarted in {took:.1f} s: nats-server {rss:.0f} MB", flush=True)
            await nc.close()
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.id_memory", description=__doc__)
    parser.add_argument(
        "--steps",
        default="250000,500000,1000000",
        help="event counts at which to print nats-server's memory (default 250000,500000,"
        "1000000: about 3 minutes each way on two cores)",
    )
    args = parser.parse_args()
    steps = [int(step) for step in args.steps.split(",")]
    for with_ids in (True, False):
        asyncio.run(measure(steps, with_ids))


if __name__ == "__main__":
    main()
