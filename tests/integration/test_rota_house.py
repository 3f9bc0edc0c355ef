"""The rota in a running house: one end-to-end case through `crew send` and `crew sql` (the
rota's behaviour itself is in tests/scenarios/test_rota.py), and its followers and calendar as
they run beside the services on a real nats-server.

Time comes in with the commands (`at`), so nothing here sleeps to let a deadline pass."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import nats.js.errors
from nats.aio.client import Client as NATS

from crew import subjects
from crew.service import build_app
from crew.settings import Settings
from house.client import wait_for_components
from house.natsserver import NatsServer
from services.meals.decider import MEALS
from services.meals.follows_rota import follow_rota
from services.rota.calendar import keep_calendar
from services.rota.decider import ROTA
from services.rota.follows_meals import follow_meals
from tests.integration.cli import eventually, send
from tests.polling import eventually_async

Env = dict[str, str]
House = tuple[Env, subprocess.Popen[str]]

MONDAY = "2030-01-07"
AT = "2030-01-07T09:00:00+01:00"


def accepted(reply: dict) -> list[str]:
    assert reply["status"] == "accepted", reply
    return [e["type"] for e in reply["events"]]


def test_meal_days_come_from_a_rota_series_and_follow_its_moves(house: House) -> None:
    env, _ = house
    meal_days = {
        "series_id": "meals",
        "kind": "meal",
        "title": "Joint meal",
        "weekdays": [0, 2],
        "start": "17:30",
        "end": "19:00",
        "starts_on": MONDAY,
        "weeks_ahead": 1,
        "seats": 30,
        "at": AT,
    }
    accepted(send(env, "rota.schedule_series", meal_days))
    eventually(
        env,
        "select meal_id, date, time, seats, status from meal_plan order by meal_id",
        [
            {
                "meal_id": "meals-20300107",
                "date": "2030-01-07",
                "time": "17:30",
                "seats": 30,
                "status": "open",
            },
            {
                "meal_id": "meals-20300109",
                "date": "2030-01-09",
                "time": "17:30",
                "seats": 30,
                "status": "open",
            },
            {
                "meal_id": "meals-20300114",
                "date": "2030-01-14",
                "time": "17:30",
                "seats": 30,
                "status": "open",
            },
        ],
    )
    accepted(
        send(
            env,
            "meals.volunteer_to_cook",
            {"meal_id": "meals-20300109", "crew_id": "anna", "role": "head_cook"},
        )
    )
    accepted(
        send(
            env,
            "rota.move_occurrence",
            {
                "occurrence_id": "meals-20300109",
                "date": "2030-01-10",
                "start": "18:00",
                "reason": "concert",
                "at": AT,
            },
        )
    )
    accepted(
        send(
            env,
            "rota.cancel_occurrence",
            {"occurrence_id": "meals-20300114", "reason": "holiday", "at": AT},
        )
    )
    eventually(
        env,
        "select meal_id, date, time, head_cook, status from meal_plan order by meal_id",
        [
            {
                "meal_id": "meals-20300107",
                "date": "2030-01-07",
                "time": "17:30",
                "head_cook": None,
                "status": "open",
            },
            {
                "meal_id": "meals-20300109",
                "date": "2030-01-10",
                "time": "18:00",
                "head_cook": "anna",
                "status": "open",
            },
            {
                "meal_id": "meals-20300114",
                "date": "2030-01-14",
                "time": "17:30",
                "head_cook": None,
                "status": "cancelled",
            },
        ],
    )


MEAL_DAYS = {
    "series_id": "meals",
    "kind": "meal",
    "title": "Joint meal",
    "weekdays": [1],
    "start": "17:30",
    "end": "19:00",
    "starts_on": MONDAY,
    "weeks_ahead": 3,
    "at": AT,
}


async def ask(nc: NATS, command: str, body: dict[str, Any], command_id: str) -> dict[str, Any]:
    reply = await nc.request(
        f"crew.cmd.{command}",
        msgspec.json.encode(body),
        headers={subjects.COMMAND_ID: command_id},
        timeout=10,
    )
    answer: dict[str, Any] = msgspec.json.decode(reply.data)
    return answer


async def appeared(nc: NATS, subject: str) -> dict[str, Any]:
    """The last event on `subject`, once there is one."""
    found = await eventually_async(
        lambda: nc.jetstream().get_last_msg(subjects.STREAM, subject),
        ignoring=(nats.js.errors.NotFoundError,),
        what=f"an event on {subject}",
    )
    decoded: dict[str, Any] = msgspec.json.decode(found.data or b"{}")
    return decoded


async def test_a_cooking_claim_meals_turns_down_is_released_in_the_rota_with_the_reason(
    nats_server: NatsServer, nc: NATS, tmp_path: Path
) -> None:
    """The meals reactor hands a refused cooking claim back to the rota. (On a real nats-server
    without users: in `crew up`, the meals user may not yet send rota commands.)"""
    config = Settings(home=tmp_path, nats_url=nats_server.url)
    rota, meals = build_app(ROTA, config), build_app(MEALS, config, (follow_rota,))
    await rota.start()
    await meals.start()
    try:
        assert await wait_for_components(nats_server.url, ["rota", "meals"], timeout=10) == []
        assert (await ask(nc, "rota.schedule_series", MEAL_DAYS, "s"))["status"] == "accepted"
        await appeared(nc, "crew.evt.meals.meals-20300122.meal_planned")  # the reactor planned it
        cook = {"meal_id": "meals-20300122", "crew_id": "bo", "role": "head_cook"}
        assert (await ask(nc, "meals.volunteer_to_cook", cook, "v"))["status"] == "accepted"
        intention = {"series_id": "meals", "crew_id": "anna", "task": "head_cook", "at": AT}
        assert (await ask(nc, "rota.state_intention", intention, "i"))["status"] == "accepted"
        claim = {"occurrence_id": "meals-20300122", "crew_id": "anna", "at": AT}
        assert (await ask(nc, "rota.confirm_claim", claim, "c"))["status"] == "accepted"
        released = await appeared(nc, "crew.evt.rota.meals.claim_released")
        assert (released["occurrence_id"], released["crew_id"], released["reason"]) == (
            "meals-20300122",
            "anna",
            "the meals service said no (head_cook_taken)",
        )
    finally:
        await meals.stop()
        await rota.stop()


async def test_a_cook_who_withdraws_in_meals_frees_the_place_in_the_rota(
    nats_server: NatsServer, nc: NATS, tmp_path: Path
) -> None:
    """The rota follows `meals.withdrew`: the confirmed place goes back to the rota, so an
    intention can claim it again. (On a real nats-server without users.)"""
    config = Settings(home=tmp_path, nats_url=nats_server.url)
    rota = build_app(ROTA, config, (follow_meals,))
    meals = build_app(MEALS, config, (follow_rota,))
    await rota.start()
    await meals.start()
    try:
        assert await wait_for_components(nats_server.url, ["rota", "meals"], timeout=10) == []
        assert (await ask(nc, "rota.schedule_series", MEAL_DAYS, "s"))["status"] == "accepted"
        intention = {"series_id": "meals", "crew_id": "anna", "task": "head_cook", "at": AT}
        assert (await ask(nc, "rota.state_intention", intention, "i"))["status"] == "accepted"
        await appeared(nc, "crew.evt.meals.meals-20300122.meal_planned")
        claim = {"occurrence_id": "meals-20300122", "crew_id": "anna", "at": AT}
        assert (await ask(nc, "rota.confirm_claim", claim, "c"))["status"] == "accepted"
        await appeared(nc, "crew.evt.meals.meals-20300122.volunteered_to_cook")
        # Nobody can free a confirmed cook in the rota by hand: meals has them cooking.
        by_hand = await ask(nc, "rota.release_claim", claim, "r")
        assert (by_hand["status"], by_hand["code"]) == ("refused", "no_claim")
        withdraw = {"meal_id": "meals-20300122", "crew_id": "anna"}
        assert (await ask(nc, "meals.withdraw", withdraw, "w"))["status"] == "accepted"
        released = await appeared(nc, "crew.evt.rota.meals.claim_released")
        assert (released["occurrence_id"], released["crew_id"], released["reason"]) == (
            "meals-20300122",
            "anna",
            "withdrew from cooking in meals",
        )
        bo = {"series_id": "meals", "crew_id": "bo", "task": "head_cook", "at": AT}
        assert (await ask(nc, "rota.state_intention", bo, "b"))["status"] == "accepted"
        claim_made = await appeared(nc, "crew.evt.rota.meals.tentative_claim_made")
        assert (claim_made["occurrence_id"], claim_made["crew_id"]) == ("meals-20300122", "bo"), (
            "the place anna left is open again (the 15th is anna's tentative claim)"
        )
    finally:
        await meals.stop()
        await rota.stop()


async def test_a_meal_day_a_series_change_brings_back_is_planned_again_in_meals(
    nats_server: NatsServer, nc: NATS, tmp_path: Path
) -> None:
    """Tuesdays -> Wednesdays -> Tuesdays: meals cannot plan a cancelled meal again, so the
    day that comes back is a new meal, `<occurrence_id>-r1`, and its cooking claims reach it."""
    config = Settings(home=tmp_path, nats_url=nats_server.url)
    rota = build_app(ROTA, config, (follow_meals,))
    meals = build_app(MEALS, config, (follow_rota,))
    await rota.start()
    await meals.start()
    try:
        assert await wait_for_components(nats_server.url, ["rota", "meals"], timeout=10) == []
        assert (await ask(nc, "rota.schedule_series", MEAL_DAYS, "s"))["status"] == "accepted"
        await appeared(nc, "crew.evt.meals.meals-20300115.meal_planned")
        for days, command_id in (([2], "wed"), ([1], "tue")):
            change = {"series_id": "meals", "effective_from": "2030-01-14", "weekdays": days}
            reply = await ask(nc, "rota.change_series", {**change, "at": AT}, command_id)
            assert reply["status"] == "accepted"
        await appeared(nc, "crew.evt.meals.meals-20300115.meal_cancelled")
        await appeared(nc, "crew.evt.meals.meals-20300115-r1.meal_planned")
        claim = {"occurrence_id": "meals-20300115", "crew_id": "anna", "at": AT}
        intention = {"series_id": "meals", "crew_id": "anna", "task": "head_cook", "at": AT}
        assert (await ask(nc, "rota.state_intention", intention, "i"))["status"] == "accepted"
        assert (await ask(nc, "rota.confirm_claim", claim, "c"))["status"] == "accepted"
        await appeared(nc, "crew.evt.meals.meals-20300115-r1.volunteered_to_cook")
    finally:
        await meals.stop()
        await rota.stop()


async def test_the_calendar_ticks_at_start_up_and_releases_claims_that_expired_meanwhile(
    nats_server: NatsServer, nc: NATS, tmp_path: Path
) -> None:
    """Claims made a week ago (by the clock in their commands) on a daily shift: when the rota
    service starts, its calendar's first tick, not one an hour later, releases those that are
    now within `claim_confirm_days`. The calendar reads the real clock, so the series is set
    around today."""
    config = Settings(home=tmp_path, nats_url=nats_server.url)
    week_ago = datetime.now(UTC) - timedelta(days=7)
    shift = {
        "series_id": "opening",
        "kind": "shift",
        "title": "Open the house",
        "weekdays": [0, 1, 2, 3, 4, 5, 6],
        "start": "08:00",
        "end": "10:00",
        "starts_on": week_ago.date().isoformat(),
        "capacity": 1,
        "weeks_ahead": 3,
        "at": week_ago.isoformat(),
    }
    intention = {"series_id": "opening", "crew_id": "anna", "at": week_ago.isoformat()}
    without_calendar = build_app(ROTA, config)
    await without_calendar.start()
    try:
        assert await wait_for_components(nats_server.url, ["rota"], timeout=10) == []
        assert (await ask(nc, "rota.schedule_series", shift, "s"))["status"] == "accepted"
        assert (await ask(nc, "rota.state_intention", intention, "i"))["status"] == "accepted"
    finally:
        await without_calendar.stop()
    with_calendar = build_app(ROTA, config, (keep_calendar,))
    await with_calendar.start()
    try:
        released = await appeared(nc, "crew.evt.rota.opening.claim_released")
        assert (released["crew_id"], released["reason"]) == ("anna", "not confirmed 2 days before")
    finally:
        await with_calendar.stop()
