"""The per-kiosk rate limit: a burst is fine, a flood is slowed, and it refills."""

from __future__ import annotations

import pytest

from crew import settings
from services.kiosk.limits import Bucket


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_kiosk_may_burst_then_is_slowed_then_refills_and_kiosks_are_counted_apart() -> None:
    clock = Clock()
    bucket = Bucket(rate=20.0, burst=5.0, clock=clock)
    assert all(bucket.allow("hall") for _ in range(5))
    assert not bucket.allow("hall")
    assert bucket.allow("kitchen"), "each kiosk has its own bucket"
    clock.now += 0.1  # 20/s: two taps come back, and no more
    assert bucket.allow("hall") and bucket.allow("hall")
    assert not bucket.allow("hall")


def test_an_empty_bucket_says_how_long_to_wait_and_full_ones_are_forgotten() -> None:
    clock = Clock()
    bucket = Bucket(rate=0.5, burst=1.0, keep=4, clock=clock)
    assert bucket.wait_s("a") == 0
    bucket.spend("a")
    assert bucket.wait_s("a") == 2  # one token back at 0.5 a second
    for n in range(100):  # a flood from many addresses, each spending once long ago...
        bucket.level[f"old{n}"] = (1.0, clock.now - 10)
    bucket.spend("b")
    assert set(bucket.level) == {"a", "b"}, "full buckets are dropped, spent ones kept"


def test_a_flood_from_many_addresses_keeps_the_bucket_small_and_the_latest_ones() -> None:
    bucket = Bucket(rate=0.001, burst=1.0, keep=100)
    for n in range(10_000):
        bucket.spend(f"addr{n}")
        assert len(bucket.level) <= 100
    assert "addr9999" in bucket.level and bucket.wait_s("addr9999") > 0


def test_a_rate_below_one_a_minute_stops_the_kiosk_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CREW_NATS_URL", "nats://127.0.0.1:1")
    monkeypatch.setenv("CREW_KIOSK_GUESSES_PER_MINUTE", "0")  # would divide by zero later
    with pytest.raises(SystemExit, match=r"CREW_KIOSK_GUESSES_PER_MINUTE=0: .* at least 1"):
        settings.load()
