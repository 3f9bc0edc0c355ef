"""One DuckDB file of read models and the transaction that applies a batch of events to it.

The checkpoint is written in the same transaction as the rows, so a crash at any point leaves
the file at a batch boundary: no event is ever counted twice or skipped.

An event that cannot be read (not JSON, not today's shape, nested too deeply, an unknown type)
becomes a dead letter and the views go on. A fold that raises on an event is a bug in the view:
nothing of the batch is kept past that event, and `FoldFailed` halts the projector there until
the fold no longer raises (docs/operations.md, "Alerts").
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
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
from projections.activities import ACTIVITIES, CONTRIBUTION_KINDS, INITIATIVES
from projections.contribution_counts import CONTRIBUTION_COUNTS, ContributionCounts
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
from projections.notices import NOTICE_CHOICES, NOTICES
from projections.participation import PARTICIPATION
from projections.people import COORDINATORS, DETAILS, NAMES, NOTES, REGISTRY
from projections.rota import ROTA
from projections.series import INTENTIONS, SERIES
from projections.view import Fact, View, append, facts_for, forget_kept, take_notes
from schemas.common import HOUSE_TIMEZONE
from schemas.registry import EVENT_TYPES, decode_event

log = structlog.get_logger("crew.projector")

VIEWS: tuple[View, ...] = (
    EVENT_LOG,
    NAMES,
    REGISTRY,
    COORDINATORS,
    DETAILS,
    NOTES,
    MEAL_PLAN,
    ROTA,
    SERIES,
    INTENTIONS,
    INITIATIVES,
    ACTIVITIES,
    CONTRIBUTION_KINDS,
    PARTICIPATION,
    MEMBERSHIP,
    CONTRIBUTION_COUNTS,  # after participation and the occurrences it reads
    CREW_CONTRIBUTIONS,
    ONBOARDING_FUNNEL,
    LOAD_BALANCE,
    DRIFTING_AWAY,
    MEAL_STATS,
    NOTICES,
    NOTICE_CHOICES,
)

CORE_DDL = f"""
-- house time: "now" and "today" where the house is, not UTC (from 23:00 UTC it is tomorrow)
create or replace macro house_now() as timezone('{HOUSE_TIMEZONE}', now());
create or replace macro house_today() as cast(house_now() as date);
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


# Faults of the machine, not of an event (disk full, out of memory, the file gone): the batch is
# retried as it is, and no event is blamed for them.
PASSING_FAULTS: tuple[type[BaseException], ...] = (
    OSError,
    MemoryError,
    duckdb.IOException,
    duckdb.OutOfMemoryException,
    duckdb.FatalException,
    duckdb.ConnectionException,
)


class FoldFailed(Exception):
    """A view's fold raised on an event: a bug in the view, not in the event (an event that
    cannot be read is a dead letter long before it reaches a fold). The projector halts before
    the event, so the views never skip it, and tries again until the fold no longer raises."""

    def __init__(self, view: str, error: BaseException, fact: Fact | None = None) -> None:
        super().__init__(view, type(error).__name__)
        self.view = view
        self.error = error
        self.fact = fact

    @property
    def seq(self) -> int | None:
        return self.fact.seq if self.fact else None

    @property
    def type(self) -> str | None:
        return self.fact.type if self.fact else None

    @property
    def reason(self) -> str:
        """For `crew status`: the event, the view, the error's type and where it was raised,
        never the error's message (it may quote a name opened with a person's key)."""
        event = f"seq {self.fact.seq} ({self.fact.type})" if self.fact else "a batch"
        error = type(self.error).__name__
        return f"halted at {event}: {error} in view {self.view} at {places(self.error)}"

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class Applied:
    events: int
    dead: int
    last_seq: int


DEFAULTS = ProjectorSettings()  # CREW_DUCKDB_MEMORY_LIMIT and the rest, as when none is set


def restricted_instance(config: ProjectorSettings) -> duckdb.DuckDBPyConnection:
    """Contact details and notes: the same memory cap, and no spilling to disk (a temporary
    file would put them on disk), so a query too big for memory fails instead."""
    return duckdb.connect(
        ":memory:",
        config={
            "threads": 1,
            "memory_limit": config.duckdb_memory_limit,
            "temp_directory": "",
            "max_temp_directory_size": "0B",
        },
    )


