"""The rota's behaviour in the house: series, sign-ups, moves and changes, intentions and
claims, hand-overs, shifts, and the meal days meals follows; through the views.

Time comes in with the commands (`at`), so nothing here waits for a deadline to pass."""

from __future__ import annotations

from datetime import date, datetime

import msgspec

from schemas import meals as m
from schemas import rota as r
from tests.scenarios.harness import House, accepted, invalid, refused
from tests.series import MONDAY, cleaning_party, duty_shift, meal_days


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


AT = at("2030-01-07T09:00:00+01:00")
THU1, THU2, THU3 = "cleaning-20300110", "cleaning-20300117", "cleaning-20300124"
PARTY = cleaning_party(weeks_ahead=3, at=AT)
SHIFT = duty_shift(weekdays=[1], weeks_ahead=2, at=AT)
TUE1 = "opening-20300108"
MEAL_DAYS = meal_days(weeks_ahead=3, at=AT)


async def test_a_cleaning_party_series_its_sign_ups_moves_and_changes(house: House) -> None:
    accepted(await house.send(PARTY))
    assert house.sql(
        "select occurrence_id, date, start_time from rota where series_id = 'cleaning'"
    ) == [
        {"occurrence_id": THU1, "date": "2030-01-10", "start_time": "17:00"},
        {"occurrence_id": THU2, "date": "2030-01-17", "start_time": "17:00"},
        {"occurrence_id": THU3, "date": "2030-01-24", "start_time": "17:00"},
    ]
    accepted(await house.send(r.JoinCleaningParty(occurrence_id=THU1, crew_id="anna", at=AT)))
    accepted(await house.send(r.TakeTask(occurrence_id=THU1, crew_id="bo", task="kitchen", at=AT)))
    checked = await house.send(
        r.CheckIn(occurrence_id=THU1, crew_id="anna", at=at("2030-01-10T17:10:00+01:00"))
    )
    assert accepted(checked) == ["rota.checked_in"]
    # Moving one occurrence keeps its sign-ups.
    accepted(
        await house.send(r.TakeTask(occurrence_id=THU2, crew_id="carla", task="floors", at=AT))
    )
    moved = await house.send(
        r.MoveOccurrence(occurrence_id=THU2, date=date(2030, 1, 18), reason="concert", at=AT)
    )
    assert accepted(moved) == ["rota.occurrence_moved"]
    assert house.sql(f"select date, people, note from rota where occurrence_id = '{THU2}'") == [
        {"date": "2030-01-18", "people": ["carla"], "note": "concert"},
    ]
    # Changing the series from a date says what happened to every affected sign-up.
    accepted(
        await house.send(r.TakeTask(occurrence_id=THU3, crew_id="dorte", task="floors", at=AT))
    )
    accepted(
        await house.send(r.TakeTask(occurrence_id=THU3, crew_id="emil", task="kitchen", at=AT))
    )
    change = r.ChangeSeries(
        series_id="cleaning",
        effective_from=date(2030, 1, 20),
        weekdays=[4],
        tasks=[r.TaskSpec(task="kitchen", capacity=2)],
        at=AT,
    )
    types = accepted(await house.send(change))
    assert types[0] == "rota.series_changed" and "rota.sign_up_affected" in types
    assert house.sql(
        "select payload->>'crew_id' as crew_id, payload->>'outcome' as outcome, "
        "payload->>'moved_to' as moved_to, payload->>'task' as task "
        "from event_log where type = 'rota.sign_up_affected' order by seq"
    ) == [
        {"crew_id": "dorte", "outcome": "moved", "moved_to": "cleaning-20300125", "task": None},
        # floors are gone: said so, on the day she was moved to
        {"crew_id": "dorte", "outcome": "task_released", "moved_to": None, "task": "floors"},
        {"crew_id": "emil", "outcome": "moved", "moved_to": "cleaning-20300125", "task": "kitchen"},
    ]
    assert house.sql(
        "select occurrence_id, status, people, list_transform(tasks, lambda t: t.people) as teams "
        f"from rota_rows where occurrence_id in ('{THU3}', 'cleaning-20300125') order by occurrence_id"
    ) == [
        {"occurrence_id": THU3, "status": "cancelled", "people": [], "teams": [[], []]},
        {
            "occurrence_id": "cleaning-20300125",
            "status": "scheduled",
            "people": ["dorte", "emil"],
            "teams": [["emil"]],  # the kitchen came along with emil
        },
    ]
    assert house.sql(
        "select crew_id, occurrence_id, status, role, list_transform(history, lambda h: h.status) as steps "
        "from participation where crew_id = 'dorte' order by occurrence_id"
    ) == [
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
    ]


