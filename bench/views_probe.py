"""`python -m bench.views_probe --houses 10`: the counting views over the bench's workload.

A fresh embedded NATS gets the seeded year in N houses (bench/workload.py, about 7,000 events
a house); the projector's rebuild folds it into a file in its own process (rate and peak
memory, as `make bench` measures them); then `crew_contributions`, `load_balance` and
`drifting_away` are asked again and again, p50 and p95. The workload's year is 2030, so at the
machine's own now nothing of it has happened yet (what `make bench` measures); the probe also
asks at moments of that year (house_now() set for the probe's connection only), when the views
have every contribution to count."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import nats

from bench import workload
from crew.eventstore import ensure_event_store
from house.natsserver import NatsServer, free_port
from projections.projection import Projection

VIEWS = ("crew_contributions", "load_balance", "drifting_away")
MOMENTS = (None, "2030-07-01 12:00:00", workload.YEAR_END)


def latency(con: duckdb.DuckDBPyConnection, view: str, rounds: int) -> str:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        rows = con.execute(f"select * from {view}").fetchall()
        times.append(time.perf_counter() - started)
    ordered = sorted(times)
    p50, p95 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.95) - 1]
    return f"p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms ({len(rows):,} rows)"


def queries(path: Path, rounds: int) -> dict[str, str]:
    projection = Projection(path)
    found = {}
    try:
        for moment in MOMENTS:
            if moment:
                projection.con.execute(
                    f"create or replace temp macro house_now() as timestamp '{moment}'"
                )
            for view in VIEWS:
                try:
                    found[f"{view} at {moment or 'now'}"] = latency(projection.con, view, rounds)
                except duckdb.Error as exc:  # out of memory, say: reported, and on to the next
                    found[f"{view} at {moment or 'now'}"] = type(exc).__name__
    finally:
        projection.close()
    return found


async def probe(houses: int, rounds: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="crew-views-") as tmp:
        folder = Path(tmp)
        server = NatsServer(folder / "home", free_port())
        server.start()
        try:
            nc = await nats.connect(server.url)
            await ensure_event_store(nc)
            written = await workload.write(nc, houses, seed=7, say=lambda _: None)
            await nc.close()
            path = folder / "views.duckdb"
            rebuild = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.rebuild_probe", server.url, str(path),
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, _ = await rebuild.communicate()
            return {"events": written, "rebuild": json.loads(out), **queries(path, rounds)}
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.views_probe", description=__doc__)
    parser.add_argument("--houses", type=int, default=10, help="10: ~70 k events; 150: ~1 M")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    for name, value in asyncio.run(probe(args.houses, args.rounds)).items():
        print(f"{name:<44} {value}")


if __name__ == "__main__":
    main()
