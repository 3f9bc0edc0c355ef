"""Every subject and header name of the public contract, in one place."""

from __future__ import annotations

STREAM = "CREW_EVENTS"
EVENTS_ALL = "crew.evt.>"
OUTCOMES_BUCKET = "CREW_COMMAND_OUTCOMES"
STATUS = "crew.status"
QUERY_SQL = "crew.query.sql"
NOTICES_OUTBOX = "crew.notices.outbox"  # the notices not sent yet, for `crew notices`
QUERY_RESTRICTED_SQL = "crew.query.restricted_sql"  # contact details and conversation notes
PROJECTOR_REBUILD = "crew.projector.rebuild"
PROJECTOR_SNAPSHOT = "crew.projector.snapshot"
# A rebuild request is answered by at most this many messages: progress, then the result
# (the projector's NATS user may send no more responses than that; house/auth.py).
REBUILD_ANSWERS = 2000
PROGRESS = "Crew-Progress"  # on a rebuild's answers that are progress, not the result

COMMAND_ID = "Crew-Command-Id"
ACTOR = "Crew-Actor"
SOURCE = "Crew-Source"
EVENT_ID = "Crew-Event-Id"
EVENT_TYPE = "Crew-Event-Type"
SCHEMA_VERSION = "Crew-Schema-Version"
OCCURRED_AT = "Crew-Occurred-At"
CORRELATION_ID = "Crew-Correlation-Id"
CAUSATION_ID = "Crew-Causation-Id"


def command_subject(context: str, command: str) -> str:
    return f"crew.cmd.{context}.{command}"


def commands_of(context: str) -> str:
    return f"crew.cmd.{context}.*"


def event_subject(event_type: str, aggregate_id: str) -> str:
    """`meals.volunteered_to_cook` on meal m1 -> `crew.evt.meals.m1.volunteered_to_cook`."""
    context, name = event_type.split(".", 1)
    return f"crew.evt.{context}.{aggregate_id}.{name}"


def aggregate_of(subject: str) -> str:
    """`crew.evt.meals.m1.volunteered_to_cook` -> `m1` ("" for a subject without one)."""
    parts = subject.split(".")
    return parts[3] if len(parts) > 4 else ""


def aggregate_subjects(context: str, aggregate_id: str) -> str:
    return f"crew.evt.{context}.{aggregate_id}.*"
