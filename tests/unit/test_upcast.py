"""Older events are upcast once, where they are decoded (schemas/upcast.py): the command shell
and the projector read a log written before the upcasters in today's shape.

`old_log/rota.jsonl` is such a log, payloads and headers as the in-memory store kept them.
Events 1-18 were written by the rota of 53cb630^, before `task` and `by_series_change`
existed; events 19-29 by main at 67a6d08 (every event version 1, and a release of everyone
without `task`), going on where the older rota left off. `old_log/views.json` holds what the
projection of 67a6d08 folded from that log: every table but `event_log`, `dead_letters` and
the projector's own."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from crew import subjects
from crew.eventstore import InMemoryEventStore, Recorded
from crew.shell import CommandShell
from projections.projection import Projection
from schemas import rota as r
from schemas.registry import decode_event
from schemas.upcast import upcast, version_of
from services.rota.decider import ROTA

OLD_LOG = Path(__file__).parent / "old_log"
FRI2, FRI3, FRI4 = "cleaning-20300118", "cleaning-20300125", "cleaning-20300201"
THU2 = "cleaning-20300117"


def old_log() -> list[Recorded]:
    records = []
    for line in (OLD_LOG / "rota.jsonl").read_text().splitlines():
        saved = json.loads(line)
        records.append(
            Recorded(
                saved["seq"],
                saved["subject"],
                json.dumps(saved["data"], separators=(",", ":")).encode(),
                saved["headers"],
                datetime.datetime.fromisoformat(saved["recorded_at"]),
            )
        )
    return records


def decoded(record: Recorded) -> Any:
    return decode_event(record.type, record.headers.get(subjects.SCHEMA_VERSION), record.data)


def test_a_type_whose_shape_changed_is_written_with_a_newer_version() -> None:
    assert version_of("rota.occurrence_cancelled") == "2"
    assert version_of("rota.sign_up_affected") == "2"
    assert version_of("rota.took_task") == version_of("meals.meal_planned") == "1"


def test_the_older_log_is_written_in_version_1_or_without_the_header() -> None:
    versions = {record.headers.get(subjects.SCHEMA_VERSION) for record in old_log()}
    assert versions == {"1"}, "the fixture is what the house wrote before the upcasters"


def test_an_older_cancellation_is_by_a_series_change_when_its_reason_says_so() -> None:
    cancelled = {
        (record.seq, e.occurrence_id): e.by_series_change
        for record in old_log()
        if isinstance(e := decoded(record), r.OccurrenceCancelled)
    }
    assert cancelled == {
        (11, THU2): True,  # "the series changed from 2030-01-14", before the field existed
        (15, "cleaning-20300124"): True,
        (17, "cleaning-20300131"): True,
        (18, FRI3): False,  # "plumber": a person cancelled it
        (23, FRI2): True,  # written with the field: kept as written
        (26, FRI4): True,
        (28, "cleaning-20300131"): False,
    }


def test_an_older_sign_up_affected_without_task_concerns_none() -> None:
    affected = [
        (record.seq, e.crew_id, e.outcome, e.task)
        for record in old_log()
        if isinstance(e := decoded(record), r.SignUpAffected)
    ]
    assert affected == [
        (12, "anna", "moved", None),  # before `task`: the views never showed it carried
        (13, "bo", "moved", None),
        (24, "anna", "moved", "kitchen"),
        (25, "bo", "moved", None),
        (29, "carla", "released", None),  # version 1 left out `task` for none
    ]


def test_upcasting_keeps_what_a_payload_says_and_leaves_newer_versions_be() -> None:
    said = {"type": "rota.sign_up_affected", "outcome": "moved", "task": "floors"}
    assert upcast("rota.sign_up_affected", "1", said) == said
    assert upcast("rota.sign_up_affected", None, {"outcome": "released"}) == {
        "outcome": "released",
        "task": None,
    }
    newer = {"outcome": "released", "note": "a field we do not know yet"}
    assert upcast("rota.sign_up_affected", "3", newer) == newer
    assert upcast("rota.took_task", "1", newer) == newer


@pytest.mark.parametrize("data", [b"[]", b'"x"', b'{"type":"rota.occurrence_cancelled"}'])
def test_an_older_payload_that_is_not_the_event_fails_to_decode_as_msgspec_says(
    data: bytes,
) -> None:
    with pytest.raises(msgspec.ValidationError):
        decode_event("rota.occurrence_cancelled", "1", data)


def test_an_unknown_event_type_fails_to_decode() -> None:
    with pytest.raises(msgspec.ValidationError, match="unknown event type"):
        decode_event("rota.lost_its_way", "1", b"{}")


async def test_the_shell_decides_on_the_older_log_in_todays_shape() -> None:
    """Fridays again: the Fridays a series change cancelled (one before `by_series_change`
    existed, one after) come back; the Friday a person cancelled stays cancelled."""
    store = InMemoryEventStore()
    store.log = old_log()
    shell = CommandShell(ROTA, store)
    body = {"series_id": "cleaning", "effective_from": "2030-01-14", "weekdays": [4]}
    body["at"] = "2030-01-08T09:00:00+01:00"
    headers = {subjects.COMMAND_ID: "fridays-again"}
    reply = await shell.handle(
        subjects.command_subject("rota", "change_series"), headers, msgspec.json.encode(body)
    )
    assert b'"accepted"' in reply[:40], reply
    written = store.log[29:]
    restored = [
        e.occurrence_id for e in map(decoded, written) if isinstance(e, r.OccurrenceRestored)
    ]
    assert restored == [FRI2, FRI4]
    versions = {record.type: record.headers[subjects.SCHEMA_VERSION] for record in written}
    assert versions["rota.occurrence_cancelled"] == versions["rota.sign_up_affected"] == "2"
    assert versions["rota.occurrence_restored"] == "1"


def todays_shape(records: Iterable[Recorded]) -> list[Recorded]:
    """The same events as today's code writes them: upcast, encoded, with today's versions."""
    return [
        Recorded(
            record.seq,
            record.subject,
            msgspec.json.encode(decoded(record)),
            {**record.headers, subjects.SCHEMA_VERSION: version_of(record.type)},
            record.recorded_at,
        )
        for record in records
    ]


def tables(projection: Projection) -> dict[str, list[dict[str, Any]]]:
    """Every table of the views in the file, as plain data (as old_log/views.json holds them)."""
    names = projection.con.execute(
        "select table_name from duckdb_tables() where database_name = current_database() and "
        "table_name not in ('projection_settings', 'projector_checkpoint', 'event_log', "
        "'dead_letters') order by 1"
    ).fetchall()
    found = {}
    for (name,) in names:
        cursor = projection.con.execute(f"select * from {name} order by all")
        columns = [d[0] for d in cursor.description or []]
        found[name] = [
            dict(zip(columns, map(plain, row), strict=True)) for row in cursor.fetchall()
        ]
    return found


def plain(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).isoformat()
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


# Folds added after the log was written, of events it already holds: they fill from it.
FOLDS_OF_OLD_EVENTS = {"series_rows", "intention_rows", "contribution_counts"}
# Columns added after the log was written: the old events leave them empty.
COLUMNS_SINCE = {
    "participation_rows": {"minutes"},
    "meal_plan_rows": {"ends_at"},
    "series_rows": {"initiative_id"},
}
# Columns added after, that fold the old events too: what a participation row counts.
FOLDED_SINCE = {
    "participation_rows": {"counted_kind", "counted_at", "counted_covered_for", "counted_minutes"},
    "rota_rows": {"moved_seq"},
    "meal_plan_rows": {"moved_seq"},
    "activities_rows": {"moved_seq"},
}


def without_later_columns(
    found: dict[str, list[dict[str, Any]]],
) -> dict[str, list[dict[str, Any]]]:
    for name, columns in COLUMNS_SINCE.items():
        for row in found.get(name, []):
            for column in columns:
                assert row.pop(column) is None, (name, column)
    for name, columns in FOLDED_SINCE.items():
        for row in found.get(name, []):
            for column in columns:
                row.pop(column)
    return found


@pytest.mark.parametrize("shape", ["as written", "today's shape"])
def test_the_views_of_the_older_log_are_what_they_were_before_the_upcasters(
    tmp_path: Path, shape: str
) -> None:
    log = old_log() if shape == "as written" else todays_shape(old_log())
    projection = Projection(tmp_path / "views.duckdb")
    try:
        applied = projection.apply(log)
        assert (applied.events, applied.dead) == (29, 0)
        found = without_later_columns(tables(projection))
        before = json.loads((OLD_LOG / "views.json").read_text())
        assert {name: found[name] for name in before} == before
        since = found.keys() - before.keys() - FOLDS_OF_OLD_EVENTS
        assert not any(found[name] for name in since), "views since: empty"
        assert found["series_rows"], "a fold added later reads the old series events too"
    finally:
        projection.close()
