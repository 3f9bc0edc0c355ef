"""One DuckDB file of read models and the transaction that applies a batch of events to it.

The checkpoint is written in the same transaction as the rows, so a crash at any point leaves
the file at a batch boundary: no event is ever counted twice or skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import duckdb
import msgspec
import structlog

from crew import subjects
from crew.eventstore import Recorded
from crew.personal import unseal_payload
from crew.settings import ProjectorSettings
from crew.shell import where, without_values
from projections.contributions import (
    CREW_CONTRIBUTIONS,
    DRIFTING_AWAY,
    LOAD_BALANCE,
    MEAL_STATS,
    ONBOARDING_FUNNEL,
)
from projections.event_log import EVENT_LOG
from projections.history import MEMBERSHIP
from projections.meal_plan import MEAL_PLAN
from projections.participation import PARTICIPATION
from projections.people import DETAILS, NAMES, NOTES, REGISTRY
from projections.rota import ROTA
from projections.view import Fact, View
from schemas.registry import EVENT_TYPES, decode_event

log = structlog.get_logger("crew.projection")

VIEWS: tuple[View, ...] = (
    EVENT_LOG,
    NAMES,
    REGISTRY,
    DETAILS,
    NOTES,
    MEAL_PLAN,
    ROTA,
    PARTICIPATION,
    MEMBERSHIP,
    CREW_CONTRIBUTIONS,
    ONBOARDING_FUNNEL,
    LOAD_BALANCE,
    DRIFTING_AWAY,
    MEAL_STATS,
)

CORE_DDL = """
create table if not exists projector_checkpoint (
    id  integer primary key,
    seq bigint not null         -- the last stream sequence applied to every table here
);
insert or ignore into projector_checkpoint values (1, 0);
create table if not exists projection_settings (
    key   varchar primary key,  -- e.g. window_months: how this file's metrics are computed
    value varchar
);
create table if not exists dead_letters (
    seq         bigint primary key,  -- the event's stream sequence (crew events --since SEQ)
    subject     varchar,
    type        varchar,
    error       varchar,             -- why it could not be applied: the error's type and where,
                                     -- or msgspec's field path (never a value from the event)
    size        integer,             -- payload bytes (the payload itself is not copied)
    recorded_at timestamptz
);
"""


# What an event can do wrong. Anything else (disk full, I/O, out of memory) is raised and the
# batch is retried, so the checkpoint never moves past an event because of a passing fault.
DATA_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    TypeError,
    KeyError,
    AttributeError,
    IndexError,
    msgspec.MsgspecError,
    duckdb.ConversionException,
    duckdb.ConstraintException,
    duckdb.InvalidInputException,
    duckdb.OutOfRangeException,
)


@dataclass(frozen=True)
class Applied:
    events: int
    dead: int
    last_seq: int


DEFAULTS = ProjectorSettings()  # CREW_DUCKDB_MEMORY_LIMIT and the rest, as when none is set


class Projection:
    def __init__(
        self,
        path: Path,
        views: Sequence[View] = VIEWS,
        threads: int = 2,
        window_months: int | None = None,
        config: ProjectorSettings = DEFAULTS,
    ) -> None:
        self.path = path
        self.views = tuple(views)
        # DuckDB's buffer pool would otherwise grow towards 80 % of the machine's memory as the
        # file grows; with a limit it stays bounded and DuckDB spills instead (docs/performance.md).
        self.con = duckdb.connect(
            str(path),
            config={
                "threads": threads,
                "memory_limit": config.duckdb_memory_limit,
                # What it may spill to <file>.tmp: a query bigger than this fails instead of
                # filling the disk the log and the views live on.
                "max_temp_directory_size": config.duckdb_max_temp_size,
            },
        )
        self.con.execute("attach ':memory:' as personal")  # display names: never in the file
        # Contact details and notes: the same memory cap, and no spilling to disk (a temporary
        # file would put them on disk), so a query too big for memory fails instead.
        self.restricted = duckdb.connect(
            ":memory:",
            config={
                "threads": 1,
                "memory_limit": config.duckdb_memory_limit,
                "temp_directory": "",
                "max_temp_directory_size": "0B",
            },
        )
        self.con.execute(CORE_DDL)
        for view in self.views:
            if view.ddl:
                self._on(view).execute(view.ddl)
        row = self.con.execute("select seq from projector_checkpoint where id = 1").fetchone()
        self.checkpoint: int = row[0] if row else 0
        # A version's metrics settings travel with its file, so a swapped-in version keeps them.
        if window_months is not None:
            self.con.execute(
                "insert or replace into projection_settings values ('window_months', ?)",
                [str(window_months)],
            )
        stored = self.con.execute(
            "select value from projection_settings where key = 'window_months'"
        ).fetchone()
        months = int(stored[0]) if stored else config.contribution_window_months
        self.con.execute(f"create or replace macro contribution_window_months() as {months}")

    @property
    def window_months(self) -> int:
        row = self.con.execute("select contribution_window_months()").fetchone()
        return int(row[0]) if row else 6

    def _on(self, view: View) -> duckdb.DuckDBPyConnection:
        return self.restricted if view.where == "restricted" else self.con

    def lock_down(self) -> None:
        """From here on no cursor of either instance reads files or changes a setting."""
        for con in (self.con, self.restricted):
            con.execute("set enable_external_access = false")
            con.execute("set lock_configuration = true")

    def close(self) -> None:
        self.con.execute("checkpoint")
        self.con.close()
        self.restricted.close()

    def restore_in_memory(
        self, records: Sequence[Recorded], keys: Mapping[str, bytes | None]
    ) -> None:
        """Refill the in-memory views (names, restricted details) from events already applied
        to the file, e.g. after a start: they are never stored, so they are folded again."""
        facts, _ = decode([r for r in records if r.seq <= self.checkpoint], keys)
        self._apply_in_memory(facts)

    def _apply_in_memory(self, facts: Sequence[Fact]) -> None:
        # DuckDB writes one database per transaction: these follow the file's commit. After a
        # crash in between they are rebuilt from the log anyway, so nothing can drift.
        for view in self.views:
            if view.where != "file" and facts:
                try:
                    self._fold(view, facts)
                except DATA_ERRORS:
                    # The same guard as the file's views: one bad event must not stop the house
                    # (nor, raised from here, put its message in `crew status`). Fold one by one;
                    # what still fails is skipped in this view and parked as a dead letter.
                    for fact in facts:
                        try:
                            self._fold(view, [fact])
                        except DATA_ERRORS as exc:
                            self._park_in_memory_failure(view, fact, exc)

    def _fold(self, view: View, facts: Sequence[Fact]) -> None:
        con = self._on(view)
        con.execute("begin transaction")
        try:
            view.apply(con, facts)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise

    def _park_in_memory_failure(self, view: View, fact: Fact, exc: BaseException) -> None:
        error = f"in {view.name}: {applying_failed(exc)}"
        log.warning(
            "in_memory_fold_failed", view=view.name, seq=fact.seq, type=fact.type, error=error
        )
        # The file's views already hold the event (their commit came first), so only the letter
        # is added; a restart folds it again and finds the letter already there.
        self.con.execute(
            "insert or ignore into dead_letters values (?, ?, ?, ?, ?, ?)",
            [fact.seq, fact.subject, fact.type, error[:1000], len(fact.data), fact.recorded_at],
        )

    def apply(
        self, batch: Sequence[Recorded], keys: Mapping[str, bytes | None] | None = None
    ) -> Applied:
        """Apply a batch in one transaction; an event that cannot be applied becomes a dead letter."""
        fresh = [r for r in batch if r.seq > self.checkpoint]
        if not fresh:
            return Applied(0, 0, self.checkpoint)
        keys = keys or {}
        facts, dead = decode(fresh, keys)
        try:
            self._commit(facts, dead, fresh[-1].seq)
        except DATA_ERRORS as exc:  # one bad event must not stop the house: find it, park it
            log.warning(
                "batch_failed_retrying_one_by_one", error=type(exc).__name__, events=len(fresh)
            )
            return self._apply_one_by_one(fresh, keys)
        self._apply_in_memory(facts)
        return Applied(len(fresh), len(dead), fresh[-1].seq)

    def _apply_one_by_one(
        self, records: Sequence[Recorded], keys: Mapping[str, bytes | None]
    ) -> Applied:
        parked = 0
        for record in records:
            facts, dead = decode([record], keys)
            try:
                self._commit(facts, dead, record.seq)
                self._apply_in_memory(facts)
            except DATA_ERRORS as exc:
                dead = [dead_letter(record, applying_failed(exc))]
                self._commit([], dead, record.seq)
            parked += len(dead)
        return Applied(len(records), parked, records[-1].seq)

    def _commit(self, facts: Sequence[Fact], dead: Sequence[DeadLetter], last_seq: int) -> None:
        con = self.con
        con.execute("begin transaction")
        try:
            if facts:
                for view in self.views:
                    if view.where == "file":
                        view.apply(con, facts)
            if dead:
                appender = con.appender("dead_letters")
                appender.append_rows(d.letter for d in dead)
                appender.flush()
                if EVENT_LOG in self.views:
                    EVENT_LOG.apply(con, [d.in_log for d in dead])
            con.execute("update projector_checkpoint set seq = ? where id = 1", [last_seq])
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        self.checkpoint = last_seq


def applying_failed(exc: BaseException) -> str:
    """Why an event could not be applied, for dead_letters: the error's type and where it was
    raised, never its message. DuckDB's messages quote the values they choke on, and those may
    be names opened with a person's key: in the file they would outlive a forget."""
    return f"{type(exc).__name__} at {' < '.join(reversed(where(exc)))}"


