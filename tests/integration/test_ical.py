"""A person's calendar feed over real HTTP from a running house: the meals they cook, their
cleaning parties and shifts, parsed with `icalendar`; and its key rotated and revoked."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import icalendar

from tests.integration.cli import crew, eventually, send

House = tuple[dict[str, str], subprocess.Popen[str]]

AT = "2030-01-07T09:00:00+01:00"
PARTY = {"series_id": "cleaning", "kind": "cleaning_party", "title": "Cleaning party",
         "weekdays": [3], "start": "17:00", "end": "19:00", "starts_on": "2030-01-07",
         "weeks_ahead": 2, "at": AT}  # fmt: skip
SHIFT = {"series_id": "bar", "kind": "shift", "title": "Bar shift", "weekdays": [5],
         "start": "20:00", "end": "23:00", "starts_on": "2030-01-07", "weeks_ahead": 1,
         "capacity": 2, "at": AT}  # fmt: skip


def accepted(reply: dict[str, Any]) -> None:
    assert reply["status"] == "accepted", reply


def feed_url(env: dict[str, str], crew_id: str) -> str:
    port = json.loads((Path(env["CREW_HOME"]) / "house.json").read_text())["http_port"]
    printed = crew(env, "ical", crew_id, "--base-url", f"http://127.0.0.1:{port}").stdout
    return printed.splitlines()[1]


def events_in(url: str) -> list[tuple[str, datetime, datetime]]:
    response = httpx.get(url, timeout=20)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(response.text)
    events = list(calendar.walk("VEVENT"))
    assert len({str(e["UID"]) for e in events}) == len(events), "every UID is its own"
    return sorted((str(e["SUMMARY"]), e.decoded("DTSTART"), e.decoded("DTEND")) for e in events)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_feed_lists_the_meals_cleaning_parties_and_shifts_a_person_is_in(
    house: House,
) -> None:
    env, _ = house
    accepted(send(env, "rota.schedule_series", PARTY))
    accepted(send(env, "rota.schedule_series", SHIFT))
    accepted(send(env, "meals.plan_meal", {"meal_id": "cal", "date": "2030-01-09", "helper_slots": 2}))  # fmt: skip
    accepted(send(env, "meals.volunteer_to_cook", {"meal_id": "cal", "crew_id": "anna", "role": "helper"}))  # fmt: skip
    accepted(send(env, "meals.plan_meal", {"meal_id": "cook", "date": "2030-01-07", "helper_slots": 2}))  # fmt: skip
    cook = {"meal_id": "cook", "crew_id": "anna", "role": "head_cook"}
    accepted(send(env, "meals.volunteer_to_cook", cook))
    for occurrence in ("cleaning-20300110", "cleaning-20300117"):
        body = {"occurrence_id": occurrence, "crew_id": "anna", "at": AT}
        accepted(send(env, "rota.join_cleaning_party", body))
    shift = {"occurrence_id": "bar-20300112", "crew_id": "anna", "at": AT}
    accepted(send(env, "rota.sign_up_for_shift", shift))
    party = {"occurrence_id": "cleaning-20300110", "crew_id": "bo", "at": AT}
    accepted(send(env, "rota.join_cleaning_party", party))
    # a cancelled occurrence leaves the feed
    cancel = {"occurrence_id": "cleaning-20300117", "reason": "house_closed", "at": AT}
    accepted(send(env, "rota.cancel_occurrence", cancel))
    eventually(
        env,
        "select occurrence_id, status from rota where list_contains(people, 'anna') "
        "order by occurrence_id",
        [
            {"occurrence_id": "bar-20300112", "status": "scheduled"},
            {"occurrence_id": "cleaning-20300110", "status": "scheduled"},
        ],
    )
    eventually(
        env,
        "select meal_id, head_cook, helpers from meal_plan order by meal_id",
        [
            {"meal_id": "cal", "head_cook": None, "helpers": ["anna"]},
            {"meal_id": "cook", "head_cook": "anna", "helpers": []},
        ],
    )
    # In January the house (Europe/Copenhagen) is one hour ahead of UTC.
    assert events_in(feed_url(env, "anna")) == [
        ("Bar shift", utc("2030-01-12T19:00:00"), utc("2030-01-12T22:00:00")),
        ("Cleaning party", utc("2030-01-10T16:00:00"), utc("2030-01-10T18:00:00")),
        # the daily joint meal is lunch: 12:00 house time unless planned otherwise
        ("Joint meal: head cook", utc("2030-01-07T11:00:00"), utc("2030-01-07T13:00:00")),
        ("Joint meal: helper", utc("2030-01-09T11:00:00"), utc("2030-01-09T13:00:00")),
    ]
    assert events_in(feed_url(env, "bo")) == [
        ("Cleaning party", utc("2030-01-10T16:00:00"), utc("2030-01-10T18:00:00")),
    ]


def test_a_feed_key_rotates_and_a_revoked_feed_is_gone(house: House) -> None:
    env, _ = house
    first = feed_url(env, "anna")
    assert httpx.get(first, timeout=20).status_code == 200
    assert httpx.get(first.replace("key=", "key=x"), timeout=20).status_code == 404
    second = feed_url(env, "anna")  # asking again rotates the key
    assert second != first
    assert httpx.get(first, timeout=20).status_code == 404, "the old address stops working"
    assert httpx.get(second, timeout=20).status_code == 200
    bo_key = feed_url(env, "bo").split("key=", 1)[1]
    someone_elses = second.split("key=", 1)[0] + f"key={bo_key}"
    assert httpx.get(someone_elses, timeout=20).status_code == 404, "a key opens one feed"
    assert httpx.get(second.split("?", 1)[0], timeout=20).status_code == 404, "no key, no feed"
    revoked = crew(env, "ical", "anna", "--revoke")
    assert "anna: calendar feed revoked" in revoked.stdout
    assert httpx.get(second, timeout=20).status_code == 404
    again = crew(env, "ical", "anna", "--revoke", check=False)
    assert again.returncode == 1 and "did not exist" in again.stdout
    assert httpx.get(feed_url(env, "bo"), timeout=20).status_code == 200, "bo's feed goes on"