async def test_a_standing_intention_claims_places_and_an_unconfirmed_claim_is_released_on_time(
    house: House,
) -> None:
    accepted(await house.send(PARTY))
    claims = accepted(
        await house.send(
            r.StateIntention(series_id="cleaning", crew_id="hanne", task="kitchen", at=AT)
        )
    )
    assert claims.count("rota.tentative_claim_made") == 3
    assert house.sql("select occurrence_id, tentative from rota where series_id = 'cleaning'") == [
        {"occurrence_id": THU1, "tentative": ["hanne"]},
        {"occurrence_id": THU2, "tentative": ["hanne"]},
        {"occurrence_id": THU3, "tentative": ["hanne"]},
    ]
    accepted(await house.send(r.ConfirmClaim(occurrence_id=THU1, crew_id="hanne", at=AT)))
    # Tuesday before the second Thursday: 2 days before, the unconfirmed claim is released.
    released = accepted(
        await house.send(
            r.AdvanceCalendar(series_id="cleaning", at=at("2030-01-15T09:00:00+01:00"))
        )
    )
    assert "rota.claim_released" in released
    assert house.sql(
        "select occurrence_id, people, tentative from rota where occurrence_id in "
        f"('{THU1}', '{THU2}', '{THU3}')"
    ) == [
        {"occurrence_id": THU1, "people": ["hanne"], "tentative": []},
        {"occurrence_id": THU2, "people": [], "tentative": []},
        {"occurrence_id": THU3, "people": [], "tentative": ["hanne"]},
    ]


async def test_the_calendar_releases_claims_not_confirmed_in_time_as_it_ticks(
    house: House,
) -> None:
    """The same release, from the calendar's own tick (what `keep_calendar` sends each hour)."""
    accepted(await house.send(PARTY))
    accepted(
        await house.send(
            r.StateIntention(series_id="cleaning", crew_id="hanne", task="kitchen", at=AT)
        )
    )
    await house.tick(at("2030-01-15T09:00:00+01:00"))
    assert house.sql("select occurrence_id, tentative from rota where series_id = 'cleaning'") == [
        {"occurrence_id": THU1, "tentative": []},
        {"occurrence_id": THU2, "tentative": []},
        {"occurrence_id": THU3, "tentative": ["hanne"]},
        # the horizon moved on a week, and the intention claims the new party too
        {"occurrence_id": "cleaning-20300131", "tentative": ["hanne"]},
    ]
    logged = len(house.log)
    await house.tick(at("2030-01-15T09:30:00+01:00"))  # the same hour: nothing twice
    assert len(house.log) == logged


async def test_a_hand_over_is_visible_as_covered_for_in_participation(house: House) -> None:
    accepted(await house.send(PARTY))
    accepted(
        await house.send(r.TakeTask(occurrence_id=THU1, crew_id="olga", task="kitchen", at=AT))
    )
    accepted(await house.send(r.OfferHandOver(occurrence_id=THU1, crew_id="olga", at=AT)))
    taken = await house.send(
        r.TakeHandOver(occurrence_id=THU1, crew_id="peter", from_crew_id="olga", at=AT)
    )
    assert accepted(taken) == ["rota.hand_over_taken"]
    late = await house.send(
        r.TakeHandOver(occurrence_id=THU1, crew_id="ib", from_crew_id="olga", at=AT)
    )
    assert refused(late) == "no_hand_over_offered"
    assert house.sql(
        "select crew_id, status, covered_for, role from participation order by crew_id"
    ) == [
        {"crew_id": "olga", "status": "handed_over", "covered_for": None, "role": "kitchen"},
        {"crew_id": "peter", "status": "covering", "covered_for": "olga", "role": "kitchen"},
    ]


