"""Waiting for something that happens in another process or task: poll a probe until its
answer is the one wanted, or fail after a deadline saying what was seen last. The one way the
tests wait for a condition; a fixed sleep would be too short on a busy machine and too long
on a quiet one.

    rows = eventually(lambda: sql(env, query), until=lambda rows: rows == expected)
    seen = await eventually_async(lambda: kv.get(key), ignoring=(KeyNotFoundError,))

Both share the deadline, the pace and the failure message; the async one also takes a probe
that answers a plain value."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

SECONDS = 15.0
EVERY = 0.1
_NOTHING: Any = object()


def _accepted(value: object) -> bool:
    return bool(value)


class _Polling:
    """One round of polling: the deadline, and the last answer (or error) for the message."""

    def __init__(self, seconds: float, what: str) -> None:
        self.deadline = time.monotonic() + seconds
        self.seconds = seconds
        self.what = what
        self.last: Any = _NOTHING
        self.error: BaseException | None = None

    def over(self) -> bool:
        return time.monotonic() >= self.deadline

    def failed(self) -> AssertionError:
        seen = f"last error {self.error!r}" if self.last is _NOTHING else f"last {self.last!r}"
        what = f"{self.what}: " if self.what else ""
        return AssertionError(f"{what}not so within {self.seconds:g} s; {seen}")


def eventually(
    probe: Callable[[], T],
    *,
    until: Callable[[T], bool] = _accepted,
    seconds: float = SECONDS,
    every: float = EVERY,
    ignoring: tuple[type[BaseException], ...] = (),
    what: str = "",
) -> T:
    """The first answer of `probe` that `until` accepts (by default: any truthy one). An error
    in `ignoring` counts as "not yet"."""
    polling = _Polling(seconds, what)
    while True:
        try:
            value = probe()
            if inspect.iscoroutine(value):
                value.close()
                raise TypeError("an async probe: await eventually_async(...) instead")
            polling.last, polling.error = value, None
            if until(value):
                return value
        except ignoring as exc:
            polling.error = exc
        if polling.over():
            raise polling.failed()
        time.sleep(every)


async def eventually_async(
    probe: Callable[[], Awaitable[T] | T],
    *,
    until: Callable[[T], bool] = _accepted,
    seconds: float = SECONDS,
    every: float = EVERY,
    ignoring: tuple[type[BaseException], ...] = (),
    what: str = "",
) -> T:
    """`eventually` for async tests: the probe may be a coroutine function (or answer a plain
    value), and the wait between tries lets the event loop go on."""
    polling = _Polling(seconds, what)
    while True:
        try:
            answer = probe()
            value: T = await answer if inspect.isawaitable(answer) else answer  # type: ignore[assignment]
            polling.last, polling.error = value, None
            if until(value):
                return value
        except ignoring as exc:
            polling.error = exc
        if polling.over():
            raise polling.failed()
        await asyncio.sleep(every)
