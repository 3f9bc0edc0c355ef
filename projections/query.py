"""Read-only SQL for coordinators, answered on cursors of the projector's locked instance.

Guards, each tested: only a single SELECT (or EXPLAIN) statement; no file access and no `SET`
(the instance is locked down); a time limit enforced by interrupting the cursor; a row cap;
and every query runs inside a transaction that is rolled back.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import duckdb
import msgspec

MAX_ROWS = 100_000
ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


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
        if statements[0].type not in ALLOWED:
            kind = statements[0].type.name
            return SqlError(message=f"read-only: only SELECT queries are answered (got {kind})")
        watchdog = threading.Timer(timeout_s, cursor.interrupt)
        watchdog.start()
        try:
            cursor.execute("begin transaction")
            if request.as_of is not None:
                cursor.execute("set variable as_of = cast(? as timestamptz)", [request.as_of])
            cursor.execute(request.sql)
            columns = [d[0] for d in cursor.description or []]
            types = [str(d[1]) for d in cursor.description or []]
            limit = max(0, min(request.max_rows, MAX_ROWS))
            rows = cursor.fetchmany(limit + 1)
        except duckdb.InterruptException:
            return SqlError(message=f"the query ran longer than {timeout_s:g} s and was stopped")
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
