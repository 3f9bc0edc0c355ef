"""`notices`: one row per notice the house recorded: what it was about, for whom, when it was
due, and whether and when it went out. `notice_choices`: one row per person who chose
something about their notices: their topics, and whether an address is set. No address and no
text: those never reach the views."""

from __future__ import annotations

import datetime

import msgspec
from msgspec.structs import replace

from projections.view import Fact, KeyedFold
from schemas import notices as n

DDL = """
create table if not exists notices_rows (
    notice_id     varchar primary key,
    crew_id       varchar,
    topic         varchar,
    rule          varchar,
    about         varchar,
    status        varchar,
    recorded_at   timestamptz,
    send_after    timestamptz,
    sent_at       timestamptz,
    cancelled_why varchar,
    last_seq      bigint
);
create or replace view notices as
select notice_id, crew_id, topic, rule, about, status, recorded_at, send_after, sent_at,
       cancelled_why, last_seq
from notices_rows;
"""


class NoticeRow(msgspec.Struct):
    notice_id: str
    crew_id: str = ""
    topic: str = ""
    rule: str = ""
    about: str = ""
    status: str = "recorded"
    recorded_at: str | datetime.datetime | None = None
    send_after: datetime.datetime | None = None
    sent_at: datetime.datetime | None = None
    cancelled_why: str | None = None
    last_seq: int = 0


def fold(row: NoticeRow | None, fact: Fact, notice_id: str) -> NoticeRow:
    row = row or NoticeRow(notice_id=notice_id)
    match fact.event:
        case n.NoticeRecorded(crew_id=crew_id, topic=topic, rule=rule, about=about) as recorded:
            row = replace(
                row,
                crew_id=crew_id,
                topic=topic,
                rule=rule,
                about=about,
                recorded_at=fact.occurred_at,
                send_after=recorded.send_after,
            )
        case n.NoticeSent(sent_at=sent_at):
            row = replace(row, status="sent", sent_at=sent_at)
        case n.NoticesCancelled(why=why):
            row = replace(row, status="cancelled", cancelled_why=why)
        case n.NoticeGivenUp():
            row = replace(row, status="given_up")
    return replace(row, last_seq=fact.seq)


def notices_of(event: object) -> list[str]:
    match event:
        case (
            n.NoticeRecorded(notice_id=notice_id)
            | n.NoticeSent(notice_id=notice_id)
            | n.NoticeGivenUp(notice_id=notice_id)
        ):
            return [notice_id]
        case n.NoticesCancelled(notice_ids=ids):
            return list(ids)
    return []


NOTICES = KeyedFold(
    name="notices",
    ddl=DDL,
    table="notices_rows",
    key="notice_id",
    row_type=NoticeRow,
    keys_of=notices_of,
    fold=fold,
    reads=("notices",),
)


CHOICES_DDL = """
create table if not exists notice_choices_rows (
    crew_id     varchar primary key,
    topics      varchar[],
    has_address boolean,
    stopped     boolean,
    updated_at  timestamptz,
    last_seq    bigint
);
create or replace view notice_choices as
select crew_id, topics, has_address, stopped, updated_at, last_seq
from notice_choices_rows;
"""


class ChoicesRow(msgspec.Struct):
    crew_id: str
    topics: list[str] = []
    has_address: bool = False
    stopped: bool = False
    updated_at: str | datetime.datetime | None = None
    last_seq: int = 0


def fold_choices(row: ChoicesRow | None, fact: Fact, crew_id: str) -> ChoicesRow:
    row = row or ChoicesRow(crew_id=crew_id)
    match fact.event:
        case n.AddressSet():
            row = replace(row, has_address=True)
        case n.Subscribed(topic=topic) if topic not in row.topics:
            row = replace(row, topics=sorted([*row.topics, topic]))
        case n.Unsubscribed(topic=topic):
            row = replace(row, topics=[t for t in row.topics if t != topic])
        case n.NoticesStopped():  # forgotten: the address is unreadable, nothing goes out
            row = replace(row, topics=[], has_address=False, stopped=True)
        case _:
            return row
    return replace(row, updated_at=fact.occurred_at, last_seq=fact.seq)


def choosers_of(event: object) -> list[str]:
    match event:
        case n.AddressSet() | n.Subscribed() | n.Unsubscribed() | n.NoticesStopped():
            return [event.crew_id]
    return []


NOTICE_CHOICES = KeyedFold(
    name="notice_choices",
    ddl=CHOICES_DDL,
    table="notice_choices_rows",
    key="crew_id",
    row_type=ChoicesRow,
    keys_of=choosers_of,
    fold=fold_choices,
    reads=("notices",),
)
