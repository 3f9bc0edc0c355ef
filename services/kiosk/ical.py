"""A personal calendar feed: upcoming meals someone cooks for, cleaning parties, shifts and
the activities they have a place or a task at.

`crew ical <crew_id>` prints the feed's URL; its secret is stored only as a hash, and asking
again rotates it (the old URL stops working)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from projections.activity_queries import CalendarActivity
from projections.queries import CalendarMeal, CalendarShift

HOUSE = ZoneInfo("Europe/Copenhagen")


def _utc(d: datetime.date, hhmm: str) -> str:
    h, m = (int(x) for x in hhmm.split(":"))
    local = datetime.datetime(d.year, d.month, d.day, h, m, tzinfo=HOUSE)
    return local.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def _text(value: str) -> str:
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def feed(
    crew_id: str,
    meals: Iterable[CalendarMeal],
    rota: Iterable[CalendarShift],
    now: datetime.datetime,
    activities: Iterable[CalendarActivity] = (),
) -> str:
    stamp = now.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//crew//kiosk//EN", "CALSCALE:GREGORIAN",
             "X-WR-CALNAME:crew"]  # fmt: skip

    def event(uid: str, start: str, end: str, summary: str) -> None:
        lines.extend(["BEGIN:VEVENT", f"UID:{uid}@crew", f"DTSTAMP:{stamp}", f"DTSTART:{start}", f"DTEND:{end}",
                      f"SUMMARY:{_text(summary)}", "END:VEVENT"])  # fmt: skip

    for meal in meals:
        role = "head cook" if meal.head_cook == crew_id else "helper"
        h, m = (int(x) for x in meal.time.split(":"))
        end = meal.ends_at or f"{min(h + 2, 23):02d}:{m:02d}"
        event(f"meal-{meal.meal_id}-{crew_id}", _utc(meal.date, meal.time), _utc(meal.date, end),
              f"Joint meal: {role}")  # fmt: skip
    for occ in rota:
        event(f"rota-{occ.occurrence_id}-{crew_id}", _utc(occ.date, occ.start_time),
              _utc(occ.date, occ.end_time), occ.title)  # fmt: skip
    for act in activities:  # house time, as the view gives it
        start, end = (_utc(t.date(), f"{t:%H:%M}") for t in (act.starts_at, act.ends_at))
        event(f"activity-{act.activity_id}-{crew_id}", start, end, act.title)
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"