async def test_bad_input_and_unknown_ids_get_clear_replies(house: House) -> None:
    body = msgspec.to_builtins(PARTY)
    bad = await house.deliver("rota.schedule_series", {**body, "weekdays": [9]})
    assert invalid(bad)[0].path == "$.weekdays[0]"
    bad = await house.deliver(
        "rota.join_cleaning_party", {"occurrence_id": "cleaning.2030", "crew_id": "anna"}
    )
    assert invalid(bad)[0].path == "$.occurrence_id"
    unknown = await house.send(r.JoinCleaningParty(occurrence_id="nosuch-20300110", crew_id="anna"))
    assert refused(unknown) == "series_not_scheduled"
    accepted(await house.send(PARTY))
    unknown = await house.send(
        r.JoinCleaningParty(occurrence_id="cleaning-20300111", crew_id="anna")
    )
    assert refused(unknown) == "occurrence_not_found"
    assert refused(await house.send(msgspec.structs.replace(PARTY, end="16:00"))) == "bad_schedule"
    naive = await house.deliver(
        "rota.join_cleaning_party",
        {"occurrence_id": THU1, "crew_id": "anna", "at": "2030-01-07T09:00:00"},
    )
    assert invalid(naive)[0].path == "$.at"
    no_reason = await house.deliver(
        "rota.cancel_occurrence", {"occurrence_id": THU1, "at": AT.isoformat()}
    )
    assert "reason" in invalid(no_reason)[0].message
    over = await house.send(
        r.JoinCleaningParty(occurrence_id=THU1, crew_id="anna", at=at("2030-01-11T09:00:00+01:00"))
    )
    assert refused(over) == "occurrence_over"
    with_capacity = msgspec.structs.replace(PARTY, series_id="c2", capacity=9)
    assert refused(await house.send(with_capacity)) == "bad_schedule"


async def test_an_as_of_query_answers_as_things_stood_before_later_changes(house: House) -> None:
    accepted(await house.send(PARTY))
    accepted(await house.send(r.JoinCleaningParty(occurrence_id=THU1, crew_id="anna", at=AT)))
    accepted(await house.send(m.PlanMeal(meal_id="asof", date=MONDAY, helper_slots=2)))
    accepted(await house.send(m.VolunteerToCook(meal_id="asof", crew_id="anna", role="head_cook")))
    assert house.sql("select count(*) as n from membership_changes") == [{"n": 2}]
    moment = house.sql("select max(occurred_at)::varchar as t from event_log")[0]["t"]
    # everything below happens after `moment`: the house's clock never stands still
    accepted(await house.send(r.LeaveCleaningParty(occurrence_id=THU1, crew_id="anna", at=AT)))
    accepted(await house.send(r.JoinCleaningParty(occurrence_id=THU1, crew_id="bo", at=AT)))
    accepted(await house.send(m.Withdraw(meal_id="asof", crew_id="anna")))
    accepted(await house.send(m.VolunteerToCook(meal_id="asof", crew_id="bo", role="head_cook")))
    assert house.sql("select people from rota_as_of") == [{"people": ["bo"]}]
    assert house.sql("select people from rota_as_of", as_of=moment) == [{"people": ["anna"]}]
    assert house.sql("select head_cook from meal_plan_as_of", as_of=moment) == [
        {"head_cook": "anna"}
    ]
    assert house.sql("select head_cook from meal_plan_as_of") == [{"head_cook": "bo"}]
    history = house.sql(
        "select crew_id, valid_to is null as current from membership_history "
        "where context = 'meals' order by valid_from",
    )
    assert history == [{"crew_id": "anna", "current": False}, {"crew_id": "bo", "current": True}]


