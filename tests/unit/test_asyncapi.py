"""The AsyncAPI document other teams build on: every subject, its parameters and its reply."""

from __future__ import annotations

import re
from typing import Any

from crew import subjects
from house.contract import asyncapi
from schemas.registry import COMMAND_TYPES, EVENT_TYPES


def resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [node["$ref"]] if "$ref" in node else [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_every_command_and_event_subject_is_a_channel_with_its_parameters() -> None:
    doc = asyncapi()
    assert doc["asyncapi"].startswith("3.")
    addresses = {c["address"]: c for c in doc["channels"].values() if c["address"]}
    expected = [subjects.command_subject(*name.split(".", 1)) for name in COMMAND_TYPES] + [
        subjects.event_subject(tag, "{aggregate_id}") for tag in EVENT_TYPES
    ]
    assert sorted(addresses) == sorted(expected)
    for address, channel in addresses.items():
        assert set(re.findall(r"{(\w+)}", address)) == set(channel.get("parameters", {})), address


def test_every_command_declares_its_reply_and_every_reference_resolves() -> None:
    doc = asyncapi()
    for name in COMMAND_TYPES:
        reply = doc["operations"][name]["reply"]
        message = resolve(doc, resolve(doc, reply["messages"][0]["$ref"])["$ref"])
        assert message["name"] == "Reply" and message["payload"], name
    for ref in refs(doc):
        assert resolve(doc, ref) is not None, ref
