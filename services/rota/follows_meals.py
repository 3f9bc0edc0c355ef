"""The rota follows `meals.withdrew`: when a cook whose cooking claim the rota confirmed steps
back in meals, the rota frees that place (`rota.release_claim` with code `withdrew`), so
standing intentions and confirmations can have it again.

It follows the log one event at a time in order (the shared loop of crew/follow.py), and moves
its position past an event once the rota has answered. The command id is made from the event's
stream sequence, so handling an event again after a crash changes nothing twice. A
withdrawal from a meal that is not a rota meal day, or by someone the rota has no confirmed
place for (they volunteered in meals directly), is refused by the rota and left at that.

Only ids, the role and the sequence are read: the reason a person gave is never decoded."""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec
import structlog
from nats.aio.client import Client as NATS

from crew import subjects
from crew.eventstore import Recorded
from crew.follow import Follower, command_meta, follow_in_order, retry_later
from crew.shell import CommandShell
from schemas.common import Unavailable
from schemas.rota import ReleaseClaim
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


def release_command(event: Withdrew) -> ReleaseClaim | None:
    """The rota command a withdrawal asks for, or None (a waitlist place is no cooking place,
    and a meal id that is not an occurrence id is no rota meal day)."""
    day = MEAL_DAY.fullmatch(event.meal_id)  # `$` alone would let a final newline through
    if event.role == "waitlist" or day is None:
        return None
    return ReleaseClaim(occurrence_id=day["occurrence"], crew_id=event.crew_id, code=WITHDREW)


async def follow_meals(nc: NATS, shell: CommandShell[Any]) -> None:
    follower = Follower(
        CONSUMER,
        "rota: free the cooking places of cooks who withdrew in meals",
        [subjects.event_subject("meals.withdrew", "*")],
    )
    await follow_in_order(nc, follower, lambda event, attempt: _react(event, attempt, shell))


async def _react(recorded: Recorded, attempt: int, shell: CommandShell[Any]) -> bool:
    """True once the event is handled (or can never be); False to try it again later."""
    try:
        command = release_command(decoder.decode(recorded.data))
    except (msgspec.MsgspecError, RecursionError):  # too deep is unreadable, not a crash
        log.warning("unreadable_meals_event", subject=recorded.subject)
        return True
    if command is None:
        return True
    meta = command_meta(recorded, f"meals-withdrew-{recorded.seq}", CONSUMER, "meals")
    if isinstance(await shell.execute(command, meta), Unavailable):
        return retry_later(recorded, attempt, "rota_unavailable_retrying")
    return True