async def test_the_rota_view_and_participation_follow_joins_tasks_check_ins_and_leaving(
    house: House,
) -> None:
    accepted(await house.send(PARTY))
    for who in ("anna", "dorte"):
        accepted(await house.send(r.JoinCleaningParty(occurrence_id=THU1, crew_id=who, at=AT)))
    accepted(await house.send(r.TakeTask(occurrence_id=THU1, crew_id="bo", task="kitchen", at=AT)))
    accepted(
        await house.send(
            r.CheckIn(occurrence_id=THU1, crew_id="anna", at=at("2030-01-10T17:05:00+01:00"))
        )
    )
    # Leaving a day ahead is fine; leaving an hour before is recorded as late, without blame.
    accepted(await house.send(r.JoinCleaningParty(occurrence_id=THU2, crew_id="carla", at=AT)))
    accepted(
        await house.send(
            r.LeaveCleaningParty(
                occurrence_id=THU2, crew_id="carla", reason="visiting my aunt", at=AT
            )
        )
    )
    accepted(
        await house.send(
            r.LeaveCleaningParty(
                occurrence_id=THU1, crew_id="dorte", at=at("2030-01-10T16:00:00+01:00")
            )
        )
    )
    assert house.sql(
        "select kind, people, checked_in, open_places, capacity, "
        "list_transform(tasks, lambda t: {'task': t.task, 'people': t.people, 'capacity': t.capacity}) "
        f"as tasks from rota where occurrence_id = '{THU1}'"
    ) == [
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
    ]
    assert house.sql(
        "select crew_id, occurrence_id, kind, status, role, late, "
        "list_transform(history, lambda h: h.status) as steps from participation "
        "order by occurrence_id, crew_id"
    ) == [
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
    ]  # fmt: skip
    steps = house.sql(
        "select h.status, h.role, h.seq > 0 as has_seq, h.at is not null as has_at "
        "from (select unnest(history) as h from participation where crew_id = 'bo')",
    )
    assert steps == [
        {"status": "joined", "role": None, "has_seq": True, "has_at": True},
        {"status": "took_task", "role": "kitchen", "has_seq": True, "has_at": True},
    ]
    # What carla typed about herself is sealed in the log, never in plain text.
    reasons = house.sql(
        "select payload->>'reason' as reason from event_log where type = 'rota.left_cleaning_party'",
    )
    assert len(reasons) == 2 and not any("aunt" in (r["reason"] or "") for r in reasons)
    assert not any(b"aunt" in record.data for record in house.log)
    # Cancelling one occurrence, with a reason, releases whoever was in and says why.
    accepted(await house.send(r.JoinCleaningParty(occurrence_id=THU3, crew_id="emil", at=AT)))
    cancelled = await house.send(
        r.CancelOccurrence(occurrence_id=THU3, reason="house meeting", at=AT)
    )
    assert accepted(cancelled) == ["rota.occurrence_cancelled", "rota.sign_up_affected"]
    assert house.sql(
        f"select status, note, people from rota_rows where occurrence_id = '{THU3}'"
    ) == [{"status": "cancelled", "note": "house meeting", "people": []}]
    assert house.sql(f"select status from participation where occurrence_id = '{THU3}'") == [
        {"status": "released"}
    ]


async def test_a_duty_shift_has_a_capacity_a_late_withdrawal_and_someone_covering(
    house: House,
) -> None:
    accepted(await house.send(SHIFT))
    accepted(await house.send(r.SignUpForShift(occurrence_id=TUE1, crew_id="anna", at=AT)))
    full = await house.send(r.SignUpForShift(occurrence_id=TUE1, crew_id="bo", at=AT))
    assert refused(full) == "shift_full"
    withdrew = await house.send(
        r.WithdrawFromShift(occurrence_id=TUE1, crew_id="anna", at=at("2030-01-07T20:00:00+01:00"))
    )
    assert accepted(withdrew) == ["rota.withdrew_from_shift"]
    accepted(await house.send(r.SignUpForShift(occurrence_id=TUE1, crew_id="bo", at=AT)))
    accepted(await house.send(r.OfferHandOver(occurrence_id=TUE1, crew_id="bo", at=AT)))
    accepted(
        await house.send(
            r.TakeHandOver(occurrence_id=TUE1, crew_id="carla", from_crew_id="bo", at=AT)
        )
    )
    assert house.sql(
        f"select kind, people, capacity, open_places from rota where occurrence_id = '{TUE1}'"
    ) == [{"kind": "shift", "people": ["carla"], "capacity": 1, "open_places": 0}]
    assert house.sql(
        "select crew_id, kind, status, late, covered_for from participation order by crew_id"
    ) == [
        {"crew_id": "anna", "kind": "shift", "status": "withdrawn_late", "late": True,
         "covered_for": None},
        {"crew_id": "bo", "kind": "shift", "status": "handed_over", "late": False,
         "covered_for": None},
        {"crew_id": "carla", "kind": "shift", "status": "covering", "late": False,
         "covered_for": "bo"},
    ]  # fmt: skip
    # Ending the series earlier releases whoever was on a shift after the end, and says so.
    accepted(
        await house.send(r.SignUpForShift(occurrence_id="opening-20300115", crew_id="dorte", at=AT))
    )
    end = r.ChangeSeries(
        series_id="opening", effective_from=date(2030, 1, 14), until=date(2030, 1, 14), at=AT
    )
    assert "rota.sign_up_affected" in accepted(await house.send(end))
    assert accepted(await house.send(end)) == [], "the same change again changes nothing"
    assert house.sql(
        "select payload->>'crew_id' as crew_id, payload->>'outcome' as outcome "
        "from event_log where type = 'rota.sign_up_affected'"
    ) == [{"crew_id": "dorte", "outcome": "released"}]


