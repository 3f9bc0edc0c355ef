"""The notices service asks the query service for this month's load at most once an hour, only
while someone subscribes to the burnout watch, and a failed question never stops it."""

from __future__ import annotations

import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import nats.errors
import pytest

from crew import subjects
from crew.settings import Settings
from crew.sql import SqlError, SqlResult
from schemas import notices as n
from schemas import onboarding as o
from services.notices.at_work import Notices
from services.notices.burnout import MonthLoad
from services.notices.rules import see

NOW = datetime.datetime(2030, 1, 15, 11, 0, tzinfo=datetime.UTC)
JANUARY = MonthLoad(
    period_start=datetime.date(2030, 1, 1), contributions=40, crew=12, top_10pct_share=0.6, rising=2
)
TYPES = {"period_start": "DATE", "top_10pct_share": "DOUBLE", "rising_names": "VARCHAR[]"}
TYPES |= {"named": "BOOLEAN"}


def answered(*rows: MonthLoad) -> bytes:
    columns = list(MonthLoad.__struct_fields__)
    return msgspec.json.encode(
        SqlResult(
            columns=columns,
            types=[TYPES.get(c, "BIGINT") for c in columns],
            rows=[[msgspec.to_builtins(getattr(row, c)) for c in columns] for row in rows],
        )
    )


class QueryService:
    """Answers each request with the next reply: bytes, or an exception to raise."""

    def __init__(self, *replies: bytes | Exception) -> None:
        self.replies = list(replies)
        self.asked: list[tuple[str, Any]] = []

    def jetstream(self) -> None:  # the vault's, never used here
        return None

    async def request(self, subject: str, body: bytes, timeout: float) -> Any:
        self.asked.append((subject, msgspec.json.decode(body)))
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return SimpleNamespace(data=reply)


def notices(query: QueryService, subscribed: bool = True) -> Notices:
    work = Notices(query, None, Settings(home=Path("/nowhere"), nats_url=""), None, None)  # type: ignore[arg-type]
    if subscribed:
        see(work.picture, n.AddressSet(crew_id="anna", email="sealed:v1:x"), NOW, 1)
        see(work.picture, n.Subscribed(crew_id="anna", topic="burnout_watch"), NOW, 2)
    return work


async def test_no_subscriber_no_question() -> None:
    query = QueryService()
    await notices(query, subscribed=False).ask_load(NOW)
    assert query.asked == []


async def test_it_asks_for_this_months_row_at_most_once_an_hour() -> None:
    query = QueryService(answered(JANUARY), answered())
    work = notices(query)
    await work.ask_load(NOW)
    assert work.load == JANUARY
    [(subject, request)] = query.asked
    assert subject == subjects.QUERY_SQL
    assert request["params"] == ["2030-01-01", False]  # no coordinator watches: no names
    await work.ask_load(NOW + datetime.timedelta(minutes=59))
    assert len(query.asked) == 1
    await work.ask_load(NOW + datetime.timedelta(hours=1))
    assert len(query.asked) == 2
    assert work.load is None  # no row: no contribution this month (yet)


@pytest.mark.parametrize(
    "failure",
    [
        nats.errors.NoRespondersError(),
        nats.errors.TimeoutError(),
        msgspec.json.encode(SqlError(message="Catalog Error: no load_balance")),
        b'{"status": "ok", "columns": ["period_start"], "types": ["DATE"], "rows": [["x"]]}',
        b"not json",
    ],
)
async def test_a_failed_question_is_logged_and_asked_again_next_hour(
    failure: bytes | Exception,
) -> None:
    query = QueryService(answered(JANUARY), failure, answered(JANUARY))
    work = notices(query)
    await work.ask_load(NOW)
    await work.ask_load(NOW + datetime.timedelta(hours=1))  # fails: no crash
    assert work.load == JANUARY  # what it knew stays; the rule ignores another month's row
    await work.ask_load(NOW + datetime.timedelta(hours=1, minutes=30))
    assert len(query.asked) == 2
    await work.ask_load(NOW + datetime.timedelta(hours=2))
    assert len(query.asked) == 3 and work.load == JANUARY


async def test_the_month_asked_is_house_time() -> None:
    query = QueryService(answered())
    await notices(query).ask_load(datetime.datetime(2030, 1, 31, 23, 30, tzinfo=datetime.UTC))
    assert query.asked[0][1]["params"] == ["2030-02-01", False]


async def test_names_are_asked_for_while_a_coordinator_watches() -> None:
    query = QueryService(answered(JANUARY), answered(JANUARY))
    work = notices(query)
    see(work.picture, o.CoordinatorGranted(person_id="anna", granted_at=NOW), NOW, 3)
    await work.ask_load(NOW)
    assert query.asked[-1][1]["params"] == ["2030-01-01", True]
    see(work.picture, o.CoordinatorRevoked(person_id="anna", revoked_at=NOW), NOW, 4)
    await work.ask_load(NOW + datetime.timedelta(hours=1))
    assert query.asked[-1][1]["params"] == ["2030-01-01", False]
