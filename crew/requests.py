"""NATS requests without nats-py's per-request machinery: what the command path asks the server.

For every request nats-py's `request` draws a random token (an `os.urandom` call), makes a
NUID and waits in `asyncio.wait_for`. At 64 commands in flight those were about a third of the
meals service's time inside nats-py (docs/performance.md, "The command desk"). Here the
replies come to one inbox subscription of our own, opened on the first request: a request is
told by a counter, and its timeout is a timer handle, cancelled when the answer comes.

The inbox is the connection's (`nc.new_inbox()`), so each NATS user's inbox prefix and rights
hold as for nats-py's own requests; nats-py subscribes it again after a reconnect."""

from __future__ import annotations

import asyncio
import itertools

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

NO_RESPONDERS = "503"


def _give_up(answer: asyncio.Future[Msg]) -> None:
    if not answer.done():
        answer.set_exception(nats.errors.TimeoutError())


class Requests:
    def __init__(self, nc: NATS) -> None:
        self._nc = nc
        self._prefix = ""
        self._subscription: Subscription | None = None
        self._opening = asyncio.Lock()
        self._waiting: dict[str, asyncio.Future[Msg]] = {}
        self._tokens = itertools.count()

    async def request(
        self,
        subject: str,
        payload: bytes = b"",
        headers: dict[str, str] | None = None,
        timeout: float = 5.0,
    ) -> Msg:
        """The first answer to `payload` on `subject`. Raises nats-py's TimeoutError when none
        comes within `timeout`, and NoRespondersError when no one listens on `subject`."""
        if self._subscription is None:
            await self._open()
        token = str(next(self._tokens))
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Msg] = loop.create_future()
        self._waiting[token] = answer
        timer = loop.call_later(timeout, _give_up, answer)
        try:
            await self._nc.publish(
                subject, payload, reply=f"{self._prefix}.{token}", headers=headers
            )
            msg = await answer
        finally:
            timer.cancel()
            del self._waiting[token]
            if answer.done() and not answer.cancelled():
                answer.exception()  # given up while publishing, which then failed: seen here
        if msg.headers and msg.headers.get("Status") == NO_RESPONDERS:
            raise nats.errors.NoRespondersError
        return msg

    async def _open(self) -> None:
        async with self._opening:
            if self._subscription is None:
                prefix = self._nc.new_inbox()
                self._subscription = await self._nc.subscribe(f"{prefix}.*", cb=self._answered)
                self._prefix = prefix

    async def _answered(self, msg: Msg) -> None:
        answer = self._waiting.get(msg.subject[len(self._prefix) + 1 :])
        if answer is not None and not answer.done():
            answer.set_result(msg)
