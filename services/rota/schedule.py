"""A series' recurrence: its versions, the day each version holds, and materialising the
occurrences the calendar (or a change) brings within the horizon."""

from __future__ import annotations

import datetime

from schemas import rota as r
from services.rota.claims import claims_for
from services.rota.draft import Draft, plan_of
from services.rota.recurrence import Weekly, horizon, occurrence_id, versions_dates
from services.rota.state import Series, Version, find, open_from


def weekly_versions(series: Series) -> list[tuple[datetime.date, Weekly]]:
    plan = plan_of(series)
    return [
        (
            d,
            Weekly(
                weekdays=v.weekdays,
                start=v.start,
                end=v.end,
                starts_on=plan.starts_on,
                until=v.until,
            ),
        )
        for d, v in series.versions
    ]


def version_on(series: Series, day: datetime.date) -> Version:
    current = series.versions[0][1]
    for effective_from, version in series.versions:
        if effective_from <= day:
            current = version
    return current


def last_day(series: Series, today: datetime.date) -> datetime.date:
    """As far as the horizon, or as far as occurrences already go (a change adds the days of
    its new weekdays there too)."""
    plan = plan_of(series)
    return max(horizon(today, plan.weeks_ahead), series.materialised_until or today)


def moved_onto(series: Series, day: datetime.date) -> str | None:
    """The occurrence moved by hand onto `day`, if any: the party of that day already."""
    return next(
        (
            o.occurrence_id
            for o in open_from(series, day)
            if o.day == day and o.first_date != day and o.status == "scheduled"
        ),
        None,
    )


def schedule(draft: Draft, day: datetime.date, version: Version) -> str:
    plan = plan_of(draft.series)
    occ_id = occurrence_id(draft.series.series_id, day)
    draft.emit(
        r.OccurrenceScheduled(
            series_id=draft.series.series_id,
            occurrence_id=occ_id,
            kind=plan.kind,
            title=plan.title,
            date=day,
            start=version.start,
            end=version.end,
            tasks=list(version.tasks),
            capacity=version.capacity,
            helper_slots=plan.helper_slots,
            seats=plan.seats,
        )
    )
    return occ_id


def materialise(draft: Draft, today: datetime.date) -> None:
    last = last_day(draft.series, today)
    for day, _ in versions_dates(weekly_versions(draft.series), today, last):
        new = find(draft.series, occurrence_id(draft.series.series_id, day)) is None
        if new and moved_onto(draft.series, day) is None:
            occ_id = schedule(draft, day, version_on(draft.series, day))
            claims_for(draft, occ_id, today)
