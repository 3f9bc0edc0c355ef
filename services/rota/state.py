"""What the rota knows of one series, and where its occurrences are kept.

Occurrences live in two tiers. The open ones (still to come, lately over, or holding a
tentative claim) are in `Series.occurrences`: every rule that looks across occurrences reads
only these, and an event copies only these. An occurrence over for longer than `GRACE` and
holding no tentative claim moves to `Series.past`, filed by the month it was first scheduled
for, so closing one copies one month. It is kept whole there, because the rules still read a
past occurrence by its id: leaving or cancelling after the day is recorded, meals may free a
cook afterwards, the retry of a sign-up is still "already true", a refusal names its day, and
its id stays taken.

Evolve knows no clock, so "over" is what the log proves: the calendar schedules no date
beyond `weeks_ahead` weeks from its today, so once a date is scheduled, today is at least
`weeks_ahead` weeks before it. A command dated earlier than that (a coordinator may send `at`)
is still decided exactly: the rules then look in the past tier too (`open_from`).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Literal

import msgspec
from msgspec.structs import replace

from schemas import rota as r
from services.rota.refusals import SeriesNotScheduled

# How long an occurrence stays open after it is proved over: backdated commands within it
# never need the past tier.
GRACE = datetime.timedelta(weeks=2)


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
    order: int = 0  # the how-many-th occurrence of the series it is: rules go through them so

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
    occurrences: Mapping[str, Occurrence] = {}  # open, in the order first scheduled
    past: Mapping[str, Mapping[str, Occurrence]] = {}  # closed, by month (YYYYMM) of their id
    intentions: Mapping[str, r.IntentionStated] = {}
    scheduled: int = 0  # occurrences scheduled so far: the next one's `order`

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


# The two tiers ------------------------------------------------------------------------------


def _month(occurrence_id: str) -> str:
    return occurrence_id[-8:-2]  # <series_id>-<YYYYMMDD>


def closed_before(series: Series) -> datetime.date | None:
    """Occurrences on a day before this one may be closed: the log proves them over by GRACE."""
    if series.plan is None or series.materialised_until is None:
        return None
    return series.materialised_until - datetime.timedelta(weeks=series.plan.weeks_ahead) - GRACE


def _closes(occ: Occurrence, before: datetime.date | None) -> bool:
    return before is not None and occ.day < before and not occ.claims


def find(series: Series, occurrence_id: str) -> Occurrence | None:
    """The occurrence by its id, open or past."""
    found = series.occurrences.get(occurrence_id)
    if found is None:
        found = series.past.get(_month(occurrence_id), {}).get(occurrence_id)
    return found


def occurrence_now(series: Series, occurrence_id: str) -> Occurrence:
    """The occurrence as the series holds it now (it is known to exist)."""
    found = find(series, occurrence_id)
    if found is None:
        raise KeyError(occurrence_id)
    return found


def open_from(series: Series, since: datetime.date) -> list[Occurrence]:
    """The occurrences that may happen on `since` or later, in the order first scheduled: the
    open ones, and past ones too when `since` is before what the log proves over."""
    before = closed_before(series)
    opened = list(series.occurrences.values())
    if before is None or since >= before:
        return opened
    back = [o for month in series.past.values() for o in month.values() if o.day >= since]
    return sorted([*opened, *back], key=lambda o: o.order) if back else opened


def put(series: Series, occ: Occurrence) -> Series:
    """The series holding `occ` (new or changed) in the tier it now belongs to."""
    key, month = occ.occurrence_id, _month(occ.occurrence_id)
    filed = series.past.get(month, {})
    if _closes(occ, closed_before(series)):
        opened = series.occurrences
        if key in opened:
            opened = {k: o for k, o in opened.items() if k != key}
        return replace(series, occurrences=opened, past={**series.past, month: {**filed, key: occ}})
    if key not in filed:  # open already, or new (and so the latest scheduled): same place
        return replace(series, occurrences={**series.occurrences, key: occ})
    rest = {k: o for k, o in filed.items() if k != key}  # back from the past: in its place
    past = (
        {**series.past, month: rest}
        if rest
        else {m: f for m, f in series.past.items() if m != month}
    )
    opened_again = sorted([*series.occurrences.values(), occ], key=lambda o: o.order)
    return replace(series, occurrences={o.occurrence_id: o for o in opened_again}, past=past)


def close_over(series: Series) -> Series:
    """Move the open occurrences the log now proves over (and holding no claim) to the past."""
    before = closed_before(series)
    closing = [o for o in series.occurrences.values() if _closes(o, before)]
    if not closing:
        return series
    past = dict(series.past)
    for occ in closing:
        month = _month(occ.occurrence_id)
        past[month] = {**past.get(month, {}), occ.occurrence_id: occ}
    gone = {o.occurrence_id for o in closing}
    opened = {k: o for k, o in series.occurrences.items() if k not in gone}
    return replace(series, occurrences=opened, past=past)
