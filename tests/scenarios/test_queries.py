"""What `crew sql` answers, on the house's own views and through the query service's own path:
read-only, no file access, and a time limit. (How the CLI prints answers and refusals, and
what crosses NATS, is in tests/integration/test_house.py.)"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from crew import settings
from projections.query import SqlError, SqlResult
from tests.scenarios.harness import House

READ_ONLY = "read-only: only SELECT queries are answered"
REFUSALS = {
    "create table x as select 1": f"{READ_ONLY} (got CREATE)",
    "insert into event_log (seq, subject, type) values (99, 'x', 'y')": f"{READ_ONLY} (got INSERT)",
    "update projector_checkpoint set seq = 99": f"{READ_ONLY} (got UPDATE)",
    "delete from event_log": f"{READ_ONLY} (got DELETE)",
    "drop table event_log": f"{READ_ONLY} (got DROP)",
    "attach '/tmp/other.duckdb' as other": f"{READ_ONLY} (got ATTACH)",
    "copy (select 1) to '/tmp/x.csv'": f"{READ_ONLY} (got COPY)",
    "set lock_configuration = false": f"{READ_ONLY} (got SET)",
    "checkpoint": f"{READ_ONLY} (got CALL)",
    "select * from checkpoint()": "a checkpoint writes the file",
    "select * from checkpoint /**/ ()": "a checkpoint writes the file",
    "explain analyze select * from checkpoint/**/()": "a checkpoint writes the file",
    "select * from query('select * from check'||'point()')": "query() runs SQL made from text",
    "select * from read_csv('/etc/passwd')": "the table function read_csv() is not answered",
    "select * from read_parquet('/tmp/x.parquet')": "the table function read_parquet() is not answered",
    "select * from glob('/etc/*')": "the table function glob() is not answered",
    "select * from read_text('/etc/hostname')": "the table function read_text() is not answered",
    "explain analyze create table x as select 1": "EXPLAIN only of a SELECT (got EXPLAIN of CREATE)",
    "explain analyze update projector_checkpoint set seq = 99": "EXPLAIN only of a SELECT (got EXPLAIN of UPDATE)",
    "/* hidden */ EXPLAIN (ANALYZE) delete from event_log": "EXPLAIN only of a SELECT (got EXPLAIN of DELETE)",
    "explain analyze checkpoint": "EXPLAIN only of a SELECT (got EXPLAIN of CALL)",
    "explain analyze select * from read_csv('/etc/passwd')": "the table function read_csv()",
    "select 1; drop table event_log": "send exactly one statement (got 2)",
}  # fmt: skip


def test_sql_is_read_only_and_has_no_file_access(house: House) -> None:
    for query, message in REFUSALS.items():
        reply = house.ask(query)
        assert isinstance(reply, SqlError), query
        assert message in reply.message, (query, reply.message)
    assert house.sql("select count(*) as n from event_log") == [{"n": 0}]
    assert house.sql("select seq from projector_checkpoint") == [{"seq": 0}]
    assert house.sql("select count(*) as n from duckdb_tables() where table_name = 'x'") == [
        {"n": 0}
    ]
    plan = house.ask("explain analyze select count(*) from event_log")
    assert isinstance(plan, SqlResult), "EXPLAIN (ANALYZE) of a SELECT is answered"
    assert "analyzed_plan" in str(plan.rows)
    assert house.sql("select 1 as one, 'x' as two") == [{"one": 1, "two": "x"}]


def test_a_runaway_query_is_stopped_at_the_time_limit_and_the_next_is_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREW_QUERY_TIMEOUT_S", "2")
    monkeypatch.setenv("CREW_NATS_URL", "nats://127.0.0.1:4222")  # no house file needed
    limit = settings.load().projector.query_timeout_s  # what the query service is given
    house = House(tmp_path / "views.duckdb", query_timeout_s=limit)
    try:
        started = time.monotonic()
        runaway = house.ask("select count(*) from range(100000000000) t(a), range(10) u(b)")
        assert isinstance(runaway, SqlError) and "longer than 2 s" in runaway.message, runaway
        assert time.monotonic() - started < 20
        assert house.sql("select 1 as ok") == [{"ok": 1}], "the house answers on"
    finally:
        house.close()
