"""Weekly recurrence, shared by every kind of series (cleaning party, duty shift, meal days).

Pure: dates in, dates out. A schedule changes only "from a date": each version holds from its
`effective_from` until the next version takes over, so the past is never rewritten.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence
from zoneinfo import ZoneInfo

import msgspec

from schemas.common import HOUSE_TIMEZONE


class Weekly(msgspec.Struct, frozen=True, kw_only=True):
    weekdays: tuple[int, ...]  # 0 = Monday ... 6 = Sunday
    start: str  # HH:MM, house time
    end: str
    starts_on: datetime.date
    until: datetime.date | None = None

    def dates(self, first: datetime.date, last: datetime.date) -> Iterator[datetime.date]:
        """Every date of the schedule in [first, last]."""
        day = max(first, self.starts_on)
        stop = min(last, self.until) if self.until else last
        while day <= stop:
            if day.weekday() in self.weekdays:
                yield day
            day += datetime.timedelta(days=1)


def occurrence_id(series_id: str, day: datetime.date) -> str:
    """`cleaning-20300110`: the series and the date the occurrence was first scheduled for."""
    return f"{series_id}-{day:%Y%m%d}"


def series_of(occurrence: str) -> str:
    return occurrence.rsplit("-", 1)[0]


def horizon(today: datetime.date, weeks_ahead: int) -> datetime.date:
    return today + datetime.timedelta(weeks=weeks_ahead)


def versions_dates(
    versions: Sequence[tuple[datetime.date, Weekly]], first: datetime.date, last: datetime.date
) -> Iterator[tuple[datetime.date, Weekly]]:
    """Dates in [first, last] under a list of (effective_from, schedule) versions, oldest first."""
    for n, (effective_from, schedule) in enumerate(versions):
        next_from = versions[n + 1][0] if n + 1 < len(versions) else None
        lo = max(first, effective_from)
        hi = min(last, next_from - datetime.timedelta(days=1)) if next_from else last
        if lo <= hi:
            for day in schedule.dates(lo, hi):
                yield day, schedule


def local_start(day: datetime.date, hhmm: str, timezone: str = HOUSE_TIMEZONE) -> datetime.datetime:
    hour, minute = (int(p) for p in hhmm.split(":"))
    return datetime.datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(timezone))
