"""Every event type of every context, by its `<context>.<name>` tag, for readers of the log,
and the one way to decode an event from it."""

from __future__ import annotations

import msgspec

from schemas import activities, meals, notices, onboarding, rota
from schemas.upcast import is_current, upcast

CONTEXTS = (meals, rota, onboarding, notices, activities)

EVENT_TYPES: dict[str, type[msgspec.Struct]] = {
    kind.__struct_config__.tag: kind  # type: ignore[misc]
    for context in CONTEXTS
    for kind in context.EVENTS
}
COMMAND_TYPES: dict[str, type[msgspec.Struct]] = {
    f"{context.CONTEXT}.{name}": kind
    for context in CONTEXTS
    for name, kind in context.COMMANDS.items()
}
DECODERS = {tag: msgspec.json.Decoder(kind) for tag, kind in EVENT_TYPES.items()}


def decode_event(event_type: str, version: str | None, data: bytes) -> msgspec.Struct:
    """The event in today's shape, from its payload and its `Crew-Event-Type` and
    `Crew-Schema-Version` headers (None: no header): an older payload is upcast first.
    Raises msgspec.ValidationError for an unknown type or a payload that is not this event,
    msgspec.DecodeError for one that is not JSON."""
    decoder = DECODERS.get(event_type)
    if decoder is None:
        raise msgspec.ValidationError(f"unknown event type {event_type!r}")
    if is_current(event_type, version):
        event: msgspec.Struct = decoder.decode(data)
        return event
    raw = msgspec.json.decode(data)
    if not isinstance(raw, dict):
        return decoder.decode(data)  # fails, naming what it expected
    return decoder.decode(msgspec.json.encode(upcast(event_type, version, raw)))
