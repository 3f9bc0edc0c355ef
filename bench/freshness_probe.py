"""`python -m bench.freshness_probe [--sign-ups N] [--samples S]`: freshness as `make bench`
measures it (sent -> visible in meal_plan, at light load and under 64 concurrent
commands), after N sign-ups on M meals of 50 helper places: `make bench-full` has about
120,000 on 1,000 meals before its freshness phase, `make bench` about 10,000 on 200 (so that
in both every meal is full, and a sign-up is waitlisted). The live projector's log is kept (`--log`), so
its `batch_applied` lines show what each batch held and took."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
from pathlib import Path

import nats

from bench import run
from crew.eventstore import ensure_event_store
from house import client


async def probe(sign_ups: int, meals_planned: int, samples: int, keep: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="crew-freshness-") as tmp:
        folder = Path(tmp)
        server, env = run.embedded_nats(folder)
        log = (folder / "processes.log").open("wb")
        meals = run.start("services.meals", env, log)
        try:
            nc = await nats.connect(server.url)
            await ensure_event_store(nc)
            if await client.wait_for_components(server.url, ["meals"], timeout=30):
                raise SystemExit("the meals service did not start")
            await run.plan_meals(nc, meals_planned)
            run.say(f"{sign_ups:,} sign-ups, {run.CONCURRENCY} in flight ...")
            rate = await run.command_path(nc, sign_ups, run.CONCURRENCY, 0, meals_planned)
            run.say(f"  {rate:,.0f}/s")
            plan = {"samples": samples, "meals": meals_planned}
            live = {**env, "CREW_HOME": str(folder / "live")}
            await run.measure_freshness(nc, server, live, log, plan)
            await nc.close()
        finally:
            run.stop(meals)
            log.close()
            server.stop()
            shutil.copy(folder / "processes.log", keep)
    for name, figure in run.EXTRAS.items():
        print(f"{name}: {figure}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.freshness_probe", description=__doc__)
    parser.add_argument(
        "--sign-ups", type=int, default=120_000, help="before the freshness phase (120000)"
    )
    parser.add_argument("--meals", type=int, default=1000, help="meals planned (1000)")
    parser.add_argument("--samples", type=int, default=300, help="probes at each load (300)")
    parser.add_argument(
        "--log", type=Path, default=Path("freshness-probe.log"), help="where the logs are kept"
    )
    args = parser.parse_args()
    asyncio.run(probe(args.sign_ups, args.meals, args.samples, args.log))


if __name__ == "__main__":
    main()
