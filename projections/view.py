"""The two shapes a view takes: rows appended per event, or one row per key folded over events."""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, Generic, Literal, Protocol, TypeVar

import duckdb
import msgspec

from schemas.registry import EVENT_TYPES


class Fact(msgspec.Struct, frozen=True, gc=False):
    """One event as the projector sees it: decoded payload plus its place in the log. A Struct,
    as `Recorded`: one is made for every event a rebuild folds."""

    seq: int
    subject: str
    type: str
    event: Any
    headers: Mapping[str, str]  # the record's own: read, never changed
    recorded_at: datetime
    data: bytes

    @property
    def occurred_at(self) -> str:
        # `or`, not a .get() default: the fallback is formatted only when the header is missing
        return self.headers.get("Crew-Occurred-At") or self.recorded_at.isoformat()


Reads = tuple[str | type[msgspec.Struct], ...] | None
"""What a view folds: whole contexts by name (`"meals"`) and single event types (a schema's
class). The projector hands a view only these events, so it never spends time on the others
(most of a house's log is people signing up to eat). None: every event."""


@cache
def types_in(reads: tuple[str | type[msgspec.Struct], ...]) -> frozenset[str]:
    """The event types (`<context>.<name>` tags) a view reads."""
    tags: set[str] = set()
    for item in reads:
        if isinstance(item, str):
            found = {t for t in EVENT_TYPES if t.partition(".")[0] == item}
            if not found:
                raise ValueError(f"no context {item!r} has events")
            tags |= found
        else:
            tags.add(item.__struct_config__.tag)  # type: ignore[arg-type]
    return frozenset(tags)


def facts_for(reads: Reads, facts: Sequence[Fact]) -> Sequence[Fact]:
    """The facts of a batch that a view reading `reads` folds, in log order."""
    if reads is None:
        return facts
    wanted = types_in(reads)
    return [f for f in facts if f.type in wanted]


Where = Literal["file", "memory", "restricted"]
"""Where a view's rows live: the DuckDB file; the in-memory `personal` catalog of the same
instance (display names: never written to the file); or a separate in-memory instance that only
the restricted query path reads (contact details, conversation notes). The last two are
rebuilt from the log whenever the projector starts."""


