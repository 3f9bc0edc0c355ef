"""A request given up while its publish was still under way, which then fails, leaves nothing
behind: its caller gets the publish's error, and asyncio has no unread exception to report."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import nats.errors
import pytest

from crew.requests import Requests


class SlowFailingConnection:
    """Enough of a nats-py client: an inbox, a subscription, and a publish that fails late."""

    def new_inbox(self) -> str:
        return "_INBOX.test"

    async def subscribe(self, subject: str, cb: Any) -> object:
        return object()

    async def publish(self, *args: Any, **kwargs: Any) -> None:
        await asyncio.sleep(0.05)  # past the request's timeout
        raise nats.errors.ConnectionClosedError


async def test_a_request_given_up_during_a_failing_publish_leaves_no_unread_error() -> None:
    reported: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: reported.append(context))
    requests = Requests(SlowFailingConnection())  # type: ignore[arg-type]
    with pytest.raises(nats.errors.ConnectionClosedError):
        await requests.request("crew.evt.x", b"{}", timeout=0.01)
    gc.collect()
    await asyncio.sleep(0)
    assert reported == []