async def test_a_smaller_task_list_releases_tasks_and_a_shorter_series_releases_places(
    house: House,
) -> None:
    accepted(await house.send(PARTY))
    accepted(
        await house.send(r.TakeTask(occurrence_id=THU2, crew_id="anna", task="kitchen", at=AT))
    )
    accepted(await house.send(r.TakeTask(occurrence_id=THU2, crew_id="bo", task="floors", at=AT)))
    accepted(await house.send(r.JoinCleaningParty(occurrence_id=THU3, crew_id="dorte", at=AT)))
    change = r.ChangeSeries(
        series_id="cleaning",
        effective_from=date(2030, 1, 14),
        until=date(2030, 1, 20),  # no party after the 20th
        tasks=[r.TaskSpec(task="kitchen", capacity=2)],  # floors are gone
        at=AT,
    )
    accepted(await house.send(change))
    assert house.sql(
        "select payload->>'crew_id' as crew_id, payload->>'outcome' as outcome, "
        "payload->>'task' as task from event_log where type = 'rota.sign_up_affected' order by seq"
    ) == [
        {"crew_id": "bo", "outcome": "task_released", "task": "floors"},
        {"crew_id": "dorte", "outcome": "released", "task": None},
    ]
    assert house.sql("select crew_id, status, role from participation order by crew_id") == [
        {"crew_id": "anna", "status": "joined", "role": "kitchen"},
        {"crew_id": "bo", "status": "joined", "role": None},
        {"crew_id": "dorte", "status": "released", "role": None},
    ]
    assert house.sql(
        "select people, list_transform(tasks, lambda t: t.people) as teams from rota_rows "
        f"where occurrence_id = '{THU2}'"
    ) == [{"people": ["anna", "bo"], "teams": [["anna"]]}]


async def test_i_usually_cook_on_tuesdays_and_a_time_change_reaches_the_meal(house: House) -> None:
    accepted(await house.send(MEAL_DAYS))
    assert house.sql("select count(*) as n from meal_plan") == [{"n": 3}]
    accepted(
        await house.send(
            m.VolunteerToCook(meal_id="meals-20300122", crew_id="bo", role="head_cook")
        )
    )
    intention = r.StateIntention(
        series_id="meals", crew_id="anna", weekdays=[1], task="head_cook", at=AT
    )
    claims = accepted(await house.send(intention))
    assert claims.count("rota.tentative_claim_made") == 2  # the 15th and 22nd; the 8th is too near
    # The claims show in the rota view, on the meal days' rows.
    assert house.sql(
        "select occurrence_id, kind, tentative, people from rota "
        "where series_id = 'meals' order by date"
    ) == [
        {"occurrence_id": f"meals-{d}", "kind": "meal", "tentative": t, "people": []}
        for d, t in (("20300108", []), ("20300115", ["anna"]), ("20300122", ["anna"]))
    ]
    accepted(
        await house.send(r.ConfirmClaim(occurrence_id="meals-20300115", crew_id="anna", at=AT))
    )
    assert house.sql(
        "select occurrence_id, tentative from rota where series_id = 'meals' order by date"
    ) == [
        {"occurrence_id": "meals-20300108", "tentative": []},
        {"occurrence_id": "meals-20300115", "tentative": []},  # confirmed: meals has her
        {"occurrence_id": "meals-20300122", "tentative": ["anna"]},
    ]
    change = r.ChangeSeries(
        series_id="meals", effective_from=date(2030, 1, 14), start="18:15", at=AT
    )
    accepted(await house.send(change))
    assert house.sql("select meal_id, time, head_cook from meal_plan order by meal_id") == [
        {"meal_id": "meals-20300108", "time": "17:30", "head_cook": None},
        {"meal_id": "meals-20300115", "time": "18:15", "head_cook": "anna"},
        {"meal_id": "meals-20300122", "time": "18:15", "head_cook": "bo"},
    ]
    # A cancelled meal is no contribution: its cooks' rows say cancelled.
    accepted(
        await house.send(
            r.CancelOccurrence(occurrence_id="meals-20300122", reason="holiday", at=AT)
        )
    )
    assert house.sql(
        "select crew_id, occurrence_id, status from participation order by occurrence_id"
    ) == [
        {"crew_id": "anna", "occurrence_id": "meals-20300115", "status": "signed_up"},
        {"crew_id": "bo", "occurrence_id": "meals-20300122", "status": "cancelled"},
    ]
    assert house.sql(
        "select crew_id, valid_to is null as current from membership_history order by crew_id"
    ) == [{"crew_id": "anna", "current": True}, {"crew_id": "bo", "current": False}]
    # (`contributions` counts only what has happened: these 2030 meals are still ahead.)
