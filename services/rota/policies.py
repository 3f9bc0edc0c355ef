"""One policy per kind of series: what its places are, who has room, what taking one records.

The rules ask the series' policy instead of comparing kinds, so a new kind of series is one
new policy and one line in `POLICIES`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import msgspec
from msgspec.structs import replace

from crew.decider import Refusal
from schemas import rota as r
from services.rota import meals_bridge
from services.rota.refusals import BadSchedule, NoCookingPlace, ShiftFull, TaskFull, UnknownTask
from services.rota.state import Occurrence, Series

COOKING_ROLES = ("head_cook", "helper")


class Policy(ABC):
    """What every kind answers; the defaults are those of a kind with no places of its own."""

    kind: ClassVar[r.Kind]
    name: ClassVar[str]  # as a refusal says it: "... is a cleaning party"
    # The commands only this kind (and others naming them) takes; the rest refuse `wrong_kind`.
    takes: ClassVar[frozenset[type[Any]]] = frozenset()
    has_tasks: ClassVar[bool] = False  # its schedule lists tasks, each with its own capacity
    has_capacity: ClassVar[bool] = False  # its schedule limits the number of people
    welcomes_walk_ins: ClassVar[bool] = False  # checking in without a place takes one
    # The event a person stepping back is recorded as.
    steps_back: ClassVar[type[r.LeftCleaningParty | r.WithdrewFromShift] | None] = None
    # Its claims are for roles of its own, which no change of the series' tasks takes away.
    claims_roles: ClassVar[bool] = False

    @abstractmethod
    def check_intention(self, plan: r.SeriesScheduled, task: str | None) -> None:
        """Refuse a standing intention this kind cannot hold (an unknown task, say)."""

    @abstractmethod
    def has_room(
        self, plan: r.SeriesScheduled, occ: Occurrence, task: str | None, who: str
    ) -> bool:
        """Is there a place for `who` doing `task` (their own claim does not count against them)?"""

    @abstractmethod
    def full(self, occ: Occurrence, task: str | None) -> Refusal:
        """The refusal for an occurrence (or its task) with no place left."""

    def take_place(
        self, series_id: str, occ: Occurrence, who: str, task: str | None
    ) -> list[r.RotaEvent]:
        """What `who` taking a place (doing `task`) records; nothing where another service
        keeps who takes part."""
        return []

    def confirmed(self, occ: Occurrence, who: str, task: str | None) -> Occurrence:
        """The occurrence once `who`'s claim is confirmed: the claim is gone."""
        return replace(
            occ,
            claims={k: v for k, v in occ.claims.items() if k != who},
            cooks={k: v for k, v in occ.cooks.items() if k != who},
        )

    def meal_id(self, occ: Occurrence) -> str | msgspec.UnsetType:
        return msgspec.UNSET


class CleaningParty(Policy):
    """Everyone is welcome; each task has a team of its own size."""

    kind = "cleaning_party"
    name = "cleaning party"
    takes = frozenset(
        {
            r.JoinCleaningParty,
            r.LeaveCleaningParty,
            r.TakeTask,
            r.DropTask,
            r.CheckIn,
            r.OfferHandOver,
            r.TakeHandOver,
        }
    )
    has_tasks = True
    welcomes_walk_ins = True
    steps_back = r.LeftCleaningParty

    def check_intention(self, plan: r.SeriesScheduled, task: str | None) -> None:
        if task is not None and task not in {t.task for t in plan.tasks}:
            raise UnknownTask(f"the cleaning party has no task {task!r}")

    def has_room(
        self, plan: r.SeriesScheduled, occ: Occurrence, task: str | None, who: str
    ) -> bool:
        if task is None:
            return True
        capacity = occ.task_capacity(task)
        if capacity is None:
            return False
        holders = sum(1 for p, t in occ.task_of.items() if t == task and p != who)
        return holders + occ.claimed(task, but=who) < capacity

    def full(self, occ: Occurrence, task: str | None) -> Refusal:
        return TaskFull(f"the {task} team is full ({occ.task_capacity(task or '')} people)")

    def take_place(
        self, series_id: str, occ: Occurrence, who: str, task: str | None
    ) -> list[r.RotaEvent]:
        ids = {"series_id": series_id, "occurrence_id": occ.occurrence_id, "crew_id": who}
        joined: list[r.RotaEvent] = [] if who in occ.people else [r.JoinedCleaningParty(**ids)]
        return [*joined, r.TookTask(**ids, task=task)] if task else joined


