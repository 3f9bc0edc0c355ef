"""What every context's decider shares: the refusal type and the Decider description."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

S = TypeVar("S")
C = TypeVar("C")


class Refusal(Exception):
    """A rule of the house said no. Subclasses name the reason; `code` is stable on the wire."""

    code = "refused"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Decider(Generic[S]):
    """A bounded context, described for the shared shell.

    `decide` and `evolve` are pure: no clock, no ids, no I/O. `aggregate_of` names the aggregate
    a command addresses; it becomes the subject token `crew.evt.<context>.<aggregate_id>.*`.
    """

    context: str
    commands: dict[str, type[msgspec.Struct]]
    event_types: Sequence[type[msgspec.Struct]]
    initial: Callable[[str], S]
    decide: Callable[[S, Any], list[Any]]
    evolve: Callable[[S, Any], S]
    aggregate_of: Callable[[Any], str]
    forgets: Callable[[Any], str | None] = lambda event: None
    """The person whose key must be destroyed before this event is appended, if any."""

    def fold(self, aggregate_id: str, events: Sequence[Any]) -> S:
        state = self.initial(aggregate_id)
        for event in events:
            state = self.evolve(state, event)
        return state


class Handlers(Generic[S]):
    """`decide` as a table: one small handler per command type, so no decide grows into a long
    match, and a new command is one new handler.

        DECIDE = Handlers[Meal]("meals")

        @DECIDE.on(m.PlanMeal)
        def _plan(meal: Meal, command: m.PlanMeal) -> list[m.MealEvent]: ...

        decide = DECIDE.decide
    """

    def __init__(self, context: str) -> None:
        self.context = context
        self.handlers: dict[type, Callable[[S, Any], list[Any]]] = {}

    def on(
        self, command: type[C]
    ) -> Callable[[Callable[[S, C], list[Any]]], Callable[[S, C], list[Any]]]:
        def register(handler: Callable[[S, C], list[Any]]) -> Callable[[S, C], list[Any]]:
            if command in self.handlers:
                raise ValueError(f"{command.__name__} has a handler already")
            self.handlers[command] = handler
            return handler

        return register

    def decide(self, state: S, command: Any) -> list[Any]:
        handler = self.handlers.get(type(command))
        if handler is None:
            raise TypeError(f"not a {self.context} command: {type(command).__name__}")
        return handler(state, command)
