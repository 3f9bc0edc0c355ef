"""`put`: the keyed folds' rows go into DuckDB as JSON, which DuckDB casts to the table's
columns. Every kind of value the views write must arrive as the appender would have put it,
and JSON text (an event's payload in `event_log`) byte for byte."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import duckdb
import msgspec
from msgspec.structs import astuple

from projections.view import put

TABLE = """
create table rows (
    key      varchar primary key,
    day      date,
    "at"     timestamptz,
    naive    timestamp,
    late     boolean,
    count    integer,
    seq      bigint,
    names    varchar[],
    portions integer[],
    history  struct(status varchar, "role" varchar, "at" timestamptz, seq bigint)[],
    payload  json
)
"""
HOUSE = ZoneInfo("Europe/Copenhagen")


class Row(msgspec.Struct):
    key: str
    day: datetime.date | None = None
    at: str | datetime.datetime | None = None
    naive: datetime.datetime | None = None
    late: bool = False
    count: int | None = None
    seq: int = 0
    names: list[str] = []
    portions: list[int] = []
    history: list[dict[str, object]] = []
    payload: str | None = None  # JSON text: it must arrive byte for byte


ROWS = [
    Row(
        key='Ø"\\ \n\t{}[]',  # quotes, a backslash, control characters, JSON's own signs
        day=datetime.date(2030, 1, 7),
        at=datetime.datetime(2030, 1, 7, 12, 30, 0, 123456, tzinfo=HOUSE),
        naive=datetime.datetime(2030, 1, 7, 12, 0),
        late=True,
        count=-3,
        seq=2**62,
        names=["Åse", "", "ナ", "a,b"],
        portions=[1, 0, 12],
        history=[
            {"status": "joined", "role": None, "at": "2030-01-07T11:00:00+01:00", "seq": 1},
            {
                "status": "left",
                "role": "helper",
                "at": datetime.datetime(2030, 1, 7, 10, tzinfo=datetime.UTC),
                "seq": 2,
            },
        ],
        payload='{"meal_id": "m1",  "note": "Åse \\"ø\\"\\n", "n": [1, 2.50, null]}',
    ),
    # a header's text for a timestamp, as folds keep it; JSON that is not an object
    Row(key="plain", at="2030-01-07T11:00:00.5+01:00", payload='"just a string"'),
    Row(key="nothing", names=[], history=[]),
]


def table(con: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    return con.execute("select * from rows order by key").fetchall()


def test_rows_arrive_as_the_appender_puts_them() -> None:
    by_put, by_appender = duckdb.connect(), duckdb.connect()
    for con in (by_put, by_appender):
        con.execute(TABLE)
    put(by_put, "rows", ROWS)
    appender = by_appender.appender("rows")
    appender.append_rows([astuple(row) for row in ROWS])
    appender.flush()
    assert table(by_put) == table(by_appender)
    assert len(table(by_put)) == len(ROWS)


def test_replace_puts_a_row_over_the_one_with_its_key() -> None:
    con = duckdb.connect()
    con.execute(TABLE)
    put(con, "rows", ROWS)
    put(con, "rows", [Row(key="plain", count=7, names=["x"])], replace=True)
    assert con.execute("select count, names from rows where key = 'plain'").fetchall() == [
        (7, ["x"])
    ]
    assert con.execute("select count(*) from rows").fetchone() == (len(ROWS),)


def test_columns_are_matched_by_name_whatever_their_order_in_the_file() -> None:
    """A file made before a column was added has that column at its end."""
    con = duckdb.connect()
    con.execute("create table rows (seq bigint, key varchar primary key)")
    con.execute("alter table rows add column late boolean")

    class Short(msgspec.Struct):
        key: str
        late: bool
        seq: int

    put(con, "rows", [Short("a", True, 5)])
    assert con.execute("select key, late, seq from rows").fetchall() == [("a", True, 5)]
