"""The kiosk API's OpenAPI document (`GET /api/v1/openapi.json`), written from the same Structs
the house decodes and answers with, so a client generator, or Schemathesis, knows every body.

Litestar documents the routes as it sees them; a command's body is read as bytes and relayed,
so Litestar cannot know it. Here every command a kiosk or a personal page may send gets a path
of its own, `/api/v1/commands/<context>/<command>`, whose request body is the command's Struct
(without `at`: the house sets the time; `type` may be left out: the path names the command),
and whose answers are the house's replies: 200 `Accepted`, 409 `Refused`, 422 `Invalid`, 503
`Unavailable`, and the kiosk server's own 401, 403 and 429. `/api/v1/board` and `/api/v1/me`
answer their Structs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from litestar import Request
from litestar.openapi.plugins import JsonRenderPlugin

from schemas.common import ID_PATTERN, Accepted, Invalid, Refused, Unavailable
from schemas.registry import COMMAND_TYPES
from services.kiosk.commands import MEMBER_MAY
from services.kiosk.coordinator import Query

REF = "#/components/schemas/{name}"
GENERIC = "/api/v1/commands/{context}/{command}"
ICAL = "/ical/{crew_id}"
SQL_BOX = "/api/v1/coordinator/sql"  # docs/coordinator.md


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """The kiosk server's own no: `unauthorized` (401), `forbidden` (403), `not_found` (404),
    `slow_down` (429)."""

    status: str
    message: str


Answer = tuple[str, type[msgspec.Struct]]  # what it means, and its body
REFUSALS: dict[str, Answer] = {
    "401": ("no token, or one that is not (or no longer) valid", Problem),
    "403": ("not for this token: a command a kiosk may not send, or a page naming another person", Problem),
    "429": ("too many taps, or too many wrong tokens from this address (Retry-After)", Problem),
    "503": ("the house cannot be reached right now; retry with the same key (Retry-After)", Unavailable),
}  # fmt: skip
REPLIES: dict[str, Answer] = {
    "200": ("accepted: carried out, or already true", Accepted),
    "409": ("refused by a rule of the house, with a stable code", Refused),
    "422": ("invalid: every error names its field", Invalid),
    **REFUSALS,
}


def _content(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": REF.format(name=name)}}}


def _responses(answers: dict[str, Answer]) -> dict[str, Any]:
    return {
        status: {"description": meaning, "content": _content(kind.__name__)}
        for status, (meaning, kind) in answers.items()
    }


def _as_sent(schema: dict[str, Any]) -> dict[str, Any]:
    """A command's schema as a kiosk or a page sends it: no `at`, and `type` optional."""
    properties = {k: v for k, v in schema.get("properties", {}).items() if k != "at"}
    required = [k for k in schema.get("required", []) if k not in ("at", "type")]
    return {**schema, "properties": properties, "required": required}


def _command(context: str, command: str, name: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": f"{context}.{command}",
            "description": f"Send `{context}.{command}` as a kiosk, or as the person of a "
            "personal page (docs/contract.md, docs/pages.md).",
            "operationId": f"{context}_{command}",
            "tags": [context],
            "security": [{"kiosk_token": []}, {"page_token": []}],
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": True,
                    "description": "the tap's id: a retry with the same key lands once",
                    "schema": {"type": "string", "pattern": ID_PATTERN},
                }
            ],
            "requestBody": {"required": True, "content": _content(name)},
            "responses": _responses(REPLIES),
        }
    }


def _sql_box() -> dict[str, Any]:
    """The coordinators' SQL box: its body is read as bytes, so Litestar cannot know it."""
    problem = {"content": _content("Problem")}
    return {
        "requestBody": {"required": True, "content": _content("Query")},
        "responses": {
            "200": {
                "description": "the answer as a file: CSV, or Parquet",
                "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    "application/vnd.apache.parquet": {
                        "schema": {"type": "string", "format": "binary"}
                    },
                },
            },
            "400": {"description": "the query service refused the query, or it failed", **problem},
            "422": {"description": "the body is not such an object", **problem},
            "502": {"description": "the query service's answer was not one", **problem},
            **_responses(REFUSALS),
        },
    }


def document(
    generated: dict[str, Any],
    may: dict[str, frozenset[str]] = MEMBER_MAY,
    shown: Sequence[tuple[str, type[msgspec.Struct]]] = (),
) -> dict[str, Any]:
    """Litestar's document with a path per command `may` names, and the Structs `shown` as the
    200 answers of their GET paths (path, Struct)."""
    sent = {
        (context, command): COMMAND_TYPES[f"{context}.{command}"]
        for context in sorted(may)
        for command in sorted(may[context])
    }
    kinds = [*sent.values(), *(kind for _, kind in REPLIES.values()), *(k for _, k in shown)]
    kinds.append(Query)
    _, components = msgspec.json.schema_components(kinds, ref_template=REF)
    for kind in sent.values():
        components[kind.__name__] = _as_sent(components[kind.__name__])
    paths = {path: item for path, item in generated.get("paths", {}).items() if path != GENERIC}
    for (context, command), kind in sent.items():
        paths[f"/api/v1/commands/{context}/{command}"] = _command(context, command, kind.__name__)
    for path, kind in shown:  # Litestar's own answers (400 for a bad query) stay
        paths[path]["get"]["responses"] = {
            **paths[path]["get"]["responses"],
            "200": {"description": "what it shows", "content": _content(kind.__name__)},
            **_responses({k: v for k, v in REFUSALS.items() if k != "429"}),
        }
    if SQL_BOX in paths:
        paths[SQL_BOX]["post"] |= _sql_box()
    if ICAL in paths:
        paths[ICAL]["get"]["responses"] = {
            **paths[ICAL]["get"]["responses"],
            "200": {
                "description": "the feed",
                "content": {"text/calendar": {"schema": {"type": "string"}}},
            },
            "404": {
                "description": "no such calendar, or not this key",
                "content": _content("Problem"),
            },
            **_responses({k: v for k, v in REFUSALS.items() if k in ("429", "503")}),
        }
    known = generated.get("components", {})
    return {
        **generated,
        "paths": paths,
        "components": {**known, "schemas": {**known.get("schemas", {}), **components}},
    }


class Document(JsonRenderPlugin):
    """Serves `document(...)` at `<path>/openapi.json`, where Litestar's own would be."""

    def __init__(self, shown: Sequence[tuple[str, type[msgspec.Struct]]]) -> None:
        super().__init__()
        self.shown = shown
        self._rendered: bytes | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if self._rendered is None:  # the routes do not change while the server runs
            self._rendered = msgspec.json.encode(document(openapi_schema, shown=self.shown))
        return self._rendered
