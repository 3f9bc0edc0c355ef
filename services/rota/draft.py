"""What every rota rule starts from: the draft of events decided so far, the series' plan, the
command's today, and the occurrence a command addresses."""

from __future__ import annotations

import datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from schemas import rota as r
from schemas.common import HOUSE_TIMEZONE
from services.rota.evolve import evolve
from services.rota.policies import policy_of
from services.rota.recurrence import local_start
from services.rota.refusals import (
    OccurrenceCancelled,
    OccurrenceNotFound,
    OccurrenceOver,
    SeriesNotScheduled,
    WrongKind,
)
from services.rota.state import Occurrence, Series, find


class Draft:
    """Events decided so far, and the series as they leave it.

    Decisions that touch many occurrences are built on a draft that evolves as it goes, so
    every rule sees the effect of the events already decided in the same command."""

    def __init__(self, series: Series) -> None:
        self.series = series
        self.events: list[r.RotaEvent] = []

    def emit(self, *events: r.RotaEvent) -> None:
        for event in events:
            self.events.append(event)
            self.series = evolve(self.series, event)


def plan_of(series: Series) -> r.SeriesScheduled:
    if series.plan is None:
        raise SeriesNotScheduled(f"series {series.series_id} is not scheduled")
    return series.plan


def today(series: Series, at: datetime.datetime | None) -> datetime.date:
    if at is None:
        raise ValueError("the command has no time (`at`); the shell fills it in")
    zone = ZoneInfo(series.plan.timezone if series.plan else HOUSE_TIMEZONE)
    return at.astimezone(zone).date()


def occurrence(series: Series, occurrence_id: str, command: Any = None) -> Occurrence:
    """The occurrence a command addresses, still on; `command` names a kind's own command,
    which another kind refuses."""
    plan_of(series)
    occ = find(series, occurrence_id)
    if occ is None:
        raise OccurrenceNotFound(
            f"{occurrence_id} is not an occurrence of series {series.series_id}"
        )
    if occ.status == "cancelled":
        raise OccurrenceCancelled(f"{occurrence_id} was cancelled")
    policy = policy_of(series)
    if command is not None and type(command) not in policy.takes:
        raise WrongKind(f"{occurrence_id} is a {policy.name}")
    return occ


def late(series: Series, occ: Occurrence, at: datetime.datetime | None) -> bool:
    plan = plan_of(series)
    if at is None:
        return False
    starts = local_start(occ.day, occ.start, plan.timezone)
    return at > starts - datetime.timedelta(hours=plan.withdrawal_cutoff_hours)


def refuse_if_over(series: Series, occ: Occurrence, at: datetime.datetime | None) -> None:
    """Joining, handing over or moving is for occurrences still to come (or today)."""
    if today(series, at) > occ.day:
        raise OccurrenceOver(f"{occ.occurrence_id} was on {occ.day}; it is over")


def meal_id(series: Series, occ: Occurrence) -> str | msgspec.UnsetType:
    return policy_of(series).meal_id(occ)


def take_place(draft: Draft, occ: Occurrence, who: str, task: str | None) -> None:
    """`who` is in: joined the cleaning party (doing `task`), signed up for the shift, ..."""
    series = draft.series
    draft.emit(*policy_of(series).take_place(series.series_id, occ, who, task))
