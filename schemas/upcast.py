"""Older events in today's shape. An upcaster, keyed by event type and `Crew-Schema-Version`,
turns a payload of that version (plain JSON data, before the typed decode) into the next
version's. They run once, where events are decoded (`schemas.registry.decode`, and `upcast`
for `crew export`, which keeps the payload as data), so `evolve` and the folds only ever see
today's shape.

A type's version goes up by one upcaster from the version before: its version is one more
than the number of its upcasters, and new events are written with it. An event without the
header is version 1. The log is never rewritten."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]

FIRST = "1"
# How a series change's cancellations began their reason before `by_series_change` said so.
SERIES_CHANGED = "the series changed from"


def _with(raw: Payload, field: str, value: Any) -> Payload:
    return raw if field in raw else {**raw, field: value}


def _cancelled_by_whom(raw: Payload) -> Payload:
    """rota.occurrence_cancelled 1 -> 2: `by_series_change` is always there. Before it existed,
    a series change said so in its reason ("the series changed from <date>")."""
    reason = raw.get("reason")
    by_change = isinstance(reason, str) and reason.startswith(SERIES_CHANGED)
    return _with(raw, "by_series_change", by_change)


def _task_named(raw: Payload) -> Payload:
    """rota.sign_up_affected 1 -> 2: `task` is always there, null for none. Version 1 left it
    out for none, and so did every event written before `task` existed: a `moved` of theirs
    joins the new date without a task, as the views always showed it."""
    return _with(raw, "task", None)


UPCASTERS: Mapping[tuple[str, str], Upcaster] = {
    ("rota.occurrence_cancelled", "1"): _cancelled_by_whom,
    ("rota.sign_up_affected", "1"): _task_named,
}


def version_of(event_type: str) -> str:
    """The `Crew-Schema-Version` new events of this type are written with."""
    return str(1 + sum(1 for kind, _ in UPCASTERS if kind == event_type))


def is_current(event_type: str, version: str | None) -> bool:
    """True when a payload of this version needs no upcaster (a newer one is read as it is)."""
    return (event_type, version or FIRST) not in UPCASTERS


def upcast(event_type: str, version: str | None, payload: Payload) -> Payload:
    """`payload`, written as `version` of `event_type` (None: no header), in today's shape."""
    at = version or FIRST
    while (step := UPCASTERS.get((event_type, at))) is not None:
        payload = step(payload)
        at = str(int(at) + 1)
    return payload
