"""What every context's decider shares: the refusal type and the Decider description."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

S = TypeVar("S")


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