class DeadLetter(NamedTuple):
    """An event the views cannot read: its row in dead_letters, and its place in event_log."""

    letter: tuple
    in_log: Fact


def dead_letter(record: Recorded, error: str) -> DeadLetter:
    recorded_at = record.recorded_at or datetime.now(UTC)
    return DeadLetter(
        (record.seq, record.subject, record.type, error[:1000], len(record.data), recorded_at),
        # event_log still lists it (its payload stays in the stream only: it may not be JSON)
        Fact(record.seq, record.subject, record.type, None, dict(record.headers), recorded_at, b""),
    )


def decode(
    batch: Sequence[Recorded], keys: Mapping[str, bytes | None]
) -> tuple[list[Fact], list[DeadLetter]]:
    """Facts to fold (personal data opened with `keys`, or blanked where a key is gone), and
    dead letters for what cannot be read."""
    facts: list[Fact] = []
    dead: list[DeadLetter] = []
    for record in batch:
        kind = record.type
        if kind not in EVENT_TYPES:
            dead.append(dead_letter(record, f"unknown event type {kind!r}"))
            continue
        version = record.headers.get(subjects.SCHEMA_VERSION)
        try:
            event = decode_event(kind, version, unseal_payload(record.data, keys))
        except msgspec.MsgspecError as exc:  # the field path and what was wrong, no value
            dead.append(dead_letter(record, without_values(str(exc))))
            continue
        except RecursionError:  # past msgspec's depth limit: raised, it stopped the projector
            dead.append(dead_letter(record, "the payload is nested too deeply"))
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
