"""`python -m bench.rebuild_probe <nats_url> <file> [<last seq>]`: rebuild every view from the
log (all of it, or up to <last seq>) into <file>, as the projector does, and print events/s, the
peak memory of this process, and the seconds each part took: each view's fold, decoding,
committing, the one count at the end, and the rest (reading the log, and waiting for it)."""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import nats

from crew import settings
from crew.personal import JetStreamVault
from projections.projection import Projection
from projections.projector import replay_into, stream_last_seq

READING = "(reading and the rest)"  # the wall time not spent applying: reading the log, mostly


async def main(url: str, path: Path, until: int | None = None) -> None:
    nc = await nats.connect(url)
    last = min(until or 2**63, await stream_last_seq(nc))
    started = time.perf_counter()
    config = settings.load(find_house=False).projector  # CREW_* as the projector reads them
    projection = Projection(path, config=config, in_memory=False, rebuilding=True)  # as a rebuild
    projection.count_later(until=last)
    size = config.projector_rebuild_batch
    replay = await replay_into(nc, projection, last, JetStreamVault(nc), batch_size=size)
    seconds = time.perf_counter() - started
    parts = dict(projection.spent, **{READING: seconds - sum(projection.spent.values())})
    await replay.stop()
    projection.close()
    await nc.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "events": last,
                "seconds": seconds,
                "events_per_s": last / seconds,
                "peak_rss_mb": peak_mb,
                "seconds_by_part": {
                    name: round(spent, 2)
                    for name, spent in sorted(parts.items(), key=lambda part: -part[1])
                },
            }
        )
    )


def by_part(result: dict[str, Any], shown: int = 8) -> str:
    """The probe's seconds by part in one line, the largest first: `event_log 6.2, ...`."""
    parts = list(result["seconds_by_part"].items())
    rest = sum(seconds for _, seconds in parts[shown:])
    named = ", ".join(f"{name} {seconds:.1f}" for name, seconds in parts[:shown])
    return f"{named}, {len(parts[shown:])} more {rest:.1f}" if parts[shown:] else named


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]) if sys.argv[3:] else None))
