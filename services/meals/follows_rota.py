"""Meal days come from the rota's series: this reactor turns the rota's facts about meal-day
occurrences into meals commands (plan, reschedule, cancel, and confirmed cooking claims).

It reads a durable JetStream consumer, one event at a time in order, and acknowledges an event
only once the meals service has answered it. Each command id is made from the event's stream
sequence, so a redelivery after a crash changes nothing twice."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import msgspec
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from crew import subjects
from crew.shell import CommandShell
from schemas import rota as r

log = structlog.get_logger("crew.meals.follows_rota")

CONSUMER = "meals-follows-rota"
FOLLOWED = (r.OccurrenceScheduled, r.OccurrenceMoved, r.OccurrenceCancelled, r.ClaimConfirmed)
decoder = msgspec.json.Decoder(
    r.OccurrenceScheduled | r.OccurrenceMoved | r.OccurrenceCancelled | r.ClaimConfirmed
)


def meals_command(event: Any) -> tuple[str, dict[str, Any]] | None:
    """The meals command a rota event asks for, or None when it is not about a meal day."""
    if event.kind != "meal":
        return None
    match event:
        case r.OccurrenceScheduled():
            return "plan_meal", {
                "meal_id": event.occurrence_id,
                "date": event.date,
                "time": event.start,
                "helper_slots": event.helper_slots,
                "seats": event.seats,
            }
        case r.OccurrenceMoved():
            return "reschedule_meal", {
                "meal_id": event.occurrence_id,
                "date": event.date,
                "time": event.start,
            }
        case r.OccurrenceCancelled():
            return "cancel_meal", {"meal_id": event.occurrence_id, "reason": event.reason}
        case r.ClaimConfirmed():
            role = event.task if event.task in ("head_cook", "helper") else "helper"
            return "volunteer_to_cook", {
                "meal_id": event.occurrence_id,
                "crew_id": event.crew_id,
                "role": role,
            }
    return None


async def follow_rota(nc: NATS, shell: CommandShell[Any]) -> None:
    js = nc.jetstream()
    names = [kind.__struct_config__.tag.split(".", 1)[1] for kind in FOLLOWED]  # type: ignore[union-attr]
    config = ConsumerConfig(
        durable_name=CONSUMER,
        description="meals: plan, move and cancel meals for the rota's meal days",
        filter_subjects=[f"crew.evt.rota.*.{name}" for name in names],
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        max_ack_pending=1,  # one at a time, in order: a meal is planned before it is moved
        ack_wait=120,  # longer than the shell's worst case (10 conflicts with 5 s reads)
        max_deliver=50,  # a lasting failure is dropped (the server logs an advisory); the rest go on
    )
    with contextlib.suppress(nats.js.errors.BadRequestError):  # it exists: resume where it was
        await js.add_consumer(subjects.STREAM, config)
    sub = await js.pull_subscribe_bind(durable=CONSUMER, stream=subjects.STREAM)
    while True:
        try:
            messages = await sub.fetch(1, timeout=5)
        except nats.errors.TimeoutError:
            continue
        for msg in messages:
            await _react(msg, shell)


async def _react(msg: Msg, shell: CommandShell[Any]) -> None:
    try:
        event = decoder.decode(msg.data)
    except msgspec.MsgspecError:
        log.warning("unreadable_rota_event", subject=msg.subject)
        await msg.term()
        return
    wanted = meals_command(event)
    if wanted is None:
        await msg.ack()
        return
    name, body = wanted
    headers = msg.headers or {}
    command_headers = {
        subjects.COMMAND_ID: f"rota-{msg.metadata.sequence.stream}",
        subjects.ACTOR: headers.get(subjects.ACTOR, "rota"),
        subjects.SOURCE: "meals-follows-rota",
        subjects.CORRELATION_ID: headers.get(subjects.CORRELATION_ID, ""),
    }
    reply = await shell.handle(f"crew.cmd.meals.{name}", command_headers, msgspec.json.encode(body))
    if b'"unavailable"' in reply[:40]:
        log.warning(
            "meals_unavailable_retrying",
            seq=msg.metadata.sequence.stream,
            delivered=msg.metadata.num_delivered,
        )
        await msg.nak(delay=2)
        await asyncio.sleep(1)
        return
    await msg.ack()
