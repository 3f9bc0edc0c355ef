"""How often a kiosk may tap, and an address may guess tokens or fetch calendars."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class Bucket:
    """A token bucket per key (a kiosk, a client address): `burst` at once, refilled at `rate`
    per second. Full buckets are forgotten when there are many keys, so a flood from many
    addresses cannot grow it without bound."""

    def __init__(
        self,
        rate: float = 10.0,
        burst: float = 30.0,
        keep: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate, self.burst, self.keep, self.clock = rate, burst, keep, clock
        self.level: dict[str, tuple[float, float]] = {}

    def _now(self, key: str) -> tuple[float, float]:
        now = self.clock()
        tokens, then = self.level.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - then) * self.rate), now

    def allow(self, key: str) -> bool:
        """Spend one if there is one."""
        tokens, now = self._now(key)
        if tokens < 1:
            self.level[key] = (tokens, now)
            return False
        self.spend(key)
        return True

    def spend(self, key: str) -> None:
        tokens, now = self._now(key)
        self.level.pop(key, None)  # re-inserted last: the dict stays in order of last use
        self.level[key] = (max(tokens - 1, 0.0), now)
        if len(self.level) > self.keep:
            # Down to half, so the next sweep is keep/2 spends away (no O(n) per request). Full
            # buckets go first; under a flood from more addresses than that, the longest idle
            # are forgotten too (they start afresh: a flood that wide is the network's problem).
            spent = [(k, v) for k, v in self.level.items() if self._now(k)[0] < self.burst]
            self.level = dict(spent[-(self.keep // 2) :])

    def wait_s(self, key: str) -> int:
        """0 when there is one to spend, else the whole seconds until there is."""
        tokens, _ = self._now(key)
        return 0 if tokens >= 1 else max(1, math.ceil((1 - tokens) / self.rate))
