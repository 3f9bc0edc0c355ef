"""What the rota knows of one series: its plan, versions, occurrences and intentions."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Literal

import msgspec
from msgspec.structs import replace

from schemas import rota as r
from services.rota.refusals import SeriesNotScheduled


class Version(msgspec.Struct, frozen=True, kw_only=True):
    """How the series runs from a date on."""

    weekdays: tuple[int, ...]
    start: str
    end: str
    until: datetime.date | None
    tasks: tuple[r.TaskSpec, ...]
    capacity: int | None


class Occurrence(msgspec.Struct, frozen=True, kw_only=True):
    occurrence_id: str
    first_date: datetime.date  # the date it was scheduled for, part of its id
    day: datetime.date  # the date it happens (after a move)
    start: str
    end: str
    status: Literal["scheduled", "cancelled"] = "scheduled"
    # Cancelled by a series change (not by a person): a later change may bring it back.
    cancelled_by_change: bool = False
    restored: int = 0  # times a series change brought it back (meal days: the meal's new id)
    tasks: tuple[r.TaskSpec, ...] = ()
    capacity: int | None = None
    people: tuple[str, ...] = ()  # joined the party or signed up for the shift, in order
    task_of: Mapping[str, str] = {}
    checked_in: tuple[str, ...] = ()
    offers: tuple[str, ...] = ()
    claims: Mapping[str, str | None] = {}  # tentative: crew_id -> task
    # Meal days: claims confirmed here (crew_id -> head_cook or helper). The meals service
    # keeps who cooks; this only stops the rota from promising the same place twice.
    cooks: Mapping[str, str] = {}

    def holders(self, task: str) -> int:
        return sum(1 for t in self.task_of.values() if t == task)

    def claimed(self, task: str | None, but: str | None = None) -> int:
        return sum(1 for who, t in self.claims.items() if t == task and who != but)

    def task_capacity(self, task: str) -> int | None:
        return next((t.capacity for t in self.tasks if t.task == task), None)


class Series(msgspec.Struct, frozen=True, kw_only=True):
    series_id: str
    plan: r.SeriesScheduled | None = None
    versions: tuple[tuple[datetime.date, Version], ...] = ()
    materialised_until: datetime.date | None = None
    occurrences: Mapping[str, Occurrence] = {}
    intentions: Mapping[str, r.IntentionStated] = {}

    @property
    def kind(self) -> r.Kind:
        if self.plan is None:
            raise SeriesNotScheduled(f"series {self.series_id} is not scheduled")
        return self.plan.kind


def initial(series_id: str) -> Series:
    return Series(series_id=series_id)


def version_of_fields(fields: Mapping[str, Any]) -> Version:
    return Version(
        weekdays=tuple(fields["weekdays"]),
        start=fields["start"],
        end=fields["end"],
        until=fields["until"],
        tasks=tuple(fields["tasks"]),
        capacity=fields["capacity"],
    )


def version_of(event: r.SeriesScheduled | r.SeriesChanged) -> Version:
    return version_of_fields(msgspec.structs.asdict(event))


# Occurrences -------------------------------------------------------------------------------


def find(series: Series, occurrence_id: str) -> Occurrence | None:
    return series.occurrences.get(occurrence_id)


def occurrence_now(series: Series, occurrence_id: str) -> Occurrence:
    """The occurrence as the series holds it now (it is known to exist)."""
    return series.occurrences[occurrence_id]


def open_from(series: Series, since: datetime.date) -> list[Occurrence]:
    """The occurrences that may happen on `since` or later, in the order first scheduled."""
    return list(series.occurrences.values())


def put(series: Series, occ: Occurrence) -> Series:
    """The series holding `occ`, new or changed."""
    return replace(series, occurrences={**series.occurrences, occ.occurrence_id: occ})
