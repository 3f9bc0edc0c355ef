"""A poisoned event or a failing task shows its error's type and place, never its message:
messages quote values, and a value may be a name opened with a person's key."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import types
from pathlib import Path
from typing import Any

import msgspec
import pytest
import structlog

from crew import service, subjects
from crew.eventstore import Recorded
from projections import projector as projector_module
from projections.event_log import EVENT_LOG
from projections.projection import FoldFailed, Projection
from projections.projector import Projector
from schemas import onboarding as o
from tests.polling import eventually_async

SECRET = "Alice Secret"
AT = datetime.datetime(2019, 1, 1, 10, tzinfo=datetime.UTC)


@dataclasses.dataclass(frozen=True)
class ChokesOnNames:
    """An in-memory view that fails the way DuckDB does: its error message quotes the value."""

    where: str
    name: str = "chokes"
    ddl: str = ""
    reads: None = None

    def apply(self, con: Any, facts: Any) -> None:
        for fact in facts:
            con.execute("select cast(? as integer)", [fact.event.display_name])


def arrived(seq: int, name: str) -> Recorded:
    event = o.NewcomerArrived(person_id=f"n{seq}", display_name=name, arrived_at=AT)
    return Recorded(
        seq=seq,
        subject=subjects.event_subject("onboarding.newcomer_arrived", f"n{seq}"),
        data=msgspec.json.encode(event),
        headers={subjects.EVENT_TYPE: "onboarding.newcomer_arrived"},
        recorded_at=AT,
    )


@pytest.mark.parametrize("where", ["memory", "restricted"])
def test_an_in_memory_fold_that_chokes_halts_and_never_says_its_value(
    tmp_path: Path, where: str
) -> None:
    before = Projection(tmp_path / "refill.duckdb", views=(EVENT_LOG,))
    before.apply([arrived(1, SECRET)])  # in the file already, as at a restart
    before.close()
    refill = Projection(tmp_path / "refill.duckdb", views=(EVENT_LOG, ChokesOnNames(where)))
    projection = Projection(tmp_path / "views.duckdb", views=(EVENT_LOG, ChokesOnNames(where)))
    try:
        with structlog.testing.capture_logs() as lines:
            with pytest.raises(FoldFailed) as applying:
                projection.apply([arrived(1, SECRET), arrived(2, "42")])
            with pytest.raises(FoldFailed) as refilling:
                refill.restore_in_memory([arrived(1, SECRET)], {})
        logged = projection.con.execute("select count(*) from event_log").fetchone()
    finally:
        projection.close()
        refill.close()
    assert projection.checkpoint == 0 and logged == (0,), "halted before the event"
    for halted in (applying.value, refilling.value):
        assert halted.reason.startswith(
            "halted at seq 1 (onboarding.newcomer_arrived): ConversionException in view chokes at "
        ), halted.reason
        assert "Alice" not in halted.reason + str(halted)
    assert "Alice" not in repr(lines)


def test_a_failing_batch_shows_in_status_by_type_and_place_never_its_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_disk(*_: object) -> None:
        raise OSError(f"could not write {SECRET!r}")

    monkeypatch.setattr(projector_module, "apply_batch", broken_disk)
    no_bus = types.SimpleNamespace(jetstream=lambda: None)  # this test never reaches NATS
    projector = Projector(no_bus, tmp_path / "views.duckdb")  # type: ignore[arg-type]
    projector.projection = object()  # type: ignore[assignment]

    async def until_failing() -> str | None:
        retrying = asyncio.create_task(projector._apply_until_done([]))
        try:
            await eventually_async(lambda: projector.failing, every=0.01)
        finally:
            retrying.cancel()
            await asyncio.gather(retrying, return_exceptions=True)
        return projector.failing

    with structlog.testing.capture_logs() as lines:
        failing = asyncio.run(until_failing())
    assert failing is not None and failing.startswith("OSError at "), failing
    assert "broken_disk" in failing, "it says where"
    assert "Alice" not in failing + repr(lines)


def test_a_failing_companion_is_logged_by_type_and_place_never_by_its_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs: list[int] = []

    async def reminders(nc: object, shell: object) -> None:
        runs.append(1)
        if len(runs) == 1:
            raise KeyError(f"no address for {SECRET}")

    async def no_pause(_: float) -> None:
        return None

    monkeypatch.setattr(service.asyncio, "sleep", no_pause)
    with structlog.testing.capture_logs() as lines:
        asyncio.run(service._supervised(reminders, None, None))  # type: ignore[arg-type]
    assert len(runs) == 2, "restarted after the failure"
    [failed] = [line for line in lines if line["event"] == "companion_failed"]
    assert failed["error"] == "KeyError" and any("reminders" in f for f in failed["at"])
    assert "Alice" not in repr(lines)
