"""Read-only SQL for coordinators, answered on cursors of the projector's locked instance.

Guards, each tested: only a single SELECT, or an EXPLAIN (ANALYZE) of one; no file access and
no `SET` (the instance is locked down); every query runs inside a READ ONLY transaction that is
rolled back, so even a statement that slipped past the first check cannot write; `checkpoint()`
is refused too (it would flush the projector's file under it); a time limit enforced by
interrupting the cursor; a row cap.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable
from typing import Any

import duckdb
import msgspec

MAX_ROWS = 100_000
# EXPLAIN ANALYZE runs what it explains: only the SELECT inside an EXPLAIN is looked at and run.
EXPLAINED = re.compile(
    r"^\s*explain\s*(?:\((?P<options>[^)]*)\)|(?P<analyze>analy[sz]e)\b)?(?P<inner>.*)$",
    re.IGNORECASE | re.DOTALL,
)
LEADING_COMMENTS = re.compile(r"^(?:\s|/\*.*?\*/|--[^\n]*)*", re.DOTALL)
# A SELECT can call these table functions; they write the file (a checkpoint), so no.
WRITING_FUNCTIONS = re.compile(r"checkpoint\s*\"?\s*\(", re.IGNORECASE)
READ_ONLY = "read-only: only SELECT queries are answered"


class SqlRequest(msgspec.Struct, frozen=True, kw_only=True):
    sql: str
    max_rows: int = MAX_ROWS
    as_of: str | None = None  # read by the *_as_of views; the query itself is not rewritten
    version: str | None = None  # a version built side by side (crew rebuild --version)


class SqlResult(msgspec.Struct, frozen=True, kw_only=True, tag_field="status", tag="ok"):
    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    truncated: bool = False


class SqlError(msgspec.Struct, frozen=True, kw_only=True, tag_field="status", tag="error"):
    message: str


SqlReply = SqlResult | SqlError


def run_query(
    connection: Callable[[], duckdb.DuckDBPyConnection], request: SqlRequest, timeout_s: float
) -> SqlReply:
    """Blocking: call from a worker thread."""
    cursor = connection().cursor()
    try:
        try:
            statements = cursor.extract_statements(request.sql)
        except duckdb.Error as exc:
            return SqlError(message=str(exc))
        if len(statements) != 1:
            return SqlError(message=f"send exactly one statement (got {len(statements)})")
        if refusal := refuse(cursor, statements[0]):
            return SqlError(message=refusal)
        watchdog = threading.Timer(timeout_s, cursor.interrupt)
        watchdog.start()
        try:
            cursor.execute("begin transaction read only")
            if request.as_of is not None:
                cursor.execute("set variable as_of = cast(? as timestamptz)", [request.as_of])
            cursor.execute(request.sql)
            columns = [d[0] for d in cursor.description or []]
            types = [str(d[1]) for d in cursor.description or []]
            limit = max(0, min(request.max_rows, MAX_ROWS))
            rows = cursor.fetchmany(limit + 1)
        except duckdb.InterruptException:
            return SqlError(message=f"the query ran longer than {timeout_s:g} s and was stopped")
        except duckdb.PermissionException as exc:
            return SqlError(message=f"no file access: only the views are answered ({exc})")
        except duckdb.TransactionException as exc:
            return SqlError(message=f"{READ_ONLY} ({exc})")
        except duckdb.Error as exc:
            return SqlError(message=str(exc))
        finally:
            watchdog.cancel()
            with contextlib.suppress(duckdb.Error):
                cursor.execute("rollback")
        return SqlResult(
            columns=columns,
            types=types,
            rows=[list(r) for r in rows[:limit]],
            truncated=len(rows) > limit,
        )
    finally:
        cursor.close()


def refuse(cursor: duckdb.DuckDBPyConnection, statement: duckdb.Statement) -> str | None:
    """Why this statement is not answered, or None: a SELECT, or an EXPLAIN of one."""
    kind = statement.type
    text = statement.query
    if kind == duckdb.StatementType.EXPLAIN:
        explained = EXPLAINED.match(LEADING_COMMENTS.sub("", text, count=1))
        inner = explained["inner"] if explained else ""
        try:
            inside = cursor.extract_statements(inner) if inner.strip() else []
        except duckdb.Error:
            inside = []
        if len(inside) != 1 or inside[0].type != duckdb.StatementType.SELECT:
            what = inside[0].type.name if len(inside) == 1 else "what it wraps"
            return f"{READ_ONLY}; EXPLAIN only of a SELECT (got EXPLAIN of {what})"
    elif kind != duckdb.StatementType.SELECT:
        return f"{READ_ONLY} (got {kind.name})"
    if WRITING_FUNCTIONS.search(text):
        return f"{READ_ONLY}; checkpoint() writes the file and is not answered"
    return None
