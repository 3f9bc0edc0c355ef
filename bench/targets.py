"""Issue 18's targets, each checked against this run's figures: what `make bench` prints last
and `bench/results.json` carries under "targets", so a script can check them.

A target measured at a smaller size than it names (1 M events) is checked at the size run and
says so in `at`; `make bench-full` measures it at its own size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.run import CONCURRENCY, Figure

FULL_EVENTS = 1_140_000  # the rebuild target names this size


@dataclass(frozen=True)
class Target:
    name: str
    value: float
    limit: float
    unit: str
    at_least: bool  # the value must be at least the limit (else at most)
    at: str = ""  # the size it was measured at, when not the size the target names

    @property
    def met(self) -> bool:
        return self.value >= self.limit if self.at_least else self.value <= self.limit

    def line(self) -> str:
        sign = ">=" if self.at_least else "<="
        where = f" (at {self.at})" if self.at else ""
        verdict = "met" if self.met else "missed"
        return (
            f"{self.name:<58} {self.value:>9,.2f} {self.unit:<7} target {sign} "
            f"{self.limit:,.2f}: {verdict}{where}"
        )


def _ratio(figures: Sequence[Figure], name: str) -> float | None:
    """The ratio of the figure of this name (the rebuild's name ends with its size)."""
    found = [f for f in figures if f.name == name or f.name.startswith(f"{name} (")]
    return found[0].ratio if found else None


def targets(figures: Sequence[Figure], numbers: dict[str, float]) -> list[Target]:
    """Every target of issue 18 that this run measured."""
    events = numbers.get("rebuild_events", 0)
    size = "" if events >= FULL_EVENTS * 0.9 else f"{events:,.0f} events"
    commands = f"command round-trips, {CONCURRENCY} concurrent"
    ratios = [
        ("commands, 64 concurrent, against raw js.publish", commands, 0.6),
        ("commands, sequential, against the peer", "command round-trips, sequential, vs peer", 1.0),
        ("commands, 64 concurrent, against the peer's best", f"{commands}, vs peer", 2.0),
        ("rebuild, against raw ordered replay", "projector rebuild", 0.5),
    ]
    found = []
    for name, figure, limit in ratios:
        ratio = _ratio(figures, figure)
        if ratio is not None:
            found.append(Target(name, ratio, limit, "x", at_least=True))
    at_most = [
        ("rebuild of 1.14 M events, seconds", "rebuild_seconds", 30, "s", size),
        ("crew_contributions p95", "crew_contributions_p95_ms", 50, "ms", size),
        ("load_balance p95", "load_balance_p95_ms", 50, "ms", size),
        ("projector memory during a 1 M-event rebuild", "rebuild_peak_mb", 256, "MB", size),
        ("freshness p99, light load", "freshness_light_p99_ms", 100, "ms", ""),
        (f"freshness p99, {CONCURRENCY} concurrent", "freshness_heavy_p99_ms", 250, "ms", ""),
        ("the whole house at rest, --one-process", "house_at_rest_one_process_mb", 300, "MB", ""),
    ]
    for name, key, limit, unit, at in at_most:
        if key in numbers:
            value = numbers[key]
            if key == "rebuild_seconds" and events:  # scaled to the size the target names
                value = value * FULL_EVENTS / events
            found.append(Target(name, value, limit, unit, at_least=False, at=at))
    return found
