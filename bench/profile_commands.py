"""`python -m bench.profile_commands [--count N] [--concurrency C] [--out DIR]`: where a
command's time goes. Starts an embedded NATS, runs the meals service under py-spy (dev extras),
sends N sign-ups, one at a time or C in flight, and writes the service's profile as collapsed stacks (`meals.folded`,
which speedscope.app and flamegraph.pl read), then prints the rate and the share of the
service's samples in each layer (docs/performance.md quotes them)."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import nats

from bench.run import command_path, embedded_nats, plan_meals, say
from crew.eventstore import ensure_event_store
from house import client

MEALS = 100  # 50 helper places each: 5,000 sign-ups fit, the rest waitlisted

# A sample counts for the layer of its deepest frame outside the standard library (a socket
# write inside asyncio counts for whoever wrote); a sample waiting in the selector is idle.
LAYERS = {
    "decide and evolve (the context's own rules)": ("services/",),
    "shell (load, decide, append, reply)": ("crew/shell.py", "crew/decider.py"),
    "event store and personal data": ("crew/eventstore.py", "crew/personal.py"),
    "crew's wiring (service, logs)": ("crew/",),
    "FastStream": ("faststream/",),
    "nats-py client": ("nats/",),
    "structlog": ("structlog/",),
    "msgspec": ("msgspec",),
}
IDLE = "waiting (for NATS, the disk and the next command)"
# A sample of another thread waiting for work (anyio's worker threads) is not the service's
# time: left out of the shares.
THREAD_WAITING = ("Condition.wait (threading.py",)


def layer_of(stack: str) -> str | None:
    frames = stack.split(";")
    if frames[-1].startswith(THREAD_WAITING):
        return None
    if "EpollSelector.select" in frames[-1]:
        return IDLE
    for frame in reversed(frames):
        for layer, marks in LAYERS.items():
            if any(mark in frame for mark in marks):
                return layer
    return "Python itself (event loop, imports, start-up)"


def shares(folded: Path) -> list[tuple[str, float]]:
    counts: Counter[str] = Counter()
    for line in folded.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if (layer := layer_of(stack)) is not None:
            counts[layer] += int(n)
    total = sum(counts.values()) or 1
    return [(layer, n / total) for layer, n in counts.most_common()]


async def drive(url: str, count: int, concurrency: int) -> float:
    nc = await nats.connect(url)
    await ensure_event_store(nc)
    if await client.wait_for_components(url, ["meals"], timeout=30):
        raise SystemExit("the meals service did not start")
    await plan_meals(nc, MEALS)
    rate = await command_path(nc, count, concurrency, 0, MEALS)
    await nc.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_commands", description=__doc__)
    parser.add_argument("--count", type=int, default=3000, help="sign-ups sent (default 3000)")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="commands in flight (default 1: sequential)"
    )
    parser.add_argument("--out", type=Path, default=Path("."), help="where the profile goes")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="crew-profile-") as tmp:
        server, env = embedded_nats(Path(tmp))
        spy = Path(sys.executable).with_name("py-spy")
        folded = args.out / "meals.folded"
        record = [str(spy), "record", "--idle", "--rate", "250", "--format", "raw"]
        service = [sys.executable, "-m", "services.meals"]
        with (Path(tmp) / "meals.log").open("wb") as log:
            spying = subprocess.Popen(
                [*record, "-o", str(folded), "--", *service], env=env, stdout=log, stderr=log
            )
            try:
                time.sleep(1)
                rate = asyncio.run(drive(server.url, args.count, args.concurrency))
            finally:
                spying.send_signal(2)  # py-spy writes its profile on SIGINT
                spying.wait(60)
                server.stop()
    say(
        f"sign-ups under the profiler, {args.concurrency} in flight: {rate:,.0f}/s "
        f"({args.count} commands)"
    )
    for layer, share in shares(folded):
        print(f"{share:6.1%}  {layer}")


if __name__ == "__main__":
    main()
