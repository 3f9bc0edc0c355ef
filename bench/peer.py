"""crew beside its peer: the sign-up workload on the `eventsourcing` library (bench.peer_meals),
run after crew's own figures, at the same counts, and reported as crew/peer ratios."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import msgspec

from bench.run import CONCURRENCY, EXTRAS, SIZES, Figure, say

PEER = "eventsourcing + SQLite"


class PeerRates(msgspec.Struct):
    sequential: float
    threads: dict[int, float]
    durability: dict[str, str | None]


def measure(size: str) -> PeerRates | None:
    """The peer's rates at `size`, from its own process; empty when it cannot run here."""
    plan = SIZES[size]
    with tempfile.TemporaryDirectory(prefix="crew-bench-peer-") as tmp:
        command = [sys.executable, "-m", "bench.peer_meals"]
        command += ["--sequential", str(plan["sequential"]), "--concurrent"]
        command += [str(plan["concurrent"]), "--meals", str(plan["meals"])]
        command += ["--db", str(Path(tmp) / "peer.sqlite")]
        run = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if run.returncode != 0:
        say("the peer did not run (is the dev extra installed? pip install -e '.[dev]')")
        return None
    return msgspec.json.decode(run.stdout, type=PeerRates)


def figures(size: str, crew: list[Figure]) -> list[Figure]:
    """crew's command round-trips against the peer's sequential rate and its best thread count."""
    say(f"the peer: the same sign-ups on {PEER}, sequential and 8-64 threads ...")
    peer = measure(size)
    if peer is None:
        return []
    best_threads, best = max(peer.threads.items(), key=lambda item: item[1])
    EXTRAS["peer, each thread count"] = ", ".join(
        f"{n} threads {r:,.0f}/s" for n, r in peer.threads.items()
    )
    EXTRAS["peer durability (SQLite)"] = json.dumps(peer.durability)
    by_name = {f.name: f.crew for f in crew}
    return [
        Figure(
            "command round-trips, sequential, vs peer",
            by_name["command round-trips, sequential"],
            f"{PEER}, sequential",
            peer.sequential,
            "/s",
            note="target: at least 1.0",
        ),
        Figure(
            f"command round-trips, {CONCURRENCY} concurrent, vs peer",
            by_name[f"command round-trips, {CONCURRENCY} concurrent"],
            f"{PEER}, {best_threads} threads (best)",
            best,
            "/s",
            note="target: at least 2.0",
        ),
    ]
