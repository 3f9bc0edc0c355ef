"""The test suite's ports: never one a browser refuses to load a page from."""

from __future__ import annotations

import pytest

from tests import ports


def test_a_port_chromium_calls_unsafe_is_never_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "_start", 10_000)  # the block with 10080 (amanda) in it
    monkeypatch.setattr(ports, "_next", 70)
    handed = {ports.free_port() for _ in range(20)}
    assert 10080 not in handed
    assert len(handed) == 20 and min(handed) >= 10_070 and max(handed) <= 10_091
