"""`python -m bench.live_probe`: what the projector spends on a live batch, view by view, in a
file shaped like `make bench`'s command benchmarks (many meals, each with a long list of
volunteers), folded in process, without NATS.

The file gets `--meals` meals and `--volunteers` volunteers on each (the first 50 as helpers, the
rest waitlisted). Then batches of 1, 10 and 100 more volunteers, on as many meals, are applied
as the live projector applies what arrived since its last batch; each size is timed over
`--rounds` batches, with the views that took longest. The sizes run twice: the second time the
rows are where the first batches rewrote them (a table's rows read through its key index were
slow only then; docs/performance.md, "A live batch")."""

from __future__ import annotations

import argparse
import collections
import datetime
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec

import projections.projection as projection_module
from crew import subjects
from crew.eventstore import Recorded
from projections.projection import Projection
from projections.view import Fact, View
from schemas import meals as m

AT = datetime.datetime(2030, 1, 1, 8, tzinfo=datetime.UTC)
DAY = datetime.date(2030, 1, 7)
HELPERS = 50


class Log:
    """Events as the store records them, numbered from 1."""

    def __init__(self) -> None:
        self.seq = 0

    def record(self, event: msgspec.Struct, meal_id: str) -> Recorded:
        self.seq += 1
        tag = str(type(event).__struct_config__.tag)
        headers = {
            subjects.EVENT_TYPE: tag,
            subjects.SCHEMA_VERSION: "1",
            subjects.OCCURRED_AT: AT.isoformat(),
        }
        subject = subjects.event_subject(tag, meal_id)
        return Recorded(self.seq, subject, msgspec.json.encode(event), headers, AT)


def volunteer(log: Log, meal: int, who: str, helper: bool) -> Recorded:
    meal_id = f"meal{meal}"
    if helper:
        return log.record(m.VolunteeredToCook(meal_id=meal_id, crew_id=who, role="helper"), meal_id)
    return log.record(m.WaitlistedToHelp(meal_id=meal_id, crew_id=who), meal_id)


def build(projection: Projection, log: Log, meals: int, volunteers: int) -> None:
    projection.count_later(until=meals * (1 + volunteers))  # counted at the end, as a rebuild
    planned = [
        log.record(
            m.MealPlanned(meal_id=f"meal{i}", date=DAY, time="17:30", helper_slots=HELPERS),
            f"meal{i}",
        )
        for i in range(meals)
    ]
    projection.apply(planned)
    for n in range(volunteers):  # a batch per round: one more volunteer on every meal
        batch = [volunteer(log, i, f"crew{n}-{i}", n < HELPERS) for i in range(meals)]
        projection.apply(batch)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.live_probe", description=__doc__)
    parser.add_argument("--meals", type=int, default=1000)
    parser.add_argument("--volunteers", type=int, default=110, help="per meal")
    parser.add_argument("--rounds", type=int, default=10, help="batches of each size")
    args = parser.parse_args()
    spent: collections.defaultdict[str, float] = collections.defaultdict(float)
    fold_into = projection_module.fold_into

    def timed(view: View, con: object, facts: Sequence[Fact]) -> None:
        started = time.perf_counter()
        try:
            fold_into(view, con, facts)  # type: ignore[arg-type]
        finally:
            spent[view.name] += time.perf_counter() - started

    projection_module.fold_into = timed  # type: ignore[assignment]
    with tempfile.TemporaryDirectory(prefix="crew-live-") as tmp:
        projection = Projection(Path(tmp) / "views.duckdb")
        log = Log()
        print(f"folding {args.meals} meals with {args.volunteers} volunteers each ...", flush=True)
        build(projection, log, args.meals, args.volunteers)
        print(f"{log.seq:,} events folded; live batches:")
        for size in (1, 10, 100, 1, 10, 100):  # again: the rows where the first batches left them
            spent.clear()
            started = time.perf_counter()
            for r in range(args.rounds):
                batch = [volunteer(log, (r * size + i) % args.meals, f"late{log.seq}", False)
                         for i in range(size)]  # fmt: skip
                projection.apply(batch)
            each = (time.perf_counter() - started) / args.rounds * 1000
            slowest = sorted(spent.items(), key=lambda kv: -kv[1])[:4]
            views = ", ".join(f"{k} {v / args.rounds * 1000:.1f}" for k, v in slowest)
            print(f"  {size:>3} events: {each:.1f} ms a batch ({views} ms)")
        projection.close()


if __name__ == "__main__":
    main()
