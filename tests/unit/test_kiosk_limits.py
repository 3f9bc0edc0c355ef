"""The per-kiosk rate limit: a burst is fine, a flood is slowed, and it refills."""

from __future__ import annotations

import time

from services.kiosk.app import Bucket


def test_a_kiosk_may_burst_then_is_slowed_then_refills_and_kiosks_are_counted_apart() -> None:
    bucket = Bucket(rate=20.0, burst=5.0)
    assert all(bucket.allow("hall") for _ in range(5))
    assert not bucket.allow("hall")
    assert bucket.allow("kitchen"), "each kiosk has its own bucket"
    time.sleep(0.11)  # 20/s: about two taps come back
    assert bucket.allow("hall")
