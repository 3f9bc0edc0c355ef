"""Following another context's events: a durable consumer that hands over one event at a
time, in stream order, to a reactor that acks, naks or terms it. Shared by the services that
react to each other (meals follows the rota's meal days; the rota follows meals withdrawals)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from crew import subjects

log = structlog.get_logger("crew.follow")


def in_order(durable: str, description: str, filter_subjects: list[str]) -> ConsumerConfig:
    """A durable consumer that hands over one event at a time, in stream order."""
    return ConsumerConfig(
        durable_name=durable,
        description=description,
        filter_subjects=filter_subjects,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        max_ack_pending=1,  # one at a time, in order: a meal is planned before it is moved
        ack_wait=120,  # longer than the shell's worst case (10 conflicts with 5 s reads)
        max_deliver=50,  # a lasting failure is dropped (the server logs an advisory); the rest go on
    )


async def follow_in_order(
    nc: NATS, config: ConsumerConfig, react: Callable[[Msg], Awaitable[None]]
) -> None:
    """Create (or, with a changed filter, update) the durable consumer and hand each event to
    `react`, which acks, naks or terms it. Shared by the reactors that follow another context."""
    js = nc.jetstream()
    with contextlib.suppress(nats.js.errors.BadRequestError):  # it exists: resume where it was
        await js.add_consumer(subjects.STREAM, config)
    assert config.durable_name is not None
    sub = await js.pull_subscribe_bind(durable=config.durable_name, stream=subjects.STREAM)
    while True:
        try:
            messages = await sub.fetch(1, timeout=5)
        except nats.errors.TimeoutError:
            continue
        for msg in messages:
            await react(msg)


async def retry_later(msg: Msg, what: str) -> None:
    log.warning(what, seq=msg.metadata.sequence.stream, delivered=msg.metadata.num_delivered)
    await msg.nak(delay=2)
    await asyncio.sleep(1)


def command_headers(msg: Msg, command_id: str, source: str, actor: str) -> dict[str, str]:
    """Headers for the command an event asks for: the event's actor and correlation carry on,
    and the command id is derived from the event, so a redelivery changes nothing twice."""
    headers = msg.headers or {}
    return {
        subjects.COMMAND_ID: command_id,
        subjects.ACTOR: headers.get(subjects.ACTOR, actor),
        subjects.SOURCE: source,
        subjects.CORRELATION_ID: headers.get(subjects.CORRELATION_ID, ""),
    }


def unavailable(reply: bytes) -> bool:
    """The reply says: not now (retry the event later with the same command id)."""
    return b'"unavailable"' in reply[:40]
