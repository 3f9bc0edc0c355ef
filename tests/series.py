"""The house's usual series for the rota's tests, and their calendar: days counted from
Monday 7 January 2030, times in Copenhagen. A test names only what its series does
differently:

    SHIFT = duty_shift(capacity=2, claim_confirm_days=1)
"""

from __future__ import annotations

import datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from schemas import rota as r

CPH = ZoneInfo("Europe/Copenhagen")
MONDAY = datetime.date(2030, 1, 7)  # a Monday; the party is on Thursdays


def at(day: datetime.date, hhmm: str = "09:00") -> datetime.datetime:
    h, m = (int(x) for x in hhmm.split(":"))
    return datetime.datetime(day.year, day.month, day.day, h, m, tzinfo=CPH)


def day(n: int) -> datetime.date:
    return MONDAY + datetime.timedelta(days=n)


def cleaning_party(**changes: Any) -> r.ScheduleSeries:
    """Thursdays 17:00-19:00, a kitchen team of 2 and a floors team of 3."""
    tasks = [r.TaskSpec(task="kitchen", capacity=2), r.TaskSpec(task="floors", capacity=3)]
    usual = {"series_id": "cleaning", "title": "Cleaning party", "tasks": tasks}
    return _weekly("cleaning_party", [3], "17:00", "19:00", {**usual, **changes})


def duty_shift(**changes: Any) -> r.ScheduleSeries:
    """Opening the house on weekdays, 08:00-10:00: one person, a week ahead."""
    usual = {"series_id": "opening", "title": "Open the house", "capacity": 1, "weeks_ahead": 1}
    return _weekly("shift", [0, 1, 2, 3, 4], "08:00", "10:00", {**usual, **changes})


def meal_days(**changes: Any) -> r.ScheduleSeries:
    """The joint meal on Tuesdays, 17:30-19:00."""
    usual = {"series_id": "meals", "title": "Joint meal"}
    return _weekly("meal", [1], "17:30", "19:00", {**usual, **changes})


def _weekly(
    kind: r.Kind, weekdays: list[int], start: str, end: str, fields: dict[str, Any]
) -> r.ScheduleSeries:
    """A series from MONDAY on, sent that Monday at 09:00; `fields` add to it and win."""
    hours = {"kind": kind, "weekdays": weekdays, "start": start, "end": end}
    return r.ScheduleSeries(**{**hours, "starts_on": MONDAY, "at": at(MONDAY), **fields})


def as_scheduled(command: r.ScheduleSeries) -> r.SeriesScheduled:
    """The plan the rota records for `command`: the same fields, without the time it came."""
    fields = msgspec.structs.asdict(command)
    del fields["at"]
    return r.SeriesScheduled(**fields)
