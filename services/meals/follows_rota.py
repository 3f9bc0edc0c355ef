"""Meal days come from the rota's series: this reactor turns the rota's facts about meal-day
occurrences into meals commands (plan, reschedule after a move or a series change, cancel,
plan again under a new meal id when a series change brings a cancelled day back, and
confirmed cooking claims).

It follows the log with the shared loop of crew/follow.py, one event at a time in order, and
moves its position past an event only once the meals service has answered it. Each command id
is made from the event's stream sequence, so handling an event again after a crash changes
nothing twice.

A confirmed cooking claim that meals turns down (the head-cook place is taken, the meal was
cancelled) is handed back to the rota as `rota.release_claim` with the refusal code, so the
log says what became of it."""

from __future__ import annotations

from typing import Any

import msgspec
import nats.errors
import structlog
from nats.aio.client import Client as NATS

from crew import subjects
from crew.eventstore import Recorded
from crew.follow import Follower, command_meta, follow_in_order, retry_later
from crew.shell import CommandMeta, CommandShell
from schemas import meals as m
from schemas import rota as r
from schemas.common import Refused, Unavailable, reply_decoder
from schemas.registry import decode_event

log = structlog.get_logger("crew.meals.follows_rota")

CONSUMER = "meals-follows-rota"
FOLLOWED = (
    r.OccurrenceScheduled,
    r.OccurrenceChanged,
    r.OccurrenceMoved,
    r.OccurrenceCancelled,
    r.OccurrenceRestored,
    r.ClaimConfirmed,
)
ROTA_TIMEOUT_S = 10.0
HAND_BACK_TRIES = 3


def meals_command(event: Any) -> m.MealCommand | None:
    """The meals command a rota event asks for, or None when it is not about a meal day."""
    if event.kind != "meal":
        return None
    # A meal day a series change brought back has a new meal (meals cannot plan a cancelled
    # meal again): its events name it; the others' meal id is the occurrence id.
    meal_id = getattr(event, "meal_id", msgspec.UNSET) or event.occurrence_id
    match event:
        case r.OccurrenceScheduled() | r.OccurrenceRestored():
            return m.PlanMeal(
                meal_id=meal_id,
                date=event.date,
                time=event.start,
                helper_slots=event.helper_slots,
                seats=event.seats,
                ends_at=event.end,
            )
        case r.OccurrenceMoved() | r.OccurrenceChanged() if event.date is not None:
            return m.RescheduleMeal(meal_id=meal_id, date=event.date, time=event.start)
        case r.OccurrenceCancelled():
            return m.CancelMeal(meal_id=meal_id, reason=event.reason)
        case r.ClaimConfirmed():
            role: m.Role = "head_cook" if event.task == "head_cook" else "helper"
            return m.VolunteerToCook(meal_id=meal_id, crew_id=event.crew_id, role=role)
    return None


async def follow_rota(nc: NATS, shell: CommandShell[Any]) -> None:
    names = [kind.__struct_config__.tag.split(".", 1)[1] for kind in FOLLOWED]  # type: ignore[union-attr]
    follower = Follower(
        CONSUMER,
        "meals: plan, move, change and cancel the rota's meal days; cooking claims",
        [subjects.event_subject(f"rota.{name}", "*") for name in names],
    )
    await follow_in_order(nc, follower, lambda event, attempt: _react(event, attempt, shell, nc))


async def _react(recorded: Recorded, attempt: int, shell: CommandShell[Any], nc: NATS) -> bool:
    """True once the event is handled (or can never be); False to try it again later."""
    version = recorded.headers.get(subjects.SCHEMA_VERSION)
    try:
        event: Any = decode_event(recorded.type, version, recorded.data)
    except (msgspec.MsgspecError, RecursionError):  # too deep is unreadable, not a crash
        log.warning("unreadable_rota_event", subject=recorded.subject)
        return True
    wanted = meals_command(event) if isinstance(event, FOLLOWED) else None
    if wanted is None:
        return True
    meta = command_meta(recorded, f"rota-{recorded.seq}", CONSUMER, "rota")
    match await shell.execute(wanted, meta):
        case Unavailable():
            return retry_later(recorded, attempt, "meals_unavailable_retrying")
        case Refused() as refused if isinstance(event, r.ClaimConfirmed):
            if await _hand_back(nc, event, refused, meta, recorded):
                return True
            if attempt < HAND_BACK_TRIES:
                return retry_later(recorded, attempt, "rota_unavailable_retrying")
            # Meal days must not wait on the rota for long: the log line above is the trace.
            log.warning("cooking_claim_not_released", seq=recorded.seq)
    return True


async def _hand_back(
    nc: NATS, event: r.ClaimConfirmed, refused: Refused, meta: CommandMeta, recorded: Recorded
) -> bool:
    """Release in the rota a confirmed cooking claim that meals turned down. Logs ids and the
    code only (never who). False when the rota did not answer: the event is retried, and the
    meals command, with the same id, answers as before."""
    seq = recorded.seq
    log.info("cooking_claim_refused", seq=seq, meal_id=event.occurrence_id, code=refused.code)
    release = r.ReleaseClaim(
        occurrence_id=event.occurrence_id, crew_id=event.crew_id, code=refused.code
    )
    try:
        reply = await nc.request(
            subjects.command_subject("rota", "release_claim"),
            msgspec.json.encode(release),
            timeout=ROTA_TIMEOUT_S,
            headers=msgspec.structs.replace(meta, command_id=f"rota-{seq}-release").headers(),
        )
        answer = reply_decoder.decode(reply.data)
    except (nats.errors.TimeoutError, nats.errors.NoRespondersError, msgspec.DecodeError):
        return False
    return not isinstance(answer, Unavailable)
