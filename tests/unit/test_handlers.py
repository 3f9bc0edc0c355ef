"""Every command of a context has exactly one handler in its decider's table."""

from __future__ import annotations

from typing import Any

import pytest

from crew.decider import Decider, Handlers
from services.meals import decider as meals
from services.onboarding import decider as onboarding
from services.rota import decider as rota

TABLES = [(meals.DECIDE, meals.MEALS), (onboarding.DECIDE, onboarding.ONBOARDING)]


@pytest.mark.parametrize(("table", "decider"), TABLES, ids=lambda t: getattr(t, "context", ""))
def test_every_command_has_a_handler(table: Handlers[Any], decider: Decider[Any]) -> None:
    assert set(table.handlers) == set(decider.commands.values())


def test_every_rota_command_has_a_handler() -> None:
    assert set(rota.HANDLERS) == set(rota.ROTA.commands.values())


def test_a_command_without_a_handler_is_named() -> None:
    table = Handlers[int]("tests")
    with pytest.raises(TypeError, match="not a tests command: str"):
        table.decide(0, "hello")


def test_a_command_gets_one_handler_only() -> None:
    table = Handlers[int]("tests")
    table.on(str)(lambda state, command: [])
    with pytest.raises(ValueError, match="str has a handler already"):
        table.on(str)(lambda state, command: [])
