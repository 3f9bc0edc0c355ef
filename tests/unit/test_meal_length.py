"""A meal's length: a moved meal keeps it, and a person's calendar shows it."""

from __future__ import annotations

import datetime

from projections.meal_plan import moved_end
from projections.queries import CalendarMeal
from services.kiosk import ical


def test_a_moved_meal_keeps_its_length() -> None:
    assert moved_end("13:00", "12:00", "12:30") == "13:30"
    assert moved_end("13:00", "12:00", "11:00") == "12:00"
    assert moved_end(None, "12:00", "18:00") is None


def test_a_meal_moved_past_midnight_has_no_known_end() -> None:
    assert moved_end("23:30", "22:00", "23:00") is None


def test_the_calendar_ends_a_meal_at_its_end_or_after_two_hours() -> None:
    day = datetime.date(2026, 12, 8)
    now = datetime.datetime(2026, 12, 5, tzinfo=datetime.UTC)
    with_end = CalendarMeal(meal_id="m1", date=day, time="12:00", head_cook="anna", ends_at="13:00")
    without = CalendarMeal(meal_id="m2", date=day, time="12:00", head_cook="anna")
    lines = ical.feed("anna", [with_end, without], [], now).splitlines()
    ends = [line for line in lines if line.startswith("DTEND:")]
    assert ends == ["DTEND:20261208T120000Z", "DTEND:20261208T130000Z"]  # Copenhagen is UTC+1
