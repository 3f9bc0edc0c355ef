"""One DuckDB file of read models and the transaction that applies a batch of events to it.

The checkpoint is written in the same transaction as the rows, so a crash at any point leaves
the file at a batch boundary: no event is ever counted twice or skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import msgspec
import structlog

from crew.eventstore import Recorded
from projections.event_log import EVENT_LOG
from projections.meal_plan import MEAL_PLAN
from projections.participation import PARTICIPATION
from projections.rota import ROTA
from projections.view import Fact, View
from schemas.registry import DECODERS

log = structlog.get_logger("crew.projection")

VIEWS: tuple[View, ...] = (EVENT_LOG, MEAL_PLAN, ROTA, PARTICIPATION)

CORE_DDL = """
create table if not exists projector_checkpoint (
    id  integer primary key,
    seq bigint not null         -- the last stream sequence applied to every table here
);
insert or ignore into projector_checkpoint values (1, 0);
create table if not exists dead_letters (
    seq         bigint primary key,  -- the event's stream sequence (crew events --since SEQ)
    subject     varchar,
    type        varchar,
    error       varchar,             -- why it could not be applied
    size        integer,             -- payload bytes (the payload itself is not copied)
    recorded_at timestamptz
);
"""


@dataclass(frozen=True)
class Applied:
    events: int
    dead: int
    last_seq: int


class Projection:
    def __init__(self, path: Path, views: Sequence[View] = VIEWS, threads: int = 2) -> None:
        self.path = path
        self.views = tuple(views)
        self.con = duckdb.connect(str(path), config={"threads": threads})
        for ddl in (CORE_DDL, *(view.ddl for view in self.views)):
            self.con.execute(ddl)
        row = self.con.execute("select seq from projector_checkpoint where id = 1").fetchone()
        self.checkpoint: int = row[0] if row else 0

    def lock_down(self) -> None:
        """From here on no cursor of this instance reads files or changes a setting."""
        self.con.execute("set enable_external_access = false")
        self.con.execute("set lock_configuration = true")

    def close(self) -> None:
        self.con.execute("checkpoint")
        self.con.close()

    def apply(self, batch: Sequence[Recorded]) -> Applied:
        """Apply a batch in one transaction; an event that cannot be applied becomes a dead letter."""
        fresh = [r for r in batch if r.seq > self.checkpoint]
        if not fresh:
            return Applied(0, 0, self.checkpoint)
        facts, dead = decode(fresh)
        try:
            self._commit(facts, dead, fresh[-1].seq)
        except Exception as exc:  # one bad event must not stop the house: find it, park it
            log.warning(
                "batch_failed_retrying_one_by_one", error=type(exc).__name__, events=len(fresh)
            )
            return self._apply_one_by_one(fresh)
        return Applied(len(fresh), len(dead), fresh[-1].seq)

    def _apply_one_by_one(self, records: Sequence[Recorded]) -> Applied:
        parked = 0
        for record in records:
            facts, dead = decode([record])
            try:
                self._commit(facts, dead, record.seq)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                self._commit(
                    [],
                    [dead_letter(record, error)],
                    record.seq,
                )
                dead = [()]
            parked += len(dead)
        return Applied(len(records), parked, records[-1].seq)

    def _commit(self, facts: Sequence[Fact], dead: Sequence[tuple], last_seq: int) -> None:
        con = self.con
        con.execute("begin transaction")
        try:
            if facts:
                for view in self.views:
                    view.apply(con, facts)
            if dead:
                appender = con.appender("dead_letters")
                appender.append_rows(dead)
                appender.flush()
            con.execute("update projector_checkpoint set seq = ? where id = 1", [last_seq])
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        self.checkpoint = last_seq


def dead_letter(record: Recorded, error: str) -> tuple:
    return (
        record.seq,
        record.subject,
        record.type,
        error[:1000],
        len(record.data),
        record.recorded_at,
    )


def decode(batch: Sequence[Recorded]) -> tuple[list[Fact], list[tuple]]:
    facts: list[Fact] = []
    dead: list[tuple] = []
    for record in batch:
        kind = record.type
        decoder = DECODERS.get(kind)
        if decoder is None:
            dead.append(dead_letter(record, f"unknown event type {kind!r}"))
            continue
        try:
            event = decoder.decode(record.data)
        except msgspec.MsgspecError as exc:
            dead.append(dead_letter(record, str(exc)))
            continue
        facts.append(
            Fact(
                seq=record.seq,
                subject=record.subject,
                type=kind,
                event=event,
                headers=dict(record.headers),
                recorded_at=record.recorded_at or datetime.now(UTC),
                data=record.data,
            )
        )
    return facts, dead