class Projection:
    def __init__(
        self,
        path: Path,
        views: Sequence[View] = VIEWS,
        threads: int = 2,
        window_months: int | None = None,
        config: ProjectorSettings = DEFAULTS,
        in_memory: bool = True,
        rebuilding: bool = False,
    ) -> None:
        self.path = path
        self.views = tuple(views)
        # A rebuild that is swapped in folds the file only: the file is opened again after the
        # swap, and its in-memory views are refilled from the log then (Projector.rebuild).
        self.folds_in_memory = in_memory
        # count_later(until): the seq whose batch counts every contribution at once
        self._count_at: int | None = None
        self._counts = next((v for v in self.views if isinstance(v, ContributionCounts)), None)
        # DuckDB's buffer pool would otherwise grow towards 80 % of the machine's memory as the
        # file grows; with a limit it stays bounded and DuckDB spills instead (docs/performance.md).
        # A rebuild folds with a smaller pool until it counts or serves (`_serve_fully`).
        self._memory_limit = config.duckdb_memory_limit
        self._lean = rebuilding and config.duckdb_rebuild_memory_limit != self._memory_limit
        self.con = duckdb.connect(
            str(path),
            config={
                "threads": threads,
                "memory_limit": (
                    config.duckdb_rebuild_memory_limit if rebuilding else config.duckdb_memory_limit
                ),
                # What it may spill to <file>.tmp: a query bigger than this fails instead of
                # filling the disk the log and the views live on.
                "max_temp_directory_size": config.duckdb_max_temp_size,
            },
        )
        self.con.execute("attach ':memory:' as personal")  # display names: never in the file
        self.restricted = restricted_instance(config)
        self.con.execute(CORE_DDL)
        for view in self.views:
            if view.ddl:
                self._on(view).execute(view.ddl)
        if self._counts:  # a file folded before it had the counts
            self._counts.fill(self.con)
        row = self.con.execute("select seq from projector_checkpoint where id = 1").fetchone()
        self.checkpoint: int = row[0] if row else 0
        self._folded: dict[str, int] = {}  # the last seq each in-memory view has folded
        # Seconds each part of applying took since the file was opened: the fold of each view a
        # batch reached (by name), DECODING, COMMITTING, COUNTING. Read by bench.rebuild_probe.
        self.spent: defaultdict[str, float] = defaultdict(float)
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

    def _serve_fully(self) -> None:
        """The whole buffer pool from here on (a rebuild folded with less)."""
        if self._lean:
            limit = self._memory_limit.replace("'", "''")
            self.con.execute(f"set memory_limit = '{limit}'")
            self._lean = False

    def lock_down(self) -> None:
        """From here on no cursor of either instance reads files or changes a setting."""
        self._serve_fully()
        for con in (self.con, self.restricted):
            con.execute("set enable_external_access = false")
            con.execute("set lock_configuration = true")

    def count_later(self, until: int) -> None:
        """Fold without counting contributions until the batch that reaches seq `until`, then
        count them all at once, in SQL over the file, in that batch's transaction (no query
        sees the checkpoint there without the counts), and batch by batch again after it: the
        same numbers, far less work. A rebuild and a first start over a long log do this."""
        if until > self.checkpoint:
            self._count_at = until

    @property
    def counting(self) -> bool:
        """Whether each batch counts its contributions (not while `count_later` waits)."""
        return self._count_at is None

    def close(self) -> None:
        self.con.execute("checkpoint")
        self.con.close()
        self.restricted.close()

    def restore_in_memory(
        self, records: Sequence[Recorded], keys: Mapping[str, bytes | None]
    ) -> None:
        """Refill the in-memory views (names, restricted details) from events already applied
        to the file, e.g. after a start: they are never stored, so they are folded again.
        Raises FoldFailed like `apply`; called again, it goes on from the event that failed."""
        facts, _ = decode([r for r in records if r.seq <= self.checkpoint], keys)
        self._apply_in_memory(facts)
        for view in self.views:
            if view.where != "file":
                self._folded[view.name] = max(self._folded.get(view.name, 0), self.checkpoint)

    def apply(
        self, batch: Sequence[Recorded], keys: Mapping[str, bytes | None] | None = None
    ) -> Applied:
        """Apply a batch in one transaction. An event that cannot be decoded becomes a dead
        letter; a fold that raises stops the batch at its event (FoldFailed), with every event
        before it applied and the checkpoint just before it."""
        fresh = [r for r in batch if r.seq > self.checkpoint]
        if not fresh:
            return Applied(0, 0, self.checkpoint)
        keys = keys or {}
        started = time.perf_counter()
        facts, dead = decode(fresh, keys)
        self.spent[DECODING] += time.perf_counter() - started
        try:
            # The in-memory views first: each remembers how far it has folded, so a batch
            # tried again after the file's commit failed is not folded into them twice.
            if self.folds_in_memory:
                self._apply_in_memory(facts)
            self._commit(facts, dead, fresh[-1].seq)
        except FoldFailed:
            if len(fresh) == 1:
                raise
            # Rolled back whole: apply it one by one, so the file stops just before the event.
            parked = 0
            for record in fresh:
                parked += self.apply([record], keys).dead
            return Applied(len(fresh), parked, fresh[-1].seq)
        return Applied(len(fresh), len(dead), fresh[-1].seq)

    def _apply_in_memory(self, facts: Sequence[Fact]) -> None:
        # DuckDB writes one database per transaction, so these commit apart from the file. After
        # a crash they are rebuilt from the log up to the file's checkpoint, so nothing drifts.
        for view in self.views:
            if view.where == "file":
                continue
            folded = self._folded.get(view.name, 0)
            todo = facts_for(view.reads, [f for f in facts if f.seq > folded])
            if not todo:
                continue
            try:
                self._fold(view, todo)
            except FoldFailed as failed:
                if failed.fact is not None:
                    raise
                for fact in todo:  # find the event; the ones before it stay folded
                    self._fold(view, [fact])
                    self._folded[view.name] = fact.seq
            self._folded[view.name] = todo[-1].seq

    def _fold(self, view: View, facts: Sequence[Fact]) -> None:
        con = self._on(view)
        con.execute("begin transaction")
        try:
            self._timed_fold(view, con, facts)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            forget_kept(con)
            raise

    def _commit(self, facts: Sequence[Fact], dead: Sequence[DeadLetter], last_seq: int) -> None:
        con = self.con
        con.execute("begin transaction")
        take_notes(con, self.counting)  # for the counts: what this batch's folds wrote
        try:
            if facts:
                for view in self.views:
                    if view.where == "file" and (self.counting or view is not self._counts):
                        self._timed_fold(view, con, facts)
            if dead:
                append(con, "dead_letters", (d.letter for d in dead))
                if EVENT_LOG in self.views:
                    fold_into(EVENT_LOG, con, [d.in_log for d in dead])
            counts_now = self._count_at is not None and last_seq >= self._count_at
            if counts_now and self._counts:  # count_later: this batch counts everything
                self._serve_fully()  # one transaction's update of every row: it needs the room
                started = time.perf_counter()
                self._counts.fill_within(con)
                self.spent[COUNTING] += time.perf_counter() - started
            con.execute("update projector_checkpoint set seq = ? where id = 1", [last_seq])
            started = time.perf_counter()
            con.execute("commit")
            self.spent[COMMITTING] += time.perf_counter() - started
        except BaseException:
            con.execute("rollback")
            forget_kept(con)
            raise
        finally:
            take_notes(con, False)
        self.checkpoint = last_seq
        if counts_now:
            self._count_at = None

    def _timed_fold(
        self, view: View, con: duckdb.DuckDBPyConnection, facts: Sequence[Fact]
    ) -> None:
        started = time.perf_counter()
        if fold_into(view, con, facts):
            self.spent[view.name] += time.perf_counter() - started


