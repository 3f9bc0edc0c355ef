"""The rota's demonstrable behaviour, through `crew send` and `crew sql` on a running house.

Time comes in with the commands (`at`), so nothing here sleeps to let a deadline pass."""

from __future__ import annotations

import subprocess

from tests.integration.cli import eventually, send

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
        "payload->>'moved_to' as moved_to from event_log where type = 'rota.sign_up_affected'",
        [{"crew_id": "dorte", "outcome": "moved", "moved_to": "cleaning-20300125"}],
    )
    eventually(
        env,
        "select occurrence_id, status, people from rota_rows where occurrence_id in "
        f"('{THU3}', 'cleaning-20300125') order by occurrence_id",
        [
            {"occurrence_id": THU3, "status": "cancelled", "people": []},
            {"occurrence_id": "cleaning-20300125", "status": "scheduled", "people": ["dorte"]},
        ],
    )
    eventually(
        env,
        "select crew_id, occurrence_id, status, history from participation where crew_id = 'dorte' "
        "order by occurrence_id",
        [
            {
                "crew_id": "dorte",
                "occurrence_id": "cleaning-20300124",
                "status": "moved",
                "history": ["joined", "moved"],
            },
            {
                "crew_id": "dorte",
                "occurrence_id": "cleaning-20300125",
                "status": "joined",
                "history": ["joined"],
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
            {"occurrence_id": "meals-20300109", "date": "2030-01-10", "start": "18:00", "at": AT},
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


def test_an_as_of_query_answers_as_things_stood_before_later_changes(house: House) -> None:
    import json
    import time

    from tests.integration.cli import crew, sql

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
