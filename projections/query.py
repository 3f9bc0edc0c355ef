"""Read-only SQL for coordinators, answered on cursors of the projector's locked instance.

Guards, each tested: only a single SELECT, or an EXPLAIN (ANALYZE) of one; no file access and
no `SET` (the instance is locked down); every query runs inside a READ ONLY transaction that is
rolled back, so even a statement that slipped past the first check cannot write; a checkpoint
is refused too (it would flush the projector's file under it), found in the bound plan rather
than in the text, so no comment, quoting or string building hides it; the `query()` and
`query_table()` table functions, which make SQL out of text, are refused; a time limit enforced
by interrupting the cursor, started before the text is even parsed; a cap on the size of the
text and its parameters (values bound to `?`, in the bound plan as in the answer); only the
table functions on a reviewed list (`ALLOWED_TABLE_FUNCTIONS`), found by the tokenizer before
anything is bound and again in the bound plan; a row cap; and a byte budget, so that every
answer fits in one NATS message (a reply NATS will not carry would leave the asker waiting for
a timeout).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import duckdb
import msgspec

from crew.settings import ProjectorSettings

# The wire (what is asked and answered) is the kernel's, for the askers: crew/sql.py
from crew.sql import MAX_ROWS, Param, SqlError, SqlReply, SqlRequest, SqlResult

# NATS carries at most 8 MB a message (max_payload in house/natsserver.py): the rows of an answer
# get about 6 MB of JSON (CREW_QUERY_ANSWER_BYTES), the rest of the reply (columns, types, a
# note) has room to spare.
MAX_ANSWER_BYTES = ProjectorSettings().query_answer_bytes
MAX_REPLY_BYTES = 7 * 1024 * 1024
# EXPLAIN ANALYZE runs what it explains: only the SELECT inside an EXPLAIN is looked at and run.
EXPLAINED = re.compile(
    r"^\s*explain\s*(?:\((?P<options>[^)]*)\)|(?P<analyze>analy[sz]e)\b)?(?P<inner>.*)$",
    re.IGNORECASE | re.DOTALL,
)
LEADING_COMMENTS = re.compile(r"^(?:\s|/\*.*?\*/|--[^\n]*)*", re.DOTALL)
# Operators of a bound plan that write the file.
PLAN = "explain (format json)"
WRITING_OPERATORS = frozenset({"CHECKPOINT", "FORCE_CHECKPOINT"})
# Functions that bind or run SQL made from a string: what they run is not what was checked.
# json_execute_serialized_sql even runs it outside the read-only transaction; json_serialize_plan
# binds its text when it runs, and binding alone reads files (read_csv sniffs the file).
SQL_FROM_TEXT = frozenset(
    {"query", "query_table", "json_execute_serialized_sql", "json_serialize_plan"}
)
WRITING_FUNCTIONS = frozenset({"checkpoint", "force_checkpoint"})
# The table functions a query may call; every other one is refused. DuckDB lets even a locked
# instance read its own files (read_blob('<home>/views.duckdb'), read_text of the WAL), and
# others read settings, logs, secrets or paths, or switch profiling on. These only make rows
# from their arguments or read the catalog. The views themselves use unnest.
ALLOWED_TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "generate_series",
        "unnest",
        "repeat",
        "repeat_row",
        "json_each",
        "json_tree",
        "duckdb_tables",
        "duckdb_views",
        "duckdb_columns",
        "duckdb_schemas",
        "duckdb_types",
        "duckdb_functions",
        "duckdb_constraints",
        "duckdb_indexes",
        "duckdb_keywords",
        "pragma_table_info",
        "pg_timezone_names",
        "icu_calendar_names",
    }
)
# A query is a question, not a program: 64 KiB of text is far more than any view needs, and a
# cap keeps parsing and tokenizing (done before anything runs) short.
MAX_SQL_BYTES = 64 * 1024
READ_ONLY = "read-only: only SELECT queries are answered"
OUT_OF_MEMORY = "the query needs more memory than a query may have; narrow it"
encoder = msgspec.json.Encoder()


def run_query(
    connection: Callable[[], duckdb.DuckDBPyConnection],
    request: SqlRequest,
    timeout_s: float,
    answer_bytes: int = MAX_ANSWER_BYTES,
) -> SqlReply:
    """Blocking: call from a worker thread."""
    if too_big := too_long(request):
        return too_big
    params = request.params or None
    cursor = connection().cursor()
    # The time limit covers everything done for the query, parsing and the checks included.
    watchdog = Watchdog(cursor, timeout_s)
    try:
        try:
            statements = cursor.extract_statements(request.sql)
            if len(statements) != 1:
                return SqlError(message=f"send exactly one statement (got {len(statements)})")
            if refusal := refuse(cursor, statements[0]):
                return SqlError(message=refusal)
            cursor.execute("begin transaction read only")
            if request.as_of is not None:
                cursor.execute("set variable as_of = cast(? as timestamptz)", [request.as_of])
            if refusal := refuse_plan(cursor, statements[0], params):
                return SqlError(message=refusal)
            watchdog.check()
            cursor.execute(request.sql, params)
            columns = [d[0] for d in cursor.description or []]
            types = [str(d[1]) for d in cursor.description or []]
            limit = max(0, min(request.max_rows, MAX_ROWS))
            fetched = fetch_within(cursor, limit, answer_bytes)
            if isinstance(fetched, SqlError):
                return fetched
            rows, note = fetched
            checkpoint = read_checkpoint(cursor)
        except duckdb.ConnectionException:
            raise  # the file was closed under the query (a swap): the caller asks the new one
        except (duckdb.Error, MemoryError) as exc:
            return stopped(exc, timeout_s)
        finally:
            watchdog.stop()
            with contextlib.suppress(duckdb.Error):
                cursor.execute("rollback")
        return SqlResult(
            columns=columns,
            types=types,
            rows=rows,
            truncated=note is not None,
            note=note,
            checkpoint=checkpoint,
        )
    finally:
        with contextlib.suppress(duckdb.Error):
            cursor.close()


def too_long(request: SqlRequest) -> SqlError | None:
    """Why the text and its parameters are too long to be looked at, or None."""
    params = len(encoder.encode(request.params)) if request.params else 0
    if (size := len(request.sql.encode()) + params) > MAX_SQL_BYTES:
        return SqlError(
            message=f"the query is {size:,} bytes; at most {MAX_SQL_BYTES:,} bytes "
            f"({MAX_SQL_BYTES // 1024} KiB) of SQL are answered"
        )
    return None


def stopped(exc: duckdb.Error | MemoryError, timeout_s: float) -> SqlError:
    """What the asker is told when DuckDB stopped the query."""
    match exc:
        case duckdb.InterruptException():
            return SqlError(message=f"the query ran longer than {timeout_s:g} s and was stopped")
        case duckdb.PermissionException():
            return SqlError(message=f"no file access: only the views are answered ({exc})")
        case duckdb.TransactionException():
            return SqlError(message=f"{READ_ONLY} ({exc})")
        case duckdb.OutOfMemoryException():
            return SqlError(message=f"{OUT_OF_MEMORY} ({exc})")
        case MemoryError():  # the process's cap (projections/app.py), met outside DuckDB
            return SqlError(message=OUT_OF_MEMORY)
    return SqlError(message=str(exc))


class Watchdog:
    """Interrupts the cursor once the time is up, and again every moment after until stopped:
    an interrupt that lands between two statements (while Python checks the text) is lost, so
    one interrupt alone could let the next statement run unbounded. One thread watches every
    query of the process (a thread started and joined per query cost the projector 4 % of its
    time under a dashboard's questions; docs/performance.md, "A live batch")."""

    AGAIN_S: ClassVar[float] = 0.05  # between interrupts, once the time is up
    _changed: ClassVar[threading.Condition] = threading.Condition()
    _watched: ClassVar[set[Watchdog]] = set()
    _watcher: ClassVar[threading.Thread | None] = None

    def __init__(self, cursor: duckdb.DuckDBPyConnection, timeout_s: float) -> None:
        self.deadline = time.monotonic() + timeout_s
        self._next = self.deadline
        self._cursor = cursor
        with Watchdog._changed:
            Watchdog._watched.add(self)
            if Watchdog._watcher is None or not Watchdog._watcher.is_alive():
                Watchdog._watcher = threading.Thread(
                    target=Watchdog._watch, name="sql-watchdog", daemon=True
                )
                Watchdog._watcher.start()
            Watchdog._changed.notify()

    @staticmethod
    def _watch() -> None:
        with Watchdog._changed:
            while True:
                now = time.monotonic()
                for watchdog in Watchdog._watched:
                    if watchdog._next <= now:
                        watchdog._cursor.interrupt()
                        watchdog._next = now + Watchdog.AGAIN_S
                soonest = min((w._next for w in Watchdog._watched), default=None)
                Watchdog._changed.wait(None if soonest is None else max(0.0, soonest - now))

    def check(self) -> None:
        """Raise if the time is up already (before a statement starts)."""
        if time.monotonic() >= self.deadline:
            raise duckdb.InterruptException("the time limit was reached before the query ran")

    def stop(self) -> None:
        """No interrupt reaches the cursor once this returns (the watcher interrupts only while
        it holds the lock)."""
        with Watchdog._changed:
            Watchdog._watched.discard(self)


def fetch_within(
    cursor: duckdb.DuckDBPyConnection, limit: int, budget: int
) -> tuple[list[list[Any]], str | None] | SqlError:
    """At most `limit` rows and `budget` bytes of them as JSON, measured as they are fetched,
    in chunks that grow only as far as the budget allows: a result far bigger than an answer
    is never held in memory whole. Returns the rows and, if more are left, a note saying why
    the answer stops there."""
    rows: list[list[Any]] = []
    size = 0
    chunk = 1  # the first row tells how big rows are
    while batch := cursor.fetchmany(min(chunk, limit + 1 - len(rows))):
        for row in batch:
            if len(rows) == limit:
                return rows, f"cut at {limit:,} rows; ask for more rows, or from an offset"
            try:
                encoded = len(encoder.encode(row)) + 1
            except (TypeError, OverflowError, msgspec.EncodeError) as exc:
                return SqlError(message=f"a value in the answer cannot be sent as JSON ({exc})")
            if size + encoded > budget:
                if not rows:
                    return SqlError(
                        message=f"a single row is {encoded:,} bytes as JSON, more than an answer "
                        f"carries ({budget:,} bytes): select fewer or shorter columns, e.g. "
                        "with left(column, 1000)"
                    )
                return rows, (
                    f"cut at {len(rows):,} rows: an answer carries about {budget // 2**20} MB "
                    "of JSON; ask for the rest from an offset, or narrow the query"
                )
            rows.append(list(row))
            size += encoded
        per_row = max(1, size // max(1, len(rows)))
        chunk = max(1, min(chunk * 2, (budget - size) // per_row + 1, 10_000))
    return rows, None


def read_checkpoint(cursor: duckdb.DuckDBPyConnection) -> int | None:
    """The projector's checkpoint in the answer's own transaction (None where there is none,
    as in the restricted instance)."""
    try:
        row = cursor.execute("select seq from projector_checkpoint where id = 1").fetchone()
    except duckdb.CatalogException:
        return None
    return int(row[0]) if row else None


def encode_reply(reply: SqlReply) -> bytes:
    """The reply as JSON, never bigger than NATS carries: what could not be sent becomes an
    error the asker reads, instead of a reply that never arrives."""
    try:
        body = msgspec.json.encode(reply)
    except (TypeError, OverflowError, msgspec.EncodeError) as exc:
        return msgspec.json.encode(
            SqlError(message=f"the answer cannot be sent as JSON ({type(exc).__name__})")
        )
    if len(body) > MAX_REPLY_BYTES:
        return msgspec.json.encode(
            SqlError(
                message=f"the answer is {len(body):,} bytes, more than a reply carries "
                f"({MAX_REPLY_BYTES:,}): select fewer or shorter columns"
            )
        )
    return body


def refuse(cursor: duckdb.DuckDBPyConnection, statement: duckdb.Statement) -> str | None:
    """Why this statement is not answered, or None: a SELECT, or an EXPLAIN of one."""
    kind = statement.type
    if kind == duckdb.StatementType.EXPLAIN:
        inside = explained(cursor, statement.query)
        if len(inside) != 1 or inside[0].type != duckdb.StatementType.SELECT:
            what = inside[0].type.name if len(inside) == 1 else "what it wraps"
            return f"{READ_ONLY}; EXPLAIN only of a SELECT (got EXPLAIN of {what})"
    elif kind != duckdb.StatementType.SELECT:
        return f"{READ_ONLY} (got {kind.name})"
    return refuse_calls(cursor, set(called_functions(statement.query)))


def refuse_calls(cursor: duckdb.DuckDBPyConnection, called: set[str]) -> str | None:
    """Why calling these names is not answered, or None. Read from the text before anything is
    bound, because binding alone runs some of them (read_csv reads the file to sniff it)."""
    if text := sorted(SQL_FROM_TEXT & called):
        return f"{READ_ONLY}; {text[0]}() runs SQL made from text and is not answered"
    if WRITING_FUNCTIONS & called:
        return f"{READ_ONLY}; a checkpoint writes the file and is not answered"
    # Names that are table functions only: a scalar or aggregate of the same name (histogram,
    # range, repeat) is told apart in the bound plan instead.
    if refused := sorted((called & table_functions_only(cursor)) - ALLOWED_TABLE_FUNCTIONS):
        return not_allowed(refused[0])
    return None


def not_allowed(name: str) -> str:
    return (
        f"the table function {name}() is not answered: only the views, and these table "
        f"functions, are ({', '.join(sorted(ALLOWED_TABLE_FUNCTIONS))})"
    )


_table_functions: frozenset[str] | None = None


def table_functions_only(cursor: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """Names DuckDB knows only as table functions, table macros or pragmas, looked up once: the
    built-in functions do not change while the process runs, and one loaded later is still
    refused by the plan check."""
    global _table_functions
    if _table_functions is None:
        rows = cursor.execute(
            "select function_name from duckdb_functions() group by function_name "
            "having bool_and(function_type in ('table', 'table_macro', 'pragma'))"
        ).fetchall()
        _table_functions = frozenset(str(name).lower() for (name,) in rows)
    return _table_functions


def explained(cursor: duckdb.DuckDBPyConnection, text: str) -> list[duckdb.Statement]:
    """The statements inside an EXPLAIN (ANALYZE)."""
    found = EXPLAINED.match(LEADING_COMMENTS.sub("", text, count=1))
    inner = found["inner"] if found else ""
    try:
        return cursor.extract_statements(inner) if inner.strip() else []
    except duckdb.Error:
        return []


def select_of(cursor: duckdb.DuckDBPyConnection, statement: duckdb.Statement) -> str | None:
    """The SELECT a statement runs: itself, or the one inside an EXPLAIN."""
    if statement.type == duckdb.StatementType.EXPLAIN:
        inside = explained(cursor, statement.query)
        statement = inside[0] if len(inside) == 1 else statement
    return statement.query if statement.type == duckdb.StatementType.SELECT else None


def called_functions(sql: str) -> Iterator[str]:
    """Every name the statement calls, as the tokenizer reads it (comments and quotes do not
    hide a call)."""
    tokens = duckdb.tokenize(sql)
    ends = [start for start, _ in tokens[1:]] + [len(sql)]
    texts = [
        (sql[start:end].strip().strip('"').lower(), kind)
        for (start, kind), end in zip(tokens, ends, strict=True)
        if kind != duckdb.token_type.comment
    ]
    words = (duckdb.token_type.identifier, duckdb.token_type.keyword)
    for i, ((name, kind), (following, _)) in enumerate(itertools.pairwise(texts)):
        if kind in words and following == "(" and not names_a_cte(texts, i + 1):
            yield name


# How the body of a CTE starts after its name and column list: `as (select ...`, `as
# materialized (from ...`, `as not materialized (with ...`. After a call none of these parses
# (`read_blob('f') as materialized` does, as an alias: hence the query keyword after "(").
CTE_BODIES = tuple(
    (*prefix, "(", start)
    for prefix in (("as",), ("as", "materialized"), ("as", "not", "materialized"))
    for start in ("select", "with", "from", "values", "(")
)


def names_a_cte(texts: list[tuple[str, Any]], opening: int) -> bool:
    """Whether the parenthesis at `opening` holds the column names of a CTE being defined,
    `with summary(n) as (select ...)`, rather than a call's arguments."""
    depth = 0
    for closing in range(opening, len(texts)):
        depth += {"(": 1, ")": -1}.get(texts[closing][0], 0)
        if depth == 0:
            after = tuple(text for text, _ in texts[closing + 1 : closing + 6])
            return any(after[: len(body)] == body for body in CTE_BODIES)
    return False


def refuse_plan(
    cursor: duckdb.DuckDBPyConnection, statement: duckdb.Statement, params: list[Param] | None
) -> str | None:
    """Why the bound plan of the statement's SELECT (with its parameters) is not run, or None.
    Call it inside the read-only transaction: binding reads the views (and `query()` would bind
    its text)."""
    select = select_of(cursor, statement)
    if select is None:
        return None  # not a SELECT: the read-only transaction refuses whatever it writes
    try:
        plan = cursor.execute(f"{PLAN} {select}", params).fetchall()
    except duckdb.InterruptException:
        raise
    except duckdb.Error as exc:  # the query's own error, pointing into the query as sent
        raise type(exc)(unplanned(str(exc))) from None
    for _, text in plan:
        tree = json.loads(text)
        for operator in operators(tree):
            if operator in WRITING_OPERATORS:
                return f"{READ_ONLY}; a checkpoint writes the file and is not answered"
        for function in table_functions(tree):
            if function not in ALLOWED_TABLE_FUNCTIONS:
                return not_allowed(function)
    return None


def unplanned(message: str) -> str:
    """An error message about `EXPLAIN ... <query>` as if it were about the query alone."""
    lines = message.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("LINE ") and PLAN in line:
            lines[i] = line.replace(f"{PLAN} ", "", 1)
            if i + 1 < len(lines) and lines[i + 1].strip().startswith("^"):
                lines[i + 1] = lines[i + 1][len(PLAN) + 1 :]
    return "\n".join(lines)


def operators(node: Any) -> Iterator[str]:
    """Every operator and table function named in an EXPLAIN (FORMAT JSON) plan."""
    if isinstance(node, list):
        for child in node:
            yield from operators(child)
    elif isinstance(node, dict):
        yield str(node.get("name", "")).upper().replace(" ", "_")
        extra = node.get("extra_info")
        if isinstance(extra, dict) and "Function" in extra:
            yield str(extra["Function"]).upper()
        yield from operators(node.get("children", []))


def table_functions(node: Any) -> Iterator[str]:
    """Every table function a bound plan calls, however the text spelled it (or a macro or a
    view hid it)."""
    if isinstance(node, list):
        for child in node:
            yield from table_functions(child)
    elif isinstance(node, dict):
        extra = node.get("extra_info")
        if isinstance(extra, dict) and "Function" in extra:
            yield str(extra["Function"]).lower()
        yield from table_functions(node.get("children", []))