class View(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def ddl(self) -> str: ...

    @property
    def where(self) -> Where: ...

    @property
    def reads(self) -> Reads: ...

    def apply(self, con: duckdb.DuckDBPyConnection, facts: Sequence[Fact]) -> None: ...


@dataclass(frozen=True)
class AppendView:
    """A table that grows by rows made from each fact (e.g. the event log): Structs of its
    columns, put as JSON (`put`: the event log's 5,000 rows a batch in about half the
    appender's time)."""

    name: str
    ddl: str
    table: str
    rows: Callable[[Fact], Sequence[msgspec.Struct]]
    where: Where = "file"
    reads: Reads = None

    def apply(self, con: duckdb.DuckDBPyConnection, facts: Sequence[Fact]) -> None:
        if rows := [row for fact in facts for row in self.rows(fact)]:
            put(con, self.table, rows)


R = TypeVar("R", bound=msgspec.Struct)


@dataclass(frozen=True)
class KeyedFold(Generic[R]):
    """A table with one row per key; each fact folds into the rows of its keys (None deletes).

    Rows touched by a batch are read once, folded in memory in log order and written back
    (`_write`). `row_type` fields are the table's columns, in order; the key is the first.
    """

    name: str
    ddl: str
    table: str
    key: str
    row_type: type[R]
    keys_of: Callable[[Any], Sequence[str]]
    fold: Callable[[R | None, Fact, str], R | None]
    where: Where = "file"
    reads: Reads = None
    # An occurrence's fields that say when it is and what it counts as (a meal's date and
    # time, say): an event that changes one sets the row's `moved_seq`, and the contributions
    # at the occurrence are counted again (contribution_counts.py). Other changes (one more
    # helper) leave them as counted.
    moves: tuple[str, ...] = ()
    # A table of many rows (one per person and occurrence): a small batch finds its rows
    # through the key index instead of scanning the key column (INDEXED), and a batch of more
    # keys upserts the rows it found (`_write`). Tables of fewer, wider rows are scanned:
    # DuckDB fetches a long list column row by row slowly.
    large: bool = False
    # What a row is read as, when a column holds something else than its field: `meal_plan`
    # keeps its lists as JSON text and reads them back as lists
    # (docs/performance.md, "A meal's lists kept as JSON text").
    read_as: str = "*"
    # How many rows the live batches keep in memory as they wrote them, so that the next batch
    # to touch one need not read it back (0: none). For a table of few, wide rows that only
    # this fold writes: `meal_plan`'s rows, with their lists, cost more to read than to fold
    # (docs/performance.md, "A meal's row kept in memory").
    cached: int = 0
    # Whether the batch's notes keep the rows this fold wrote, for a later view of the same
    # batch (the counts read `participation`'s instead of finding them again in SQL).
    noted: bool = False

    def apply(self, con: duckdb.DuckDBPyConnection, facts: Sequence[Fact]) -> None:
        keyed = [(key, fact) for fact in facts for key in self.keys_of(fact.event)]
        if not keyed:
            return
        keys = list(dict.fromkeys(key for key, _ in keyed))
        kept = self._kept(con, len(keys))
        known = {key: kept[key] for key in keys if key in kept}
        rows: dict[str, R | None] = {}
        found = [key for key, row in known.items() if row is not None]
        if unknown := [key for key in keys if key not in known]:
            having, params = among(self.key, unknown, self.large)
            read = con.execute(
                f"select {self.read_as} from {self.table} where {having}", params
            ).fetchall()
            rows = {row[0]: self.row_type(*row) for row in read}
            found += rows
        rows.update((key, row) for key, row in known.items() if row is not None)
        for key, fact in keyed:
            before = rows.get(key)
            after = self.fold(before, fact, key)
            if self.moves and after is not None and moved(before, after, self.moves):
                after = msgspec.structs.replace(after, moved_seq=fact.seq)
                if notes := _notes.get(con):
                    notes.moved = True
            rows[key] = after
        self._write(con, rows, found, indexed=len(keys) <= INDEXED)
        if self.noted and (notes := _notes.get(con)):
            notes.written.setdefault(self.table, {}).update(rows)
        if self.cached and len(keys) <= INDEXED:
            keep(kept, {key: rows.get(key) for key in keys}, self.cached)

    def _kept(self, con: duckdb.DuckDBPyConnection, keys: int) -> dict[str, Any]:
        """The rows this connection's live batches wrote, by key (None: no such row). A batch
        of more keys (a rebuild's, or a catch-up) forgets them and reads the table."""
        if not self.cached:
            return {}
        kept = _kept.setdefault(con, {}).setdefault(self.table, {})
        if keys > INDEXED:
            kept.clear()
        return kept

    def _write(
        self,
        con: duckdb.DuckDBPyConnection,
        rows: dict[str, R | None],
        found: list[str],
        indexed: bool,
    ) -> None:
        """The folded rows into the table (None: the row goes). A few keys (`indexed`), or a
        table of few rows (not `large`, where a scan of the keys is cheap): the rows found are
        deleted and every row is put, since an `insert or replace` of a row with long lists
        costs several times a delete and an insert (800 meal rows: 56 ms against 15 ms).
        Otherwise (many keys in a large table) the rows found are put over the rows with their
        keys (`replace`), and the new rows put plainly (a rebuild's rows are mostly new, and a
        replace of a new row costs about twice a plain insert)."""
        cleared = indexed or not self.large
        if cleared and found:
            having, params = among(self.key, found, indexed)
            con.execute(f"delete from {self.table} where {having}", params)
        there = set() if cleared else set(found)  # upserted; the others are new rows
        changed = [row for key, row in rows.items() if row is not None and key in there]
        new = [row for key, row in rows.items() if row is not None and key not in there]
        if changed:
            put(con, self.table, changed, replace=True)
        if new:
            put(con, self.table, new)
        gone = [(key,) for key, row in rows.items() if row is None]
        if gone and not cleared:
            append(con, self.table, gone, action="delete", key=[self.key])


_kept: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, dict[str, dict[str, Any]]] = (
    weakref.WeakKeyDictionary()
)


def keep(kept: dict[str, Any], rows: Mapping[str, Any], most: int) -> None:
    """Rows a batch wrote into the kept ones, as the most recent; the least recent go past
    `most`."""
    for key, row in rows.items():
        kept.pop(key, None)
        kept[key] = row
    for key in list(itertools.islice(kept, max(len(kept) - most, 0))):
        del kept[key]


@dataclass
class Notes:
    """What one batch's keyed folds did that a later view of the same batch needs: the rows the
    `noted` folds wrote, by table and key (None: gone), and whether any fold moved an
    occurrence (`moves`). Kept from `take_notes` until the next."""

    written: dict[str, dict[str, Any]] = field(default_factory=dict)
    moved: bool = False


