"""The test suite's ports: never one a browser refuses to load a page from."""

from __future__ import annotations

import pytest

from tests import ports


def test_a_port_chromium_calls_unsafe_is_never_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "_start", 10_000)  # the block with 10080 (amanda) in it
    monkeypatch.setattr(ports, "_next", 70)
    handed = {ports.free_port() for _ in range(20)}
    # Another worker's server may hold a port here, so the draw may reach further: only that
    # it went past 10080 is certain.
    assert 10080 not in handed and max(handed) > 10080
