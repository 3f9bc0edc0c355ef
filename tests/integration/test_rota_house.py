"""The rota's demonstrable behaviour, through `crew send` and `crew sql` on a running house.

Time comes in with the commands (`at`), so nothing here sleeps to let a deadline pass."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
from tests.integration.cli import eventually, send, sql

Env = dict[str, str]
House = tuple[Env, subprocess.Popen[str]]

MONDAY = "2030-01-07"
AT = "2030-01-07T09:00:00+01:00"
THU1, THU2, THU3 = "cleaning-20300110", "cleaning-20300117", "cleaning-20300124"
PARTY = {
    "series_id": "cleaning",
    "kind": "cleaning_party",
    "title": "Cleaning party",
    "weekdays": [3],
    "start": "17:00",
    "end": "19:00",
    "starts_on": MONDAY,
    "weeks_ahead": 3,
    "tasks": [{"task": "kitchen", "capacity": 2}, {"task": "floors", "capacity": 3}],
    "at": AT,
}


def accepted(reply: dict) -> list[str]:
    assert reply["status"] == "accepted", reply
    return [e["type"] for e in reply["events"]]


def test_a_cleaning_party_series_its_sign_ups_moves_and_changes(house: House) -> None:
    env, _ = house
    accepted(send(env, "rota.schedule_series", PARTY))
    eventually(
        env,
        "select occurrence_id, date, start_time from rota where series_id = 'cleaning'",
        [
            {"occurrence_id": THU1, "date": "2030-01-10", "start_time": "17:00"},
            {"occurrence_id": THU2, "date": "2030-01-17", "start_time": "17:00"},
            {"occurrence_id": THU3, "date": "2030-01-24", "start_time": "17:00"},
        ],
    )
    accepted(
        send(env, "rota.join_cleaning_party", {"occurrence_id": THU1, "crew_id": "anna", "at": AT})
    )
    accepted(
        send(
            env,
            "rota.take_task",
            {"occurrence_id": THU1, "crew_id": "bo", "task": "kitchen", "at": AT},
        )
    )
    checked = send(
        env,
        "rota.check_in",
        {"occurrence_id": THU1, "crew_id": "anna", "at": "2030-01-10T17:10:00+01:00"},
    )
    assert accepted(checked) == ["rota.checked_in"]
    # Moving one occurrence keeps its sign-ups.
    accepted(
        send(
            env,
            "rota.take_task",
            {"occurrence_id": THU2, "crew_id": "carla", "task": "floors", "at": AT},
        )
    )
    moved = send(
        env,
        "rota.move_occurrence",
        {"occurrence_id": THU2, "date": "2030-01-18", "reason": "concert", "at": AT},
    )
    assert accepted(moved) == ["rota.occurrence_moved"]
    eventually(
        env,
        f"select date, people, note from rota where occurrence_id = '{THU2}'",
        [
            {"date": "2030-01-18", "people": ["carla"], "note": "concert"},
        ],
    )
    # Changing the series from a date says what happened to every affected sign-up.
    accepted(
        send(
            env,
            "rota.take_task",
            {"occurrence_id": THU3, "crew_id": "dorte", "task": "floors", "at": AT},
        )
    )
    accepted(
        send(
            env,
            "rota.take_task",
            {"occurrence_id": THU3, "crew_id": "emil", "task": "kitchen", "at": AT},
        )
    )
    change = {
        "series_id": "cleaning",
        "effective_from": "2030-01-20",
        "weekdays": [4],
        "tasks": [{"task": "kitchen", "capacity": 2}],
        "at": AT,
    }
    types = accepted(send(env, "rota.change_series", change))
    assert types[0] == "rota.series_changed" and "rota.sign_up_affected" in types
    eventually(
        env,
        "select payload->>'crew_id' as crew_id, payload->>'outcome' as outcome, "
        "payload->>'moved_to' as moved_to, payload->>'task' as task "
        "from event_log where type = 'rota.sign_up_affected' order by seq",
        [
            {"crew_id": "dorte", "outcome": "moved", "moved_to": "cleaning-20300125", "task": None},
            # floors are gone: said so, on the day she was moved to
            {"crew_id": "dorte", "outcome": "task_released", "moved_to": None, "task": "floors"},
            {
                "crew_id": "emil",
                "outcome": "moved",
                "moved_to": "cleaning-20300125",
                "task": "kitchen",
            },
        ],
    )
    eventually(
        env,
        "select occurrence_id, status, people, list_transform(tasks, lambda t: t.people) as teams "
        f"from rota_rows where occurrence_id in ('{THU3}', 'cleaning-20300125') order by occurrence_id",
        [
            {"occurrence_id": THU3, "status": "cancelled", "people": [], "teams": [[], []]},
            {
                "occurrence_id": "cleaning-20300125",
                "status": "scheduled",
                "people": ["dorte", "emil"],
                "teams": [["emil"]],  # the kitchen came along with emil
            },
        ],
    )
    eventually(
        env,
        "select crew_id, occurrence_id, status, role, list_transform(history, lambda h: h.status) as steps "
        "from participation where crew_id = 'dorte' order by occurrence_id",
        [
            {
                "crew_id": "dorte",
                "occurrence_id": "cleaning-20300124",
                "status": "moved",
                "role": "floors",
                "steps": ["joined", "took_task", "moved"],
            },
            {
                "crew_id": "dorte",
                "occurrence_id": "cleaning-20300125",
                "status": "joined",
                "role": None,
                "steps": ["joined", "task_released"],  # floors are gone: said so
            },
        ],
    )


def test_a_standing_intention_claims_places_and_an_unconfirmed_claim_is_released_on_time(
    house: House,
) -> None:
    env, _ = house
    accepted(send(env, "rota.schedule_series", PARTY))
    claims = accepted(
        send(
            env,
            "rota.state_intention",
            {"series_id": "cleaning", "crew_id": "hanne", "task": "kitchen", "at": AT},
        )
    )
    assert claims.count("rota.tentative_claim_made") == 3
    eventually(
        env,
        "select occurrence_id, tentative from rota where series_id = 'cleaning'",
        [
            {"occurrence_id": THU1, "tentative": ["hanne"]},
            {"occurrence_id": THU2, "tentative": ["hanne"]},
            {"occurrence_id": THU3, "tentative": ["hanne"]},
        ],
    )
    accepted(send(env, "rota.confirm_claim", {"occurrence_id": THU1, "crew_id": "hanne", "at": AT}))
    # Tuesday before the second Thursday: 2 days before, the unconfirmed claim is released.
    released = accepted(
        send(
            env,
            "rota.advance_calendar",
            {"series_id": "cleaning", "at": "2030-01-15T09:00:00+01:00"},
        )
    )
    assert "rota.claim_released" in released
    eventually(
        env,
        "select occurrence_id, people, tentative from rota where occurrence_id in "
        f"('{THU1}', '{THU2}', '{THU3}')",
        [
            {"occurrence_id": THU1, "people": ["hanne"], "tentative": []},
            {"occurrence_id": THU2, "people": [], "tentative": []},
            {"occurrence_id": THU3, "people": [], "tentative": ["hanne"]},
        ],
    )


def test_a_hand_over_is_visible_as_covered_for_in_participation(house: House) -> None:
    env, _ = house
    accepted(send(env, "rota.schedule_series", PARTY))
    accepted(
        send(
            env,
            "rota.take_task",
            {"occurrence_id": THU1, "crew_id": "olga", "task": "kitchen", "at": AT},
        )
    )
    accepted(
        send(env, "rota.offer_hand_over", {"occurrence_id": THU1, "crew_id": "olga", "at": AT})
    )
    assert accepted(
        send(
            env,
            "rota.take_hand_over",
            {"occurrence_id": THU1, "crew_id": "peter", "from_crew_id": "olga", "at": AT},
        )
    ) == ["rota.hand_over_taken"]
    late = send(
        env,
        "rota.take_hand_over",
        {"occurrence_id": THU1, "crew_id": "ib", "from_crew_id": "olga", "at": AT},
    )
    assert late["status"] == "refused" and late["code"] == "no_hand_over_offered"
    eventually(
        env,
        "select crew_id, status, covered_for, role from participation order by crew_id",
        [
            {"crew_id": "olga", "status": "handed_over", "covered_for": None, "role": "kitchen"},
            {"crew_id": "peter", "status": "covering", "covered_for": "olga", "role": "kitchen"},
        ],
    )


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


def test_bad_input_and_unknown_ids_get_clear_replies(house: House) -> None:
    env, _ = house
    bad = send(env, "rota.schedule_series", {**PARTY, "weekdays": [9]})
    assert bad["status"] == "invalid" and bad["errors"][0]["path"] == "$.weekdays[0]"
    bad = send(
        env, "rota.join_cleaning_party", {"occurrence_id": "cleaning.2030", "crew_id": "anna"}
    )
    assert bad["status"] == "invalid" and bad["errors"][0]["path"] == "$.occurrence_id"
    unknown = send(
        env, "rota.join_cleaning_party", {"occurrence_id": "nosuch-20300110", "crew_id": "anna"}
    )
    assert (unknown["status"], unknown["code"]) == ("refused", "series_not_scheduled")
    accepted(send(env, "rota.schedule_series", PARTY))
    unknown = send(
        env, "rota.join_cleaning_party", {"occurrence_id": "cleaning-20300111", "crew_id": "anna"}
    )
    assert (unknown["status"], unknown["code"]) == ("refused", "occurrence_not_found")
    wrong = send(env, "rota.schedule_series", {**PARTY, "end": "16:00"})
    assert (wrong["status"], wrong["code"]) == ("refused", "bad_schedule")
    naive = send(
        env,
        "rota.join_cleaning_party",
        {"occurrence_id": THU1, "crew_id": "anna", "at": "2030-01-07T09:00:00"},
    )
    assert naive["status"] == "invalid" and naive["errors"][0]["path"] == "$.at", naive
    no_reason = send(env, "rota.cancel_occurrence", {"occurrence_id": THU1, "at": AT})
    assert no_reason["status"] == "invalid" and "reason" in no_reason["errors"][0]["message"]
    over = send(
        env,
        "rota.join_cleaning_party",
        {"occurrence_id": THU1, "crew_id": "anna", "at": "2030-01-11T09:00:00+01:00"},
    )
    assert (over["status"], over["code"]) == ("refused", "occurrence_over"), over
    party_with_capacity = send(
        env, "rota.schedule_series", {**PARTY, "series_id": "c2", "capacity": 9}
    )
    assert (party_with_capacity["status"], party_with_capacity["code"]) == (
        "refused",
        "bad_schedule",
    )


def test_an_as_of_query_answers_as_things_stood_before_later_changes(house: House) -> None:
    import json
    import time

    from tests.integration.cli import crew

    env, _ = house
    accepted(send(env, "rota.schedule_series", PARTY))
    accepted(
        send(env, "rota.join_cleaning_party", {"occurrence_id": THU1, "crew_id": "anna", "at": AT})
    )
    accepted(
        send(env, "meals.plan_meal", {"meal_id": "asof", "date": "2030-01-07", "helper_slots": 2})
    )
    accepted(
        send(
            env,
            "meals.volunteer_to_cook",
            {"meal_id": "asof", "crew_id": "anna", "role": "head_cook"},
        )
    )
    eventually(env, "select count(*) as n from membership_changes", [{"n": 2}])
    moment = sql(env, "select max(occurred_at)::varchar as t from event_log")[0]["t"]
    time.sleep(0.05)  # everything below happens after `moment`
    accepted(
        send(env, "rota.leave_cleaning_party", {"occurrence_id": THU1, "crew_id": "anna", "at": AT})
    )
    accepted(
        send(env, "rota.join_cleaning_party", {"occurrence_id": THU1, "crew_id": "bo", "at": AT})
    )
    accepted(send(env, "meals.withdraw", {"meal_id": "asof", "crew_id": "anna"}))
    accepted(
        send(
            env,
            "meals.volunteer_to_cook",
            {"meal_id": "asof", "crew_id": "bo", "role": "head_cook"},
        )
    )
    eventually(env, "select people from rota_as_of", [{"people": ["bo"]}])

    def as_of(query: str) -> list[dict]:
        return json.loads(crew(env, "sql", "--as-of", moment, "--format", "json", query).stdout)

    assert as_of("select people from rota_as_of") == [{"people": ["anna"]}]
    assert as_of("select head_cook from meal_plan_as_of") == [{"head_cook": "anna"}]
    assert sql(env, "select head_cook from meal_plan_as_of") == [{"head_cook": "bo"}]
    history = sql(
        env,
        "select crew_id, valid_to is null as current from membership_history "
        "where context = 'meals' order by valid_from",
    )
    assert history == [{"crew_id": "anna", "current": False}, {"crew_id": "bo", "current": True}]


def test_the_rota_view_and_participation_follow_joins_tasks_check_ins_and_leaving(
    house: House,
) -> None:
    env, _ = house
    accepted(send(env, "rota.schedule_series", PARTY))
    for who in ("anna", "dorte"):
        accepted(
            send(env, "rota.join_cleaning_party", {"occurrence_id": THU1, "crew_id": who, "at": AT})
        )
    accepted(
        send(
            env,
            "rota.take_task",
            {"occurrence_id": THU1, "crew_id": "bo", "task": "kitchen", "at": AT},
        )
    )
    accepted(
        send(
            env,
            "rota.check_in",
            {"occurrence_id": THU1, "crew_id": "anna", "at": "2030-01-10T17:05:00+01:00"},
        )
    )
    # Leaving a day ahead is fine; leaving an hour before is recorded as late, without blame.
    accepted(
        send(env, "rota.join_cleaning_party", {"occurrence_id": THU2, "crew_id": "carla", "at": AT})
    )
    accepted(
        send(
            env,
            "rota.leave_cleaning_party",
            {"occurrence_id": THU2, "crew_id": "carla", "reason": "visiting my aunt", "at": AT},
        )
    )
    accepted(
        send(
            env,
            "rota.leave_cleaning_party",
            {"occurrence_id": THU1, "crew_id": "dorte", "at": "2030-01-10T16:00:00+01:00"},
        )
    )
    eventually(
        env,
        "select kind, people, checked_in, open_places, capacity, "
        "list_transform(tasks, lambda t: {'task': t.task, 'people': t.people, 'capacity': t.capacity}) "
        f"as tasks from rota where occurrence_id = '{THU1}'",
        [
            {
                "kind": "cleaning_party",
                "people": ["anna", "bo"],
                "checked_in": ["anna"],
                "open_places": None,  # a cleaning party has room for everyone
                "capacity": None,
                "tasks": [
                    {"task": "kitchen", "people": ["bo"], "capacity": 2},
                    {"task": "floors", "people": [], "capacity": 3},
                ],
            }
        ],
    )
    eventually(
        env,
        "select crew_id, occurrence_id, kind, status, role, late, "
        "list_transform(history, lambda h: h.status) as steps from participation "
        "order by occurrence_id, crew_id",
        [
            {"crew_id": "anna", "occurrence_id": THU1, "kind": "cleaning_party",
             "status": "checked_in", "role": None, "late": False,
             "steps": ["joined", "checked_in"]},
            {"crew_id": "bo", "occurrence_id": THU1, "kind": "cleaning_party",
             "status": "joined", "role": "kitchen", "late": False,
             "steps": ["joined", "took_task"]},
            {"crew_id": "dorte", "occurrence_id": THU1, "kind": "cleaning_party",
             "status": "left_late", "role": None, "late": True,
             "steps": ["joined", "left_late"]},
            {"crew_id": "carla", "occurrence_id": THU2, "kind": "cleaning_party",
             "status": "left", "role": None, "late": False,
             "steps": ["joined", "left"]},
        ],
    )  # fmt: skip
    steps = sql(
        env,
        "select h.status, h.role, h.seq > 0 as has_seq, h.at is not null as has_at "
        "from (select unnest(history) as h from participation where crew_id = 'bo')",
    )
    assert steps == [
        {"status": "joined", "role": None, "has_seq": True, "has_at": True},
        {"status": "took_task", "role": "kitchen", "has_seq": True, "has_at": True},
    ]
    # What carla typed about herself is sealed in the log, never in plain text.
    reasons = sql(
        env,
        "select payload->>'reason' as reason from event_log where type = 'rota.left_cleaning_party'",
    )
    assert len(reasons) == 2 and not any("aunt" in (r["reason"] or "") for r in reasons)
    # Cancelling one occurrence, with a reason, releases whoever was in and says why.
    accepted(
        send(env, "rota.join_cleaning_party", {"occurrence_id": THU3, "crew_id": "emil", "at": AT})
    )
    cancelled = send(
        env, "rota.cancel_occurrence", {"occurrence_id": THU3, "reason": "house meeting", "at": AT}
    )
    assert accepted(cancelled) == ["rota.occurrence_cancelled", "rota.sign_up_affected"]
    eventually(
        env,
        f"select status, note, people from rota_rows where occurrence_id = '{THU3}'",
        [{"status": "cancelled", "note": "house meeting", "people": []}],
    )
    eventually(
        env,
        f"select status from participation where occurrence_id = '{THU3}'",
        [{"status": "released"}],
    )


SHIFT = {
    "series_id": "opening",
    "kind": "shift",
    "title": "Open the house",
    "weekdays": [1],
    "start": "08:00",
    "end": "10:00",
    "starts_on": MONDAY,
    "weeks_ahead": 2,
    "capacity": 1,
    "withdrawal_cutoff_hours": 24,
    "at": AT,
}
TUE1 = "opening-20300108"


def test_a_duty_shift_has_a_capacity_a_late_withdrawal_and_someone_covering(house: House) -> None:
    env, _ = house
    accepted(send(env, "rota.schedule_series", SHIFT))
    accepted(
        send(env, "rota.sign_up_for_shift", {"occurrence_id": TUE1, "crew_id": "anna", "at": AT})
    )
    full = send(env, "rota.sign_up_for_shift", {"occurrence_id": TUE1, "crew_id": "bo", "at": AT})
    assert (full["status"], full["code"]) == ("refused", "shift_full"), full
    withdrew = send(
        env,
        "rota.withdraw_from_shift",
        {"occurrence_id": TUE1, "crew_id": "anna", "at": "2030-01-07T20:00:00+01:00"},
    )
    assert accepted(withdrew) == ["rota.withdrew_from_shift"]
    accepted(
        send(env, "rota.sign_up_for_shift", {"occurrence_id": TUE1, "crew_id": "bo", "at": AT})
    )
    accepted(send(env, "rota.offer_hand_over", {"occurrence_id": TUE1, "crew_id": "bo", "at": AT}))
    accepted(
        send(
            env,
            "rota.take_hand_over",
            {"occurrence_id": TUE1, "crew_id": "carla", "from_crew_id": "bo", "at": AT},
        )
    )
    eventually(
        env,
        f"select kind, people, capacity, open_places from rota where occurrence_id = '{TUE1}'",
        [{"kind": "shift", "people": ["carla"], "capacity": 1, "open_places": 0}],
    )
    eventually(
        env,
        "select crew_id, kind, status, late, covered_for from participation order by crew_id",
        [
            {"crew_id": "anna", "kind": "shift", "status": "withdrawn_late", "late": True,
             "covered_for": None},
            {"crew_id": "bo", "kind": "shift", "status": "handed_over", "late": False,
             "covered_for": None},
            {"crew_id": "carla", "kind": "shift", "status": "covering", "late": False,
             "covered_for": "bo"},
        ],
    )  # fmt: skip
    # Ending the series earlier releases whoever was on a shift after the end, and says so.
    accepted(
        send(
            env,
            "rota.sign_up_for_shift",
            {"occurrence_id": "opening-20300115", "crew_id": "dorte", "at": AT},
        )
    )
    changed = send(
        env,
        "rota.change_series",
        {"series_id": "opening", "effective_from": "2030-01-14", "until": "2030-01-14", "at": AT},
    )
    assert "rota.sign_up_affected" in accepted(changed)
    again = send(
        env,
        "rota.change_series",
        {"series_id": "opening", "effective_from": "2030-01-14", "until": "2030-01-14", "at": AT},
    )
    assert accepted(again) == [], "the same change again changes nothing"
    eventually(
        env,
        "select payload->>'crew_id' as crew_id, payload->>'outcome' as outcome "
        "from event_log where type = 'rota.sign_up_affected'",
        [{"crew_id": "dorte", "outcome": "released"}],
    )


def test_a_smaller_task_list_releases_tasks_and_a_shorter_series_releases_places(
    house: House,
) -> None:
    env, _ = house
    accepted(send(env, "rota.schedule_series", PARTY))
    for who, occurrence, task in (
        ("anna", THU2, "kitchen"),
        ("bo", THU2, "floors"),
        ("dorte", THU3, None),
    ):
        if task:
            body = {"occurrence_id": occurrence, "crew_id": who, "task": task, "at": AT}
            accepted(send(env, "rota.take_task", body))
        else:
            body = {"occurrence_id": occurrence, "crew_id": who, "at": AT}
            accepted(send(env, "rota.join_cleaning_party", body))
    change = {
        "series_id": "cleaning",
        "effective_from": "2030-01-14",
        "until": "2030-01-20",  # no party after the 20th
        "tasks": [{"task": "kitchen", "capacity": 2}],  # floors are gone
        "at": AT,
    }
    accepted(send(env, "rota.change_series", change))
    eventually(
        env,
        "select payload->>'crew_id' as crew_id, payload->>'outcome' as outcome, "
        "payload->>'task' as task from event_log where type = 'rota.sign_up_affected' order by seq",
        [
            {"crew_id": "bo", "outcome": "task_released", "task": "floors"},
            {"crew_id": "dorte", "outcome": "released", "task": None},
        ],
    )
    eventually(
        env,
        "select crew_id, status, role from participation order by crew_id",
        [
            {"crew_id": "anna", "status": "joined", "role": "kitchen"},
            {"crew_id": "bo", "status": "joined", "role": None},
            {"crew_id": "dorte", "status": "released", "role": None},
        ],
    )
    eventually(
        env,
        f"select people, list_transform(tasks, lambda t: t.people) as teams from rota_rows "
        f"where occurrence_id = '{THU2}'",
        [{"people": ["anna", "bo"], "teams": [["anna"]]}],
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


def test_i_usually_cook_on_tuesdays_and_a_time_change_reaches_the_meal(house: House) -> None:
    env, _ = house
    accepted(send(env, "rota.schedule_series", MEAL_DAYS))
    eventually(env, "select count(*) as n from meal_plan", [{"n": 3}])
    accepted(
        send(
            env,
            "meals.volunteer_to_cook",
            {"meal_id": "meals-20300122", "crew_id": "bo", "role": "head_cook"},
        )
    )
    intention = {
        "series_id": "meals",
        "crew_id": "anna",
        "weekdays": [1],
        "task": "head_cook",
        "at": AT,
    }
    claims = accepted(send(env, "rota.state_intention", intention))
    assert claims.count("rota.tentative_claim_made") == 2  # the 15th and 22nd; the 8th is too near
    # The claims show in the rota view, on the meal days' rows.
    meal_days = (
        "select occurrence_id, kind, tentative, people from rota "
        "where series_id = 'meals' order by date"
    )
    eventually(
        env,
        meal_days,
        [
            {"occurrence_id": f"meals-{d}", "kind": "meal", "tentative": t, "people": []}
            for d, t in (("20300108", []), ("20300115", ["anna"]), ("20300122", ["anna"]))
        ],
    )
    accepted(
        send(
            env,
            "rota.confirm_claim",
            {"occurrence_id": "meals-20300115", "crew_id": "anna", "at": AT},
        )
    )
    eventually(
        env,
        "select occurrence_id, tentative from rota where series_id = 'meals' order by date",
        [
            {"occurrence_id": "meals-20300108", "tentative": []},
            {"occurrence_id": "meals-20300115", "tentative": []},  # confirmed: meals has her
            {"occurrence_id": "meals-20300122", "tentative": ["anna"]},
        ],
    )
    change = {"series_id": "meals", "effective_from": "2030-01-14", "start": "18:15", "at": AT}
    accepted(send(env, "rota.change_series", change))
    eventually(
        env,
        "select meal_id, time, head_cook from meal_plan order by meal_id",
        [
            {"meal_id": "meals-20300108", "time": "17:30", "head_cook": None},
            {"meal_id": "meals-20300115", "time": "18:15", "head_cook": "anna"},
            {"meal_id": "meals-20300122", "time": "18:15", "head_cook": "bo"},
        ],
    )
    # A cancelled meal is no contribution: its cooks' rows say cancelled.
    accepted(
        send(
            env,
            "rota.cancel_occurrence",
            {"occurrence_id": "meals-20300122", "reason": "holiday", "at": AT},
        )
    )
    eventually(
        env,
        "select crew_id, occurrence_id, status from participation order by occurrence_id",
        [
            {"crew_id": "anna", "occurrence_id": "meals-20300115", "status": "signed_up"},
            {"crew_id": "bo", "occurrence_id": "meals-20300122", "status": "cancelled"},
        ],
    )
    eventually(
        env,
        "select crew_id, valid_to is null as current from membership_history order by crew_id",
        [{"crew_id": "anna", "current": True}, {"crew_id": "bo", "current": False}],
    )
    # (`contributions` counts only what has happened: these 2030 meals are still ahead.)


async def test_a_cooking_claim_meals_turns_down_is_released_in_the_rota_with_the_reason(
    nats_server: NatsServer, nc: NATS, tmp_path: Path
) -> None:
    """The meals reactor hands a refused cooking claim back to the rota. (On a real nats-server
    without users: in `crew up`, the meals user may not yet send rota commands.)"""
    config = Settings(home=tmp_path, nats_url=nats_server.url)
    rota, meals = build_app(ROTA, config), build_app(MEALS, config, (follow_rota,))
    await rota.start()
    await meals.start()

    async def ask(command: str, body: dict[str, object], command_id: str) -> dict[str, object]:
        reply = await nc.request(
            f"crew.cmd.{command}",
            msgspec.json.encode(body),
            headers={subjects.COMMAND_ID: command_id},
            timeout=10,
        )
        answer: dict[str, object] = msgspec.json.decode(reply.data)
        return answer

    async def last(subject: str) -> dict[str, object] | None:
        try:
            found = await nc.jetstream().get_last_msg(subjects.STREAM, subject)
        except nats.js.errors.NotFoundError:
            return None
        decoded: dict[str, object] = msgspec.json.decode(found.data or b"{}")
        return decoded

    try:
        assert await wait_for_components(nats_server.url, ["rota", "meals"], timeout=10) == []
        assert (await ask("rota.schedule_series", MEAL_DAYS, "s"))["status"] == "accepted"
        for _ in range(100):  # the reactor plans the meal days
            if await last("crew.evt.meals.meals-20300122.meal_planned"):
                break
            await asyncio.sleep(0.1)
        cook = {"meal_id": "meals-20300122", "crew_id": "bo", "role": "head_cook"}
        assert (await ask("meals.volunteer_to_cook", cook, "v"))["status"] == "accepted"
        intention = {"series_id": "meals", "crew_id": "anna", "task": "head_cook", "at": AT}
        assert (await ask("rota.state_intention", intention, "i"))["status"] == "accepted"
        claim = {"occurrence_id": "meals-20300122", "crew_id": "anna", "at": AT}
        assert (await ask("rota.confirm_claim", claim, "c"))["status"] == "accepted"
        released = None
        for _ in range(150):
            if released := await last("crew.evt.rota.meals.claim_released"):
                break
            await asyncio.sleep(0.1)
        assert released is not None, "the refused claim was never released"
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

    async def ask(command: str, body: dict[str, object], command_id: str) -> dict[str, object]:
        reply = await nc.request(
            f"crew.cmd.{command}",
            msgspec.json.encode(body),
            headers={subjects.COMMAND_ID: command_id},
            timeout=10,
        )
        answer: dict[str, object] = msgspec.json.decode(reply.data)
        return answer

    async def appeared(subject: str) -> dict[str, object]:
        for _ in range(150):
            try:
                found = await nc.jetstream().get_last_msg(subjects.STREAM, subject)
            except nats.js.errors.NotFoundError:
                await asyncio.sleep(0.1)
                continue
            decoded: dict[str, object] = msgspec.json.decode(found.data or b"{}")
            return decoded
        raise AssertionError(f"nothing on {subject}")

    try:
        assert await wait_for_components(nats_server.url, ["rota", "meals"], timeout=10) == []
        assert (await ask("rota.schedule_series", MEAL_DAYS, "s"))["status"] == "accepted"
        intention = {"series_id": "meals", "crew_id": "anna", "task": "head_cook", "at": AT}
        assert (await ask("rota.state_intention", intention, "i"))["status"] == "accepted"
        await appeared("crew.evt.meals.meals-20300122.meal_planned")
        claim = {"occurrence_id": "meals-20300122", "crew_id": "anna", "at": AT}
        assert (await ask("rota.confirm_claim", claim, "c"))["status"] == "accepted"
        await appeared("crew.evt.meals.meals-20300122.volunteered_to_cook")
        # Nobody can free a confirmed cook in the rota by hand: meals has them cooking.
        by_hand = await ask("rota.release_claim", claim, "r")
        assert (by_hand["status"], by_hand["code"]) == ("refused", "no_claim")
        withdraw = {"meal_id": "meals-20300122", "crew_id": "anna"}
        assert (await ask("meals.withdraw", withdraw, "w"))["status"] == "accepted"
        released = await appeared("crew.evt.rota.meals.claim_released")
        assert (released["occurrence_id"], released["crew_id"], released["reason"]) == (
            "meals-20300122",
            "anna",
            "withdrew from cooking in meals",
        )
        bo = {"series_id": "meals", "crew_id": "bo", "task": "head_cook", "at": AT}
        assert (await ask("rota.state_intention", bo, "b"))["status"] == "accepted"
        claim_made = await appeared("crew.evt.rota.meals.tentative_claim_made")
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

    async def ask(command: str, body: dict[str, object], command_id: str) -> str:
        reply = await nc.request(
            f"crew.cmd.{command}",
            msgspec.json.encode(body),
            headers={subjects.COMMAND_ID: command_id},
            timeout=10,
        )
        status: str = msgspec.json.decode(reply.data)["status"]
        return status

    async def appeared(subject: str) -> None:
        for _ in range(150):
            try:
                await nc.jetstream().get_last_msg(subjects.STREAM, subject)
                return
            except nats.js.errors.NotFoundError:
                await asyncio.sleep(0.1)
        raise AssertionError(f"nothing on {subject}")

    try:
        assert await wait_for_components(nats_server.url, ["rota", "meals"], timeout=10) == []
        assert await ask("rota.schedule_series", MEAL_DAYS, "s") == "accepted"
        await appeared("crew.evt.meals.meals-20300115.meal_planned")
        for days, command_id in (([2], "wed"), ([1], "tue")):
            change = {"series_id": "meals", "effective_from": "2030-01-14", "weekdays": days}
            assert await ask("rota.change_series", {**change, "at": AT}, command_id) == "accepted"
        await appeared("crew.evt.meals.meals-20300115.meal_cancelled")
        await appeared("crew.evt.meals.meals-20300115-r1.meal_planned")
        claim = {"occurrence_id": "meals-20300115", "crew_id": "anna", "at": AT}
        intention = {"series_id": "meals", "crew_id": "anna", "task": "head_cook", "at": AT}
        assert await ask("rota.state_intention", intention, "i") == "accepted"
        assert await ask("rota.confirm_claim", claim, "c") == "accepted"
        await appeared("crew.evt.meals.meals-20300115-r1.volunteered_to_cook")
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

    async def ask(command: str, body: dict[str, object], command_id: str) -> str:
        reply = await nc.request(
            f"crew.cmd.{command}",
            msgspec.json.encode(body),
            headers={subjects.COMMAND_ID: command_id},
            timeout=10,
        )
        status: str = msgspec.json.decode(reply.data)["status"]
        return status

    without_calendar = build_app(ROTA, config)
    await without_calendar.start()
    try:
        assert await wait_for_components(nats_server.url, ["rota"], timeout=10) == []
        assert await ask("rota.schedule_series", shift, "s") == "accepted"
        assert await ask("rota.state_intention", intention, "i") == "accepted"
    finally:
        await without_calendar.stop()
    with_calendar = build_app(ROTA, config, (keep_calendar,))
    await with_calendar.start()
    try:
        released = None
        for _ in range(150):
            with contextlib.suppress(nats.js.errors.NotFoundError):
                found = await nc.jetstream().get_last_msg(
                    subjects.STREAM, "crew.evt.rota.opening.claim_released"
                )
                released = msgspec.json.decode(found.data or b"{}")
                break
            await asyncio.sleep(0.1)
        assert released is not None, "no claim was released at start-up"
        assert (released["crew_id"], released["reason"]) == ("anna", "not confirmed 2 days before")
    finally:
        await with_calendar.stop()
