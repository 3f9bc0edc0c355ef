"""`python -m bench`: run the benchmark at a size, print the figures, write them as JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path

from bench import at_rest, peer, rebuild_probe, run
from bench.run import EXTRAS, NUMBERS, PROBES, RESULTS, SIZES, Figure, bench, say
from bench.targets import targets


def table(figures: list[Figure]) -> str:
    name = max(len("figure"), *(len(f.name) for f in figures))
    ref = max(len("reference"), *(len(f.reference_name) for f in figures))
    lines = [f"{'figure':<{name}} {'crew':>12}   {'reference':<{ref}} {'':>12} {'ratio':>6}"]
    for f in figures:
        crew, other = f"{f.crew:,.0f}{f.unit}", f"{f.reference:,.0f}{f.unit}"
        lines.append(
            f"{f.name:<{name}} {crew:>12}   {f.reference_name:<{ref}} {other:>12} {f.ratio:>6.2f}"
        )
        if f.note:
            lines.append(f"{'':<{name}}   {f.note}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=run.__doc__)
    parser.add_argument(
        "--size",
        choices=sorted(SIZES),
        default="quick",
        help="quick (a few minutes, the default), full (about a million events), "
        "or smoke (every figure on a handful of commands: does the bench run?)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS,
        help=f"where the figures go as JSON (default {RESULTS})",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    figures = asyncio.run(bench(args.size))
    if PROBES:
        EXTRAS["projector rebuild, seconds by part (first run)"] = rebuild_probe.by_part(PROBES[0])
    figures += peer.figures(args.size, figures)
    rest = {}
    for label, flags in (("", ()), (", --one-process", ("--one-process",))):
        say(f"the whole house at rest{label}: crew up, then each process's resident memory ...")
        sizes = {name: round(mb, 1) for name, mb in at_rest.measure(*flags).items()}
        parts = sorted(((n, mb) for n, mb in sizes.items() if n != "total"), key=lambda p: -p[1])
        EXTRAS[f"the whole house at rest{label} (RSS)"] = f"{sizes['total']:.0f} MB: " + ", ".join(
            f"{name} {mb:.0f}" for name, mb in parts
        )
        rest[flags[0] if flags else "separate"] = sizes
    NUMBERS["house_at_rest_one_process_mb"] = rest["--one-process"]["total"]
    checked = targets(figures, NUMBERS)
    print(table(figures))
    for name, value in EXTRAS.items():
        print(f"{name:<48} {value}")
    print("\ntargets (issue 18):")
    for target in checked:
        print(target.line())
    args.out.write_text(
        json.dumps(
            {
                "size": args.size,
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "system": platform.platform(),
                },
                "seconds": round(time.perf_counter() - started, 1),
                "figures": [{**asdict(f), "ratio": round(f.ratio, 3)} for f in figures],
                "measures": EXTRAS,
                "numbers": NUMBERS,
                "targets": [{**asdict(t), "met": t.met} for t in checked],
                "house_at_rest_mb": rest,
                "rebuild_seconds_by_part": PROBES[0]["seconds_by_part"] if PROBES else {},
            },
            indent=2,
        )
    )
    say(f"written {args.out}")


main()
