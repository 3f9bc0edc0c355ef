"""`python -m bench.write_probe`: what one JetStream write costs in its variants, and what a
bare responder behind a NATS request can do, on an embedded NATS with `sync_interval: always`.
The figures docs/performance.md quotes for issue 18's design: an atomic batch against a plain
publish, the message id and guard headers, an append as crew makes it (with and without the
outcome lookup before it), and the floor under crew's command path."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import KeyValueConfig, StorageType, StreamConfig

from house.natsserver import NatsServer, free_port

COUNT = 2000
DATA = b"x" * 300
AGGREGATES = 1000
EVENT_HEADERS = {  # what the shell puts on an event besides the id and the guard
    "Crew-Event-Id": uuid.uuid4().hex,
    "Crew-Event-Type": "meals.volunteered_to_cook",
    "Crew-Schema-Version": "1",
    "Crew-Occurred-At": "2026-12-07T01:00:00.123456+00:00",
    "Crew-Actor": "kiosk:hall",
    "Crew-Correlation-Id": uuid.uuid4().hex,
    "Crew-Causation-Id": uuid.uuid4().hex,
    "Crew-Source": "kiosk:hall",
}


async def rate(count: int, concurrency: int, one: Callable[[int], Awaitable[object]]) -> float:
    numbers = iter(range(count))

    async def worker() -> None:
        for i in numbers:
            await one(i)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


def shifted(one: Callable[[int], Awaitable[object]], by: int) -> Callable[[int], Awaitable[object]]:
    return lambda i: one(i + by)


def writes(nc: NATS) -> dict[str, Callable[[int], Awaitable[object]]]:
    js = nc.jetstream()
    tag = uuid.uuid4().hex[:6]

    async def plain(i: int) -> None:
        await js.publish(f"p.{tag}{i}.e", DATA)

    async def guarded(i: int) -> None:  # as the shell appends: id and expected sequence
        headers = {
            "Nats-Msg-Id": f"{tag}-{i}",
            "Nats-Expected-Last-Subject-Sequence": "0",
            "Nats-Expected-Last-Subject-Sequence-Subject": f"p.g{tag}{i}.*",
        }
        await js.publish(f"p.g{tag}{i}.e", DATA, headers=headers)

    def batch(size: int) -> Callable[[int], Awaitable[None]]:
        async def one(i: int) -> None:
            batch_id = uuid.uuid4().hex
            for n in range(1, size + 1):
                headers = {"Nats-Batch-Id": batch_id, "Nats-Batch-Sequence": str(n)}
                if n < size:
                    await nc.publish(f"p.b{tag}{i}.e{n}", DATA, headers=headers)
                else:
                    headers["Nats-Batch-Commit"] = "1"
                    await nc.request(f"p.b{tag}{i}.e{n}", DATA, headers=headers, timeout=10)

        return one

    last: dict[int, int] = {}  # each aggregate's last seq, as a service's cache knows it
    ids = itertools.count()

    async def as_crew(i: int) -> None:  # crew's headers, on 1,000 aggregates with a history
        aggregate = i % AGGREGATES
        headers = {
            **EVENT_HEADERS,
            "Nats-Msg-Id": f"{tag}-c{next(ids)}",
            "Nats-Expected-Last-Subject-Sequence": str(last.get(aggregate, 0)),
            "Nats-Expected-Last-Subject-Sequence-Subject": f"p.a{tag}{aggregate}.*",
        }
        ack = await js.publish(f"p.a{tag}{aggregate}.e", DATA, headers=headers)
        last[aggregate] = ack.seq

    async def looked_up(i: int) -> None:  # the outcome lookup first, as the command path does
        with contextlib.suppress(nats.errors.NoRespondersError, nats.errors.TimeoutError):
            await nc.request(f"$JS.API.DIRECT.GET.KV_PROBE.$KV.PROBE.k{tag}{i}", b"", timeout=10)
        await as_crew(i)

    return {
        "plain js.publish": plain,
        "with Nats-Msg-Id and expected-sequence guard": guarded,
        "as crew appends (10 headers, 1,000 aggregates)": as_crew,
        "outcome lookup, then that append": looked_up,
        "atomic batch of 1": batch(1),
        "atomic batch of 2": batch(2),
    }


async def floor(nc: NATS, client: NATS) -> dict[str, Callable[[int], Awaitable[object]]]:
    """A bare responder: the outcome lookup, the append and the reply, nothing else."""
    js = nc.jetstream()
    kv = await js.create_key_value(
        KeyValueConfig(bucket="PROBE", history=1, storage=StorageType.FILE, direct=True)
    )

    async def answer(msg: Msg) -> None:
        with contextlib.suppress(nats.js.errors.KeyNotFoundError):
            await kv.get(f"k{msg.data.decode()}")
        await js.publish(f"p.f{msg.data.decode()}.e", DATA)
        await nc.publish(msg.reply, b'{"status":"accepted"}')

    async def arrived(msg: Msg) -> None:
        asyncio.get_running_loop().create_task(answer(msg))

    await nc.subscribe("probe.cmd", queue="probe", cb=arrived)

    async def command(i: int) -> None:
        await client.request("probe.cmd", uuid.uuid4().hex.encode(), timeout=10)

    return {"bare responder: lookup, append, reply": command}


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="crew-probe-") as tmp:
        server = NatsServer(Path(tmp), free_port())
        server.start()
        try:
            nc, client = await nats.connect(server.url), await nats.connect(server.url)
            await nc.jetstream().add_stream(
                StreamConfig(
                    name="PROBE",
                    subjects=["p.>"],
                    storage=StorageType.FILE,
                    allow_atomic=True,
                    duplicate_window=100 * 365 * 24 * 3600.0,
                )
            )
            kinds = {**writes(client), **await floor(nc, client)}
            print(f"{'write':<48} {'sequential':>12} {'64 in flight':>14}")
            for name, one in kinds.items():
                alone = await rate(COUNT // 4, 1, one)
                many = await rate(COUNT, 64, shifted(one, COUNT))  # subjects of their own
                print(f"{name:<48} {alone:>10,.0f}/s {many:>12,.0f}/s", flush=True)
            await nc.close()
            await client.close()
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
