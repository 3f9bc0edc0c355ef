"""`crew schemas`: the wire contract as JSON Schema (one file per command and event) and as an
AsyncAPI document that FastStream generates from every command and event subject."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI

from crew import subjects
from schemas.common import Reply
from schemas.registry import COMMAND_TYPES, EVENT_TYPES
from schemas.upcast import version_of

EVENT_HEADERS = (
    "Crew-Event-Id, Crew-Event-Type, Crew-Schema-Version, Crew-Occurred-At, Crew-Actor, "
    "Crew-Correlation-Id, Crew-Causation-Id, Crew-Source, Nats-Msg-Id"
)


def json_schema(kind: Any, *, tag_required: bool) -> dict[str, Any]:
    schema: dict[str, Any] = msgspec.json.schema(kind)
    if not tag_required:  # a command body may leave out `type`: the subject names it
        for component in schema.get("$defs", {}).values():
            if "type" in component.get("required", []):
                component["required"] = [f for f in component["required"] if f != "type"]
    return schema


def asyncapi() -> dict[str, Any]:
    broker = NatsBroker("nats://127.0.0.1:4222", logger=None)

    async def handler() -> None: ...

    for name, kind in COMMAND_TYPES.items():
        context, command = name.split(".", 1)
        broker.subscriber(
            subjects.command_subject(context, command),
            queue=context,
            title=name,
            description=(
                f"{(kind.__doc__ or '').strip()} Request/reply; headers Crew-Command-Id "
                "(required idempotency key), Crew-Actor, Crew-Source. Reply: accepted, refused, "
                "invalid or unavailable (see the Reply schema)."
            ),
        )(handler)
    for tag, kind in EVENT_TYPES.items():
        broker.publisher(
            subjects.event_subject(tag, "{aggregate_id}"),
            title=tag,
            description=f"{(kind.__doc__ or tag).strip()} Stream {subjects.STREAM}; headers "
            f"{EVENT_HEADERS}. This shape is Crew-Schema-Version {version_of(tag)}.",
        )
    doc: dict[str, Any] = json.loads(
        AsyncAPI(broker, title="crew", version="1", description="The crew house on NATS.")
        .to_specification()
        .to_json()
    )
    # FastStream derives payloads from handler annotations; ours are msgspec Structs: put them in.
    messages = doc.setdefault("components", {}).setdefault("messages", {})
    schemas = doc["components"].setdefault("schemas", {})
    for key, message in messages.items():
        title = key.split(":")[0]
        kind, tag_required = (
            (COMMAND_TYPES[title], False) if title in COMMAND_TYPES else (EVENT_TYPES[title], True)
        )
        payload = _rebase(json_schema(kind, tag_required=tag_required))
        schemas.update(payload.pop("$defs", {}))
        message["payload"] = payload
    _declare_replies_and_parameters(doc)
    return doc


def _declare_replies_and_parameters(doc: dict[str, Any]) -> None:
    """What FastStream leaves out: the `{aggregate_id}` parameter of every event channel, and
    the reply of every command (sent to the requester's inbox, a dynamic channel)."""
    reply = _rebase(json_schema(Reply, tag_required=True))
    doc["components"]["schemas"].update(reply.pop("$defs", {}))
    doc["components"]["messages"]["Reply"] = {
        "name": "Reply",
        "title": "accepted, refused, invalid or unavailable",
        "payload": reply,
    }
    doc["channels"]["reply"] = {
        "address": None,  # the requester's own inbox (the NATS reply subject)
        "description": "The answer to a command, on the requester's inbox.",
        "messages": {"Reply": {"$ref": "#/components/messages/Reply"}},
    }
    for name, channel in doc["channels"].items():
        if name in EVENT_TYPES:
            channel["parameters"] = {
                "aggregate_id": {
                    "description": "the meal, occurrence, series or person the event is about"
                }
            }
    for name, operation in doc["operations"].items():
        if name in COMMAND_TYPES:
            operation["reply"] = {
                "channel": {"$ref": "#/channels/reply"},
                "messages": [{"$ref": "#/channels/reply/messages/Reply"}],
            }


def _rebase(schema: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(schema).replace('"#/$defs/', '"#/components/schemas/')
    result: dict[str, Any] = json.loads(text)
    return result


def write_schemas(out: Path) -> list[Path]:
    written = []
    (out / "commands").mkdir(parents=True, exist_ok=True)
    (out / "events").mkdir(parents=True, exist_ok=True)
    for name, kind in sorted(COMMAND_TYPES.items()):
        written.append(
            _write(out / "commands" / f"{name}.json", json_schema(kind, tag_required=False))
        )
    for tag, kind in sorted(EVENT_TYPES.items()):
        written.append(_write(out / "events" / f"{tag}.json", json_schema(kind, tag_required=True)))
    written.append(_write(out / "reply.json", msgspec.json.schema(Reply)))
    written.append(_write(out / "asyncapi.json", asyncapi()))
    return written


def _write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    return path