_notes: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, Notes] = weakref.WeakKeyDictionary()


def take_notes(con: duckdb.DuckDBPyConnection, taken: bool = True) -> None:
    """From here on this connection's folds note what they do, in fresh notes (`taken`), or
    none at all."""
    if taken:
        _notes[con] = Notes()
    else:
        _notes.pop(con, None)


def notes_of(con: duckdb.DuckDBPyConnection) -> Notes | None:
    return _notes.get(con)


def forget_kept(con: duckdb.DuckDBPyConnection) -> None:
    """After a rollback: the rows kept for this connection may be ones it never committed."""
    _kept.pop(con, None)


def append(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: Iterable[tuple[Any, ...]],
    action: Literal["insert", "update", "delete"] = "insert",
    **options: Any,
) -> None:
    """Rows into a table through DuckDB's appender: appended, or (by `key`) updated or
    deleted. How the dead letters are written, the keyed folds delete their rows and the
    counts update theirs; the views' own rows go through `put`."""
    appender = con.appender(table, action=action, **options)
    appender.append_rows(rows)
    appender.flush()


def put(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: Sequence[msgspec.Struct],
    replace: bool = False,
) -> None:
    """Rows into a table by their fields' names (`replace`: a row whose key the table has
    replaces it). Each goes as a JSON string that DuckDB casts to the table's columns itself:
    twice as fast as the appender for rows with lists, whose values it converts one by one
    in Python, and no slower for a few rows (docs/performance.md, "Rows put as JSON")."""
    verb = "insert or replace into" if replace else "insert into"
    con.execute(
        f"{verb} {table} by name select unnest(r) "
        f"from (select cast(j::json as {row_type_of(con, table)}) as r from (select unnest(?) j))",
        [[_to_json(row).decode() for row in rows]],
    )


_to_json = msgspec.json.Encoder().encode
_row_types: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, dict[str, str]] = (
    weakref.WeakKeyDictionary()
)


def row_type_of(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """The table's row as a DuckDB struct type, `STRUCT("column" TYPE, ...)` (asked once). A
    JSON column is read as text: its value arrives as the string the row holds, byte for byte
    (an event's payload as it was recorded), and the insert checks that it is JSON."""
    known = _row_types.setdefault(con, {})
    if table not in known:
        columns = con.execute(f"describe {table}").fetchall()
        known[table] = (
            "STRUCT("
            + ", ".join(f'"{c[0]}" {"VARCHAR" if c[1] == "JSON" else c[1]}' for c in columns)
            + ")"
        )
    return known[table]


INDEXED = 256
"""Up to this many keys, a batch rewrites its rows through the table's primary-key index, and
a large table's rows are found through it. Measured (docs/performance.md, "A live batch"):
constants (`key in (?, ?, …)`) are looked up one by one, about 13 µs a key on a 400 k-row
table of short rows, where one list parameter (`key in (select unnest(?))`) scans the whole
key column, about 25 ns a row; and an upsert's update of an existing row grows with the table
(100 rows through the appender: 22 ms), where a delete through the index and a plain insert do
not (3.6 ms). Past this many keys (a rebuild's batches), the scan costs less, and so does
the upsert in a large table; a table of few rows deletes by the scan (`KeyedFold._write`)."""


def among(column: str, keys: Sequence[str], indexed: bool = True) -> tuple[str, list[Any]]:
    """`<column> in (…)` for these keys (at least one), and its parameters: constants up to
    INDEXED keys, so that the index finds them, and a list parameter (a scan) past that or
    when not `indexed`."""
    if indexed and len(keys) <= INDEXED:
        return f"{column} in ({', '.join('?' * len(keys))})", list(keys)
    return f"{column} in (select unnest(?))", [list(keys)]


def moved(before: msgspec.Struct | None, after: msgspec.Struct, fields: Sequence[str]) -> bool:
    """Whether the fold changed any of these fields (a new row: it did)."""
    return before is None or any(getattr(before, f) != getattr(after, f) for f in fields)


@dataclass(frozen=True)
class SqlView:
    """A view that is only SQL over other views' tables: nothing to apply."""

    name: str
    ddl: str
    where: Where = "file"
    reads: Reads = ()

    def apply(self, con: duckdb.DuckDBPyConnection, facts: Sequence[Fact]) -> None:
        return None
