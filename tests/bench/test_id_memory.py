"""`python -m bench.id_memory` on a handful of events: it appends them, with ids and without, and
reads nats-server's memory before and after a restart."""

from __future__ import annotations

import asyncio

import pytest

from bench import run
from bench.id_memory import measure
from tests import ports


@pytest.mark.parametrize("with_ids", [True, False])
def test_the_probe_appends_and_restarts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, with_ids: bool
) -> None:
    monkeypatch.setattr(run, "free_port", ports.free_port)  # this worker's ports, as every test's
    asyncio.run(measure([50, 100], with_ids, settle_s=0))
    lines = capsys.readouterr().out.splitlines()
    assert "100 events: nats-server" in lines[2]
    assert lines[3].startswith("  restarted in")
