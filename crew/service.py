"""The thin FastStream app around a context's decider, the same for every context."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import msgspec
import nats
import structlog
from faststream import FastStream
from faststream.nats import NatsBroker, NatsMessage

from crew import logs, settings, subjects
from crew.decider import Decider
from crew.eventstore import JetStreamEventStore, ensure_event_store
from crew.shell import CommandShell

log = structlog.get_logger("crew.service")


class StatusReply(msgspec.Struct, frozen=True):
    component: str
    pid: int
    ok: bool = True


async def as_is(message: NatsMessage, original: Any = None) -> NatsMessage:
    """Hand the handler the message itself: the shell decodes bodies with msgspec, once."""
    return message


def raw_broker(url: str, name: str) -> NatsBroker:
    """A broker whose handlers get the raw message, with no dependency injection per message
    (profiled: it cost as much as the whole command shell)."""
    return NatsBroker(url, logger=None, name=name, apply_types=False, decoder=as_is)


def status_responder(broker: NatsBroker, component: str) -> None:
    """Every component answers `crew status` (no queue group: each instance says hello)."""
    reply = msgspec.json.encode(StatusReply(component=component, pid=os.getpid()))

    @broker.subscriber(subjects.STATUS)
    async def on_status(msg: NatsMessage) -> bytes:
        return reply


def build_app(decider: Decider[Any], config: settings.Settings) -> FastStream:
    broker = raw_broker(config.nats_url, f"crew-{decider.context}")
    shell: dict[str, CommandShell[Any]] = {}

    @broker.subscriber(
        subjects.commands_of(decider.context), queue=decider.context, max_workers=config.workers
    )
    async def on_command(msg: NatsMessage) -> bytes:
        return await shell["it"].handle(msg.raw_message.subject, msg.headers, msg.body)

    status_responder(broker, decider.context)
    app = FastStream(broker, logger=None)
    connection: dict[str, nats.NATS] = {}

    @app.on_startup
    async def open_store() -> None:
        nc = await nats.connect(config.nats_url, name=f"crew-{decider.context}-store")
        await ensure_event_store(nc)
        connection["nc"] = nc
        shell["it"] = CommandShell(decider, JetStreamEventStore(nc))
        log.info("service_started", subject=subjects.commands_of(decider.context))

    @app.on_shutdown
    async def close_store() -> None:
        if nc := connection.get("nc"):
            await nc.drain()

    return app


def run(decider: Decider[Any]) -> None:
    """`python -m services.<context>`: serve the context against CREW_NATS_URL until SIGTERM."""
    config = settings.load()
    logs.configure(decider.context, config.log_format)
    asyncio.run(build_app(decider, config).run())
