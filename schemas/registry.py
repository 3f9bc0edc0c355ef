"""Every event type of every context, by its `<context>.<name>` tag, for readers of the log."""

from __future__ import annotations

import msgspec

from schemas import meals, onboarding, rota

CONTEXTS = (meals, rota, onboarding)

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
