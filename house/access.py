"""The rights of a person over their data: access (`crew export`) and erasure (`crew forget`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from nats.aio.client import Client as NATS

from crew import subjects
from crew.personal import SEALED, JetStreamVault, unseal_payload
from house import client
from projections import queries
from projections.queries import PERSON_FIELDS  # the fields of an event that name a person
from schemas.common import ID_PATTERN
from schemas.upcast import upcast

OTHERS = "<someone else's personal data>"


def mentions(payload: dict[str, Any], subject: str, person: str) -> bool:
    return subjects.aggregate_of(subject) == person or any(
        payload.get(f) == person for f in PERSON_FIELDS
    )


def _hide_others(node: Any) -> Any:
    if isinstance(node, str) and node.startswith(SEALED):
        return OTHERS
    if isinstance(node, list):
        return [_hide_others(v) for v in node]
    if isinstance(node, dict):
        return {k: _hide_others(v) for k, v in node.items()}
    return node


async def export(
    nc: NATS, person: str, progress: Callable[[int], None] = lambda events_read: None
) -> dict[str, Any]:
    """Everything the house holds about `person`, readable: their personal data (while their
    key exists), every event that names them, their participation and contributions."""
    if not re.fullmatch(ID_PATTERN, person):
        raise ValueError(f"{person!r} is not a crew id (1-64 of A-Z a-z 0-9 _ -)")
    key = await JetStreamVault(nc).key(person)
    events: list[dict[str, Any]] = []
    personal: dict[str, Any] = {}
    seen = 0
    async for record in client.events(nc):
        seen += 1
        if seen % 10_000 == 0:
            progress(seen)
        try:
            raw = msgspec.json.decode(record.data)
        except msgspec.DecodeError:  # not JSON: the projector parked it too; say so if theirs
            if subjects.aggregate_of(record.subject) == person:
                events.append({"seq": record.seq, "type": record.type, "unreadable": True})
            continue
        if not isinstance(raw, dict) or not mentions(raw, record.subject, person):
            continue
        opened = msgspec.json.decode(unseal_payload(record.data, {person: key}))
        version = record.headers.get(subjects.SCHEMA_VERSION)
        payload = _hide_others(upcast(record.type, version, opened))  # in today's shape
        if record.type in ("onboarding.newcomer_arrived", "onboarding.crew_member_registered"):
            personal.update(
                {k: v for k, v in payload.items() if k not in ("type", "person_id") and v}
            )
        if record.type == "onboarding.conversation_held" and payload.get("notes"):
            personal.setdefault("conversation_notes", []).append(
                {
                    "host_crew_id": payload["host_crew_id"],
                    "held_at": payload["held_at"],
                    "notes": payload["notes"],
                }
            )
        h = record.headers
        events.append(
            {
                "seq": record.seq,
                "type": record.type,
                "occurred_at": h.get(subjects.OCCURRED_AT),
                "actor": h.get(subjects.ACTOR),
                "source": h.get(subjects.SOURCE),
                "payload": payload,
            }
        )
    return {
        "person_id": person,
        "exported_at": datetime.now(UTC).isoformat(),
        "personal_data": personal
        if key
        else "forgotten: their key is destroyed, nothing personal is readable",
        "contributions": await client.rows_of(nc, queries.PERSON_CONTRIBUTIONS, person),
        "participation": await client.rows_of(nc, queries.PERSON_PARTICIPATION, person),
        "events": events,
    }
