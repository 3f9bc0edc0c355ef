"""Types every context shares: ids, and the three replies a command can get."""

from __future__ import annotations

import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import msgspec

# The end of the text, said so that Python's `re` (msgspec checks a pattern with re.search) and
# ECMA regex (what JSON Schema readers use) both mean it: `$` lets a final newline through in
# Python ("m1\n" would pass, then fail as a NATS subject), and `\Z` does not exist in ECMA.
END = r"(?![\s\S])"
HOUSE_TIMEZONE = "Europe/Copenhagen"  # house time: where dates and clock times are read


def house_today() -> datetime.date:
    """Today in the house: between 23:00 and midnight UTC it is already tomorrow there."""
    return datetime.datetime.now(ZoneInfo(HOUSE_TIMEZONE)).date()


ID_PATTERN = rf"^[A-Za-z0-9_-]{{1,64}}{END}"

Id = Annotated[
    str,
    msgspec.Meta(
        pattern=ID_PATTERN,
        description="Chosen by the caller; 1-64 of A-Z a-z 0-9 _ -. It becomes a subject token.",
    ),
]
ShortText = Annotated[str, msgspec.Meta(max_length=500)]


def by_name(union: Any) -> dict[str, Any]:
    """A context's commands by their name, the tag without the context (`plan_meal`), from
    the union of their types."""
    return {kind.__struct_config__.tag.split(".", 1)[1]: kind for kind in union.__args__}


def personal(owner: str, description: str = "") -> msgspec.Meta:
    """Marks an event field as personal data, owned by the person whose id is in the field
    `owner`: `Annotated[str, personal("crew_id")]`.

    The shell encrypts it with that person's key before it reaches the log, and forgetting the
    person destroys the key. Readers see `sealed:v1:...` until they unseal it with the key, so
    limits on length belong on the command, which carries the plain value."""
    return msgspec.Meta(
        description=description or f"personal data of `{owner}`; encrypted in the log",
        extra={"personal": owner},
    )


class EventRef(msgspec.Struct, frozen=True, kw_only=True):
    """An event a command appended: its stream sequence and its type."""

    seq: int
    type: str


class Accepted(msgspec.Struct, frozen=True, kw_only=True, tag_field="status", tag="accepted"):
    """The command was carried out. `events` is empty when it was already true."""

    events: list[EventRef] = []


class Refused(msgspec.Struct, frozen=True, kw_only=True, tag_field="status", tag="refused"):
    """A rule of the house said no. `code` is stable and machine-readable."""

    code: str
    message: str


class FieldError(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    message: str


class Invalid(msgspec.Struct, frozen=True, kw_only=True, tag_field="status", tag="invalid"):
    """The input was malformed; every error names the field (`$.crew_id`) or header."""

    errors: list[FieldError]


class Unavailable(msgspec.Struct, frozen=True, kw_only=True, tag_field="status", tag="unavailable"):
    """The event store did not answer. Nothing was decided; retry with the same command id."""

    message: str


Reply = Accepted | Refused | Invalid | Unavailable

reply_decoder = msgspec.json.Decoder(Reply)


class StatusReply(msgspec.Struct, frozen=True):
    """One component's answer on `crew.status`: alive, and whether anything troubles it."""

    component: str
    pid: int
    ok: bool = True
    problem: str | None = None
