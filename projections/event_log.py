"""`event_log`: every event with its metadata, for audit and as-of questions."""

from __future__ import annotations

import datetime

import msgspec

from projections.view import AppendView, Fact

DDL = """
create table if not exists event_log (
    seq            bigint primary key,  -- position in the stream CREW_EVENTS
    subject        varchar not null,     -- crew.evt.<context>.<aggregate_id>.<name>
    type           varchar not null,     -- <context>.<name>
    event_id       varchar,
    occurred_at    timestamptz,          -- when the service decided it
    recorded_at    timestamptz,          -- when JetStream stored it
    actor          varchar,              -- crew id or coordinator:<name>
    correlation_id varchar,
    causation_id   varchar,              -- the command id that caused it
    source         varchar,              -- kiosk id, service name or cli
    schema_version varchar,
    payload        json                  -- NULL for an event in dead_letters
);
"""


class EventLogRow(msgspec.Struct):
    seq: int
    subject: str
    type: str
    event_id: str | None
    occurred_at: str | None  # the header's text: DuckDB reads it as a timestamp
    recorded_at: datetime.datetime | None
    actor: str | None
    correlation_id: str | None
    causation_id: str | None
    source: str | None
    schema_version: str | None
    payload: str | None  # the event's JSON, as it was recorded


def rows(fact: Fact) -> list[EventLogRow]:
    h = fact.headers
    return [
        EventLogRow(
            fact.seq,
            fact.subject,
            fact.type,
            h.get("Crew-Event-Id"),
            h.get("Crew-Occurred-At"),
            fact.recorded_at,
            h.get("Crew-Actor"),
            h.get("Crew-Correlation-Id"),
            h.get("Crew-Causation-Id"),
            h.get("Crew-Source"),
            h.get("Crew-Schema-Version"),
            None if fact.event is None else fact.data.decode("utf-8", "replace"),
        )
    ]


EVENT_LOG = AppendView(name="event_log", ddl=DDL, table="event_log", rows=rows)