DECODING = "(decoding)"  # the parts of `Projection.spent` that are not a view's fold
COMMITTING = "(committing)"
COUNTING = "(counting at the end)"  # count_later's one count of every contribution


def fold_into(view: View, con: duckdb.DuckDBPyConnection, facts: Sequence[Fact]) -> bool:
    """The view folds the facts it reads (False: none of them); whatever it raises, other than
    a fault of the machine, is a FoldFailed (naming the fact when it is the only one)."""
    facts = facts_for(view.reads, facts)
    if not facts:
        return False
    try:
        view.apply(con, facts)
    except PASSING_FAULTS:
        raise
    except Exception as exc:
        raise FoldFailed(view.name, exc, facts[0] if len(facts) == 1 else None) from exc
    return True


def applying_failed(exc: BaseException) -> str:
    """Why applying failed, for `crew status` and the logs: the error's type and where it was
    raised, never its message. DuckDB's messages quote the values they choke on, and those may
    be names opened with a person's key."""
    return f"{type(exc).__name__} at {places(exc)}"


def places(exc: BaseException) -> str:
    """Where an error was raised, innermost first: `file:line function < caller < ...`."""
    return " < ".join(reversed(where(exc)))


class DeadLetter(NamedTuple):
    """An event the views cannot read: its row in dead_letters, and its place in event_log."""

    letter: tuple
    in_log: Fact


def dead_letter(record: Recorded, error: str) -> DeadLetter:
    recorded_at = record.recorded_at or datetime.now(UTC)
    return DeadLetter(
        (record.seq, record.subject, record.type, error[:1000], len(record.data), recorded_at),
        # event_log still lists it (its payload stays in the stream only: it may not be JSON)
        Fact(record.seq, record.subject, record.type, None, record.headers, recorded_at, b""),
    )


CREWS_FORM = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?[+-]\d\d:\d\d")


def readable(record: Recorded) -> Mapping[str, str]:
    """The record's headers, with its `Crew-Occurred-At` as a time every view can read: as
    crew writes it (ISO 8601 with an offset), or rewritten so from another ISO 8601 form (one
    without an offset is UTC), or left out when it is no time at all, so the event folds with
    its recorded time, as one without the header, and the event log's `occurred_at` is NULL.
    A header DuckDB cannot read stopped the projector at the event for good, since the log
    never changes. The warning names the event, not the header."""
    headers = record.headers
    occurred = headers.get(subjects.OCCURRED_AT)
    if occurred is None:
        return headers
    try:
        at = datetime.fromisoformat(occurred)
    except ValueError:
        log.warning("occurred_at_unreadable", seq=record.seq, type=record.type)
        return {name: value for name, value in headers.items() if name != subjects.OCCURRED_AT}
    if CREWS_FORM.fullmatch(occurred):
        return headers  # as crew writes it (isoformat): DuckDB reads it as it is
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return {**headers, subjects.OCCURRED_AT: at.isoformat()}


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
        headers = readable(record)
        version = headers.get(subjects.SCHEMA_VERSION)
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
                headers=headers,
                recorded_at=record.recorded_at or datetime.now(UTC),
                data=record.data,
            )
        )
    return facts, dead
