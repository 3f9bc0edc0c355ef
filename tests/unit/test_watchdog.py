"""One watchdog thread times every query of the process (projections/query.py, Watchdog): a
runaway query is stopped at its own limit while quick ones beside it, with longer limits, are
never interrupted, and the thread is shared, not one per query."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import duckdb

from crew.sql import SqlError, SqlRequest, SqlResult
from projections.query import Watchdog, run_query

RUNAWAY = SqlRequest(sql="select count(*) from range(100000000000) t(a), range(10) u(b)")


def test_runaway_queries_stop_at_their_limit_and_quick_ones_beside_them_run() -> None:
    con = duckdb.connect()

    def runaway(limit_s: float) -> tuple[SqlResult | SqlError, float]:
        started = time.monotonic()
        reply = run_query(lambda: con, RUNAWAY, limit_s)
        return reply, time.monotonic() - started

    def quick() -> list[SqlResult | SqlError]:
        return [run_query(lambda: con, SqlRequest(sql="select 42"), 5) for _ in range(200)]

    with ThreadPoolExecutor(4) as pool:
        slow = [pool.submit(runaway, limit) for limit in (0.3, 0.6)]
        fast = [pool.submit(quick) for _ in range(2)]
        for future, limit in zip(slow, (0.3, 0.6), strict=True):
            reply, took = future.result()
            assert isinstance(reply, SqlError) and f"longer than {limit} s" in reply.message
            assert limit <= took < limit + 3, took  # stopped, not left to run
        watchers = [t for t in threading.enumerate() if t.name == "sql-watchdog"]
        assert len(watchers) == 1, "one watcher for every query, not a thread each"
        for future in fast:
            assert all(isinstance(r, SqlResult) and r.rows == [[42]] for r in future.result())
    assert not Watchdog._watched  # every query stopped its watch
