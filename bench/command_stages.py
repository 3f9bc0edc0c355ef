"""`python -m bench.command_stages [--count N] [--concurrency C]`: where the commands in flight
wait, millisecond by millisecond. Starts an embedded NATS and the meals service with a clock
around its two store calls (the outcome lookup and the append) and around each whole command,
sends N sign-ups with C in flight, then prints how many commands waited on an append in each
millisecond, and how the appends' answers arrived (docs/performance.md, "Why the service's
work and the disk's wait add up")."""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import runpy
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.profile_commands import MEALS, drive
from bench.run import embedded_nats, say

Timed = tuple[str, float, float]  # what, started, ended (perf_counter seconds)
BURST = 8  # answers in one millisecond that count as a burst


@dataclass(frozen=True)
class Stages:
    commands: int
    seconds: float
    all_appending: float  # share of the milliseconds with every command waiting on its append
    none_appending: float  # ... with no append on its way to the disk
    answers_in_bursts: float  # share of the appends' answers that came BURST or more in a ms
    strip: list[tuple[int, int, int]]  # mid-run milliseconds: in the service, lookups, appends


def stages(timed: Sequence[Timed], concurrency: int, strip_ms: int = 60) -> Stages:
    """Fold the service's clock readings into per-millisecond counts, from the first command's
    start to the last one's end."""
    commands = [t for t in timed if t[0] == "command"]
    start, end = min(t[1] for t in commands), max(t[2] for t in commands)
    slots = int((end - start) * 1000) + 1
    busy = {what: [0] * slots for what in ("command", "lookup", "append")}
    answers: Counter[int] = Counter()
    for what, began, ended in timed:
        first, last = int((began - start) * 1000), int((ended - start) * 1000)
        for ms in range(max(first, 0), min(last, slots - 1) + 1):
            busy[what][ms] += 1
        if what == "append":
            answers[last] += 1
    appending = busy["append"]
    middle = max(slots // 2 - strip_ms // 2, 0)
    in_bursts = sum(n for n in answers.values() if n >= BURST)
    return Stages(
        commands=len(commands),
        seconds=end - start,
        all_appending=sum(n >= concurrency for n in appending) / slots,
        none_appending=appending.count(0) / slots,
        answers_in_bursts=in_bursts / (sum(answers.values()) or 1),
        strip=[
            (busy["command"][ms], busy["lookup"][ms], appending[ms])
            for ms in range(middle, min(middle + strip_ms, slots))
        ],
    )


def serve(out: Path) -> None:
    """The meals service, its store calls and commands timed into `out` when it stops."""
    from crew.desk import CommandDesk
    from crew.eventstore import JetStreamEventStore

    timed: list[Timed] = []

    def clocked(owner: type, name: str, what: str) -> None:
        call: Callable[..., Awaitable[Any]] = getattr(owner, name)

        async def timed_call(self: object, *args: object) -> Any:
            began = time.perf_counter()
            try:
                return await call(self, *args)
            finally:
                timed.append((what, began, time.perf_counter()))

        setattr(owner, name, timed_call)

    clocked(JetStreamEventStore, "outcome", "lookup")
    clocked(JetStreamEventStore, "_stored", "append")
    clocked(CommandDesk, "_answer", "command")
    atexit.register(lambda: out.write_text(json.dumps(timed)))
    sys.argv = ["services.meals"]
    runpy.run_module("services.meals", run_name="__main__")


def report(found: Stages, concurrency: int, rate: float) -> None:
    say(f"sign-ups, {concurrency} in flight: {rate:,.0f}/s ({found.commands} timed)")
    print(f"every command waiting on its append: {found.all_appending:.0%} of the milliseconds")
    print(f"no append on its way to the disk:    {found.none_appending:.0%} of the milliseconds")
    print(f"appends answered {BURST} or more in one millisecond: {found.answers_in_bursts:.0%}")
    print("milliseconds mid-run: commands in the service, waiting on the lookup, on the append")
    for ms, (inside, lookups, appends) in enumerate(found.strip):
        print(f"{ms:4d} ms {inside:3d} {lookups:3d} {appends:3d}  {'#' * appends}")


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        serve(Path(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(prog="python -m bench.command_stages", description=__doc__)
    parser.add_argument("--count", type=int, default=10000, help="sign-ups sent (default 10000)")
    parser.add_argument(
        "--concurrency", type=int, default=64, help="commands in flight (default 64)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crew-stages-") as tmp:
        server, env = embedded_nats(Path(tmp))
        out = Path(tmp) / "timed.json"
        command = [sys.executable, "-m", "bench.command_stages", "serve", str(out)]
        with (Path(tmp) / "meals.log").open("wb") as log:
            service = subprocess.Popen(command, env=env, stdout=log, stderr=log)
            try:
                rate = asyncio.run(drive(server.url, args.count, args.concurrency))
            finally:
                service.terminate()
                service.wait(60)
                server.stop()
        timed: list[Timed] = [(what, a, b) for what, a, b in json.loads(out.read_text())]
    report(stages(sign_ups(timed), args.concurrency), args.concurrency, rate)


def sign_ups(timed: Sequence[Timed]) -> list[Timed]:
    """What was timed from the first sign-up on: the MEALS commands before plan the meals."""
    starts = sorted(began for what, began, _ in timed if what == "command")
    first = starts[MEALS] if len(starts) > MEALS else 0.0
    return [t for t in timed if t[1] >= first]


if __name__ == "__main__":
    main()
