"""Where a context's commands come in: a plain queue subscription on the service's own NATS
connection, with no framework machinery per message.

Profiled at 64 commands in flight, FastStream's per-message path (its consume queue, context
and decoder wrappers) took a quarter of the service's time, as much as the shell, the decider
and the event store together (docs/performance.md). This desk takes each request straight from
nats-py's callback, carries it out in a task of its own, at most `workers` at once (the rest
wait in the subscription, in order), and publishes the shell's reply."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from crew import subjects
from crew.shell import CommandShell, where

log = structlog.get_logger("crew.desk")


class CommandDesk:
    def __init__(
        self,
        nc: NATS,
        shell: CommandShell[Any],
        workers: int,
        before_reply: Callable[[bytes], None] = lambda reply: None,
    ) -> None:
        self._nc = nc
        self._shell = shell
        self._slots = asyncio.Semaphore(workers)
        self._before_reply = before_reply  # fault injection (crew.service)
        self._busy: set[asyncio.Task[None]] = set()
        self._subscription: Subscription | None = None

    async def open(self) -> None:
        context = self._shell.decider.context
        self._subscription = await self._nc.subscribe(
            subjects.commands_of(context), queue=context, cb=self._arrived
        )

    async def _arrived(self, msg: Msg) -> None:
        await self._slots.acquire()  # full: the next ones wait in the subscription
        task = asyncio.create_task(self._answer(msg))
        self._busy.add(task)
        task.add_done_callback(self._busy.discard)

    async def _answer(self, msg: Msg) -> None:
        try:
            reply = await self._shell.handle(msg.subject, msg.headers or {}, msg.data)
            self._before_reply(reply)
            if msg.reply:
                await self._nc.publish(msg.reply, reply)
        except Exception as exc:  # the shell answers everything; this is the wire failing
            log.warning("reply_not_sent", error=type(exc).__name__, at=where(exc))
        finally:
            self._slots.release()

    async def close(self) -> None:
        """Take no more commands, and finish those under way (their replies go out)."""
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None
        while self._busy:
            await asyncio.gather(*self._busy, return_exceptions=True)
