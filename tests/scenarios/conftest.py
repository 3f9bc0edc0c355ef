"""Scenarios run the house in this process (harness.py): no NATS, no subprocess, no waiting."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scenarios.harness import House


@pytest.fixture
def house(tmp_path: Path) -> Iterator[House]:
    built = House(tmp_path / "views.duckdb")
    yield built
    built.close()
