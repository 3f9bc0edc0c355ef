"""The rota follows `meals.withdrew`: when a cook whose cooking claim the rota confirmed steps
back in meals, the rota frees that place (`rota.release_claim` with code `withdrew`), so
standing intentions and confirmations can have it again.

It reads a durable JetStream consumer, one event at a time in order (the shared reactor loop of
services/meals/follows_rota.py), and acknowledges an event once the rota has answered. The
command id is made from the event's stream sequence, so a redelivery changes nothing twice. A
withdrawal from a meal that is not a rota meal day, or by someone the rota has no confirmed
place for (they volunteered in meals directly), is refused by the rota and left at that.

Only ids, the role and the sequence are read: the reason a person gave is never decoded."""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from crew import subjects
from crew.follow import command_headers, follow_in_order, in_order, retry_later, unavailable
from crew.shell import CommandShell
from services.rota.decider import WITHDREW

log = structlog.get_logger("crew.rota.follows_meals")

CONSUMER = "rota-follows-meals"
# A rota meal day's meal id: the occurrence id (schemas.rota.OccurrenceId), with `-r<n>` when a
# series change brought the day back (schemas.rota._MealDayEvent).
MEAL_DAY = re.compile(r"^(?P<occurrence>[A-Za-z0-9_-]{1,55}-[0-9]{8})(?:-r[0-9]+)?$")


class Withdrew(msgspec.Struct, frozen=True):
    """The part of `meals.withdrew` the rota needs (no reason: that is personal)."""

    meal_id: str
    crew_id: str
    role: Literal["head_cook", "helper", "waitlist"]


decoder = msgspec.json.Decoder(Withdrew)


def release_command(event: Withdrew) -> dict[str, str] | None:
    """The rota command a withdrawal asks for, or None (a waitlist place is no cooking place,
    and a meal id that is not an occurrence id is no rota meal day)."""
    day = MEAL_DAY.fullmatch(event.meal_id)  # `$` alone would let a final newline through
    if event.role == "waitlist" or day is None:
        return None
    return {"occurrence_id": day["occurrence"], "crew_id": event.crew_id, "code": WITHDREW}


async def follow_meals(nc: NATS, shell: CommandShell[Any]) -> None:
    config = in_order(
        CONSUMER,
        "rota: free the cooking places of cooks who withdrew in meals",
        [subjects.event_subject("meals.withdrew", "*")],
    )
    await follow_in_order(nc, config, lambda msg: _react(msg, shell))


async def _react(msg: Msg, shell: CommandShell[Any]) -> None:
    try:
        body = release_command(decoder.decode(msg.data))
    except (msgspec.MsgspecError, RecursionError):  # too deep is unreadable, not a crash
        log.warning("unreadable_meals_event", subject=msg.subject)
        await msg.term()
        return
    if body is None:
        await msg.ack()
        return
    headers = command_headers(
        msg, f"meals-withdrew-{msg.metadata.sequence.stream}", CONSUMER, "meals"
    )
    reply = await shell.handle(
        subjects.command_subject("rota", "release_claim"), headers, msgspec.json.encode(body)
    )
    if unavailable(reply):
        await retry_later(msg, "rota_unavailable_retrying")
        return
    await msg.ack()
