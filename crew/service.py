"""The thin FastStream app around a context's decider, the same for every context."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import msgspec
import nats
import structlog
from faststream import FastStream
from faststream.nats import NatsBroker, NatsMessage

from crew import heap, logs, settings, subjects, urls
from crew.decider import Decider
from crew.desk import CommandDesk
from crew.eventstore import JetStreamEventStore, ensure_event_store
from crew.personal import JetStreamVault
from crew.shell import CommandShell, where
from schemas.common import Accepted, StatusReply, reply_decoder

log = structlog.get_logger("crew.service")


async def as_is(message: NatsMessage, original: Any = None) -> NatsMessage:
    """Hand the handler the message itself: the shell decodes bodies with msgspec, once."""
    return message


def raw_broker(url: str, name: str) -> NatsBroker:
    """A broker whose handlers get the raw message, with no dependency injection per message
    (profiled: it cost as much as the whole command shell)."""
    return NatsBroker(
        **urls.connection(url), logger=None, name=name, apply_types=False, decoder=as_is
    )


def status_responder(
    broker: NatsBroker, component: str, problem: Callable[[], str | None] = lambda: None
) -> None:
    """Every component answers `crew status` (no queue group: each instance says hello), and
    says what is wrong when something is."""

    @broker.subscriber(subjects.STATUS)
    async def on_status(msg: NatsMessage) -> bytes:
        trouble = problem()
        return msgspec.json.encode(
            StatusReply(component=component, pid=os.getpid(), ok=trouble is None, problem=trouble)
        )


def crash_before_replying(after_appends: int) -> Callable[[bytes], None]:
    """Fault injection for tests/faults (CREW_FAULT_EXIT_AFTER_APPENDS=N): the process dies hard
    right after its N-th append was acknowledged and before the reply goes out. 0: never."""
    appends = 0

    def check(reply: bytes) -> None:
        nonlocal appends
        if after_appends and _appended(reply):
            appends += 1
            if appends >= after_appends:
                log.warning("fault_injected", fault="exit between append and reply")
                os._exit(137)

    return check


def _appended(reply: bytes) -> bool:
    answer = reply_decoder.decode(reply)
    return isinstance(answer, Accepted) and bool(answer.events)


Companion = Callable[[nats.NATS, CommandShell[Any]], Awaitable[None]]


def build_app(
    decider: Decider[Any], config: settings.Settings, companions: Sequence[Companion] = ()
) -> FastStream:
    """The context's command desk, its status responder, and companions: long-running tasks of
    the same process (a calendar, a reactor) that share its event store connection (the desk
    takes commands on that connection too)."""
    broker = raw_broker(config.nats_url, f"crew-{decider.context}")
    shell: dict[str, CommandShell[Any]] = {}
    desk: dict[str, CommandDesk] = {}
    status_responder(broker, decider.context)
    app = FastStream(broker, logger=None)
    connection: dict[str, nats.NATS] = {}
    tasks: list[asyncio.Task[None]] = []

    @app.on_startup
    async def open_store() -> None:
        nc = await nats.connect(
            **urls.connection(config.nats_url), name=f"crew-{decider.context}-store"
        )
        await ensure_event_store(nc)
        connection["nc"] = nc
        vault = JetStreamVault(nc, config.fault_exit_after_forget_marker)
        shell["it"] = CommandShell(decider, JetStreamEventStore(nc), vault=vault)
        crash = crash_before_replying(config.fault_exit_after_appends)
        desk["it"] = CommandDesk(nc, shell["it"], config.workers, before_reply=crash)
        await desk["it"].open()
        for companion in companions:
            tasks.append(asyncio.create_task(_supervised(companion, nc, shell["it"])))
        log.info("service_started", subject=subjects.commands_of(decider.context))

    @app.on_shutdown
    async def close_store() -> None:
        if "it" in desk:
            await desk["it"].close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if nc := connection.get("nc"):
            await close_quickly(nc)

    return app


async def close_quickly(nc: nats.NATS) -> None:
    """Flush what was published, then close. (Draining this connection is not needed, as the
    desk has finished its commands by then, and after heavy load it hit nats-py's 30 s drain
    timeout.)"""
    with contextlib.suppress(Exception):
        await nc.flush(timeout=2)
    await nc.close()


async def _supervised(companion: Companion, nc: nats.NATS, shell: CommandShell[Any]) -> None:
    """Keep a companion running: log and restart it after a failure, never take the service down."""
    name = getattr(companion, "__name__", "companion")
    while True:
        try:
            await companion(nc, shell)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Where, never what: the message may quote an event or command it was handling.
            log.warning("companion_failed", companion=name, error=type(exc).__name__, at=where(exc))
            await asyncio.sleep(2)


def run(
    decider: Decider[Any],
    companions: Sequence[Companion] = (),
    config: settings.Settings | None = None,
) -> None:
    """`python -m services.<context>`: serve the context against CREW_NATS_URL until SIGTERM."""
    config = config or settings.load()
    logs.configure(decider.context, config.log_format)
    app = build_app(decider, config, companions)
    app.after_startup(heap.freeze_startup)  # the process's own choice: not in-process tests
    asyncio.run(app.run())


class Part(Protocol):
    """What runs beside others in one process: a context's FastStream app, or the kiosk."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def serve_together(apps: Sequence[Part]) -> None:
    """Several contexts' apps in one process (`crew up --one-process`), each on its own NATS
    connections and user, until SIGINT or SIGTERM; then each stops as it would alone."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    started: list[Part] = []
    try:
        for app in apps:
            await app.start()
            started.append(app)
        heap.freeze_startup()
        await stopping.wait()
    finally:
        for app in reversed(started):
            with contextlib.suppress(Exception):
                await app.stop()
