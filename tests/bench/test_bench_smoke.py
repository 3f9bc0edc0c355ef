"""The bench at its smallest size as a smoke test: it runs end to end and reports every figure.

No timing is asserted (machines are shared and noisy); the figures are read in
docs/performance.md and in the issue notes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(600)
def test_the_bench_runs_and_reports_every_figure_against_its_raw_reference(
    tmp_path: Path,
) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--size", "smoke", "--out", str(tmp_path / "results.json")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=590,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    names = [f["name"] for f in results["figures"]]
    assert names[:3] == [
        "command round-trips, sequential",
        "command round-trips, 64 concurrent",
        "kiosk HTTP sign-ups, 32 clients",
    ]
    assert names[3].startswith("projector rebuild")
    assert names[4:] == [  # crew beside its peer, the eventsourcing library (bench/peer.py)
        "command round-trips, sequential, vs peer",
        "command round-trips, 64 concurrent, vs peer",
    ]
    assert all(f["crew"] > 0 and f["reference"] > 0 and f["ratio"] > 0 for f in results["figures"])
    assert set(results["measures"]) >= {
        "freshness, light load",
        "freshness, 64 concurrent commands",
        "projector peak memory during rebuild",
        "projector rebuild, seconds by part (first run)",
        "peer durability (SQLite)",
        "the whole house at rest (RSS)",
        "the whole house at rest, --one-process (RSS)",
    }
    checked = {t["name"]: t for t in results["targets"]}  # issue 18's, for a script to check
    assert len(checked) == 11 and all(isinstance(t["met"], bool) for t in checked.values())
    assert checked["load_balance p95"]["unit"] == "ms"
    parts = results["rebuild_seconds_by_part"]  # where the rebuild's time went
    assert {"event_log", "participation", "(decoding)", "(committing)"} <= set(parts)
    assert "(reading and the rest)" in parts and list(parts.values()) == sorted(
        parts.values(), reverse=True
    )
    rest = results["house_at_rest_mb"]
    assert rest["separate"]["total"] > 0 and rest["--one-process"]["total"] > 0
    assert "ratio" in run.stdout and "targets (issue 18):" in run.stdout