class DutyShift(Policy):
    """A fixed number of places, no tasks."""

    kind = "shift"
    name = "shift"
    takes = frozenset(
        {r.SignUpForShift, r.WithdrawFromShift, r.CheckIn, r.OfferHandOver, r.TakeHandOver}
    )
    has_capacity = True
    steps_back = r.WithdrewFromShift

    def check_intention(self, plan: r.SeriesScheduled, task: str | None) -> None:
        if task is not None:
            raise UnknownTask("a duty shift has no tasks")

    def has_room(
        self, plan: r.SeriesScheduled, occ: Occurrence, task: str | None, who: str
    ) -> bool:
        taken = len([p for p in occ.people if p != who]) + occ.claimed(None, but=who)
        return occ.capacity is None or taken < occ.capacity

    def full(self, occ: Occurrence, task: str | None) -> Refusal:
        return ShiftFull(f"{occ.occurrence_id} is full ({occ.capacity} people)")

    def take_place(
        self, series_id: str, occ: Occurrence, who: str, task: str | None
    ) -> list[r.RotaEvent]:
        return [
            r.SignedUpForShift(series_id=series_id, occurrence_id=occ.occurrence_id, crew_id=who)
        ]


class MealDay(Policy):
    """One head cook and `helper_slots` helpers; the meals service keeps who cooks."""

    kind = "meal"
    name = "meal"
    claims_roles = True

    def check_intention(self, plan: r.SeriesScheduled, task: str | None) -> None:
        if task not in (None, *COOKING_ROLES):
            raise UnknownTask("for meal days the task is head_cook or helper")

    def has_room(
        self, plan: r.SeriesScheduled, occ: Occurrence, task: str | None, who: str
    ) -> bool:
        role = task or "helper"
        limit = 1 if role == "head_cook" else plan.helper_slots
        cooking = sum(1 for p, t in occ.cooks.items() if t == role and p != who)
        return cooking + occ.claimed(role, but=who) < limit

    def full(self, occ: Occurrence, task: str | None) -> Refusal:
        return NoCookingPlace(f"the {task or 'helper'} places at {occ.occurrence_id} are taken")

    def confirmed(self, occ: Occurrence, who: str, task: str | None) -> Occurrence:
        return meals_bridge.cooking(occ, who, task)

    def meal_id(self, occ: Occurrence) -> str | msgspec.UnsetType:
        return meals_bridge.meal_id_of(occ)


POLICIES: Mapping[r.Kind, Policy] = {
    policy.kind: policy for policy in (CleaningParty(), DutyShift(), MealDay())
}


def policy_of(series: Series) -> Policy:
    return POLICIES[series.kind]


def has_room(series: Series, occ: Occurrence, task: str | None, who: str) -> bool:
    """Is there a place at `occ` for `who` doing `task` (their own claim does not count)?"""
    policy = policy_of(series)  # a series not scheduled says so
    assert series.plan is not None
    return policy.has_room(series.plan, occ, task, who)


def check_room(series: Series, occ: Occurrence, task: str | None, who: str) -> None:
    if not has_room(series, occ, task, who):
        raise policy_of(series).full(occ, task)


def check_times(start: str, end: str) -> None:
    if end <= start:
        raise BadSchedule(f"the end ({end}) must be after the start ({start})")


def check_schedule(
    policy: Policy, start: str, end: str, tasks: Iterable[r.TaskSpec], capacity: int | None
) -> None:
    check_times(start, end)
    names = [t.task for t in tasks]
    if len(names) != len(set(names)):
        raise BadSchedule("each task may be listed once")
    if names and not policy.has_tasks:
        raise BadSchedule("only a cleaning party has tasks")
    if capacity is not None and not policy.has_capacity:
        raise BadSchedule(
            "only a duty shift has a capacity (a cleaning party has unlimited places, its "
            "tasks have their own; meal days have helper_slots and seats)"
        )
