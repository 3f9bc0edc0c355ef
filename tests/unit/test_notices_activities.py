"""Notices about activities: a crew member whose place a change or a cancellation touched is
told, as for a rota or meal sign-up; guests and people who did not opt in are not."""

from __future__ import annotations

import datetime

import msgspec

from schemas import activities as a
from services.activities import decider as d
from services.notices.rules import due
from services.notices.words import words_for
from tests.unit.test_notices_rules import NOW, picture, subscriber

START = datetime.datetime(2030, 1, 9, 14, 0, tzinfo=datetime.UTC)  # 15:00 house time
PLAN = a.PlanActivity(
    activity_id="w1",
    title="Repair cafe",
    starts_at=START,
    ends_at=START + datetime.timedelta(hours=2),
    capacity=1,
    open_to_guests=True,
)


def decided(*commands: a.ActivityCommand) -> list[a.ActivityEvent]:
    state, log = d.initial("w1"), []
    for command in commands:
        for event in d.decide(state, command):
            state = d.evolve(state, event)
            log.append(event)
    return log


def test_a_cancelled_activity_tells_everyone_on_it_who_opted_in_once() -> None:
    events = decided(
        PLAN,
        a.SignUpForActivity(activity_id="w1", crew_id="anna"),
        a.SignUpForActivity(activity_id="w1", crew_id="bo"),  # waitlisted
        a.SignUpGuest(activity_id="w1", guest_id="g1", display_name="Gitte"),
        a.CancelActivity(activity_id="w1", reason="the room is flooded"),
    )
    seen = picture(*events, *subscriber("anna", "my_sign_ups"), *subscriber("bo", "my_sign_ups"))
    found = due(seen, NOW, None)
    assert sorted((n.rule, n.about, n.crew_id) for n in found) == [
        ("sign_up_affected", "w1", "anna"),
        ("sign_up_affected", "w1", "bo"),
    ]
    facts = found[0].facts
    assert facts["title"] == "Repair cafe" and facts["date"] == "2030-01-09"
    assert (facts["start"], facts["what"]) == ("15:00", "cancelled")
    words = words_for(found[0].rule, facts)
    assert "aflyst" in words.subject_da and "cancelled" in words.subject_en
    assert "Gitte" not in str(found)


def test_a_changed_activity_tells_who_opted_in_with_the_new_time() -> None:
    later = START + datetime.timedelta(days=1)
    events = decided(
        PLAN,
        a.SignUpForActivity(activity_id="w1", crew_id="anna"),
        a.ChangeActivity(
            activity_id="w1",
            reason="moved a day",
            starts_at=later,
            ends_at=later + datetime.timedelta(hours=2),
        ),
    )
    assert told_to(events, "anna") == [("sign_up_affected", "2030-01-10", "changed")]
    assert told_to(events, "bo") == []


def told_to(events: list[a.ActivityEvent], who: str) -> list[tuple[str, str, str]]:
    seen = picture(*events, *subscriber("anna", "my_sign_ups"))
    return [
        (n.rule, n.facts["date"], n.facts["what"]) for n in due(seen, NOW, None) if n.crew_id == who
    ]


def test_the_weekly_digest_lists_a_persons_own_activities_and_no_guest() -> None:
    from schemas import notices as n
    from tests.unit.test_notices_digest import digests, readers

    on_thursday = datetime.datetime(2030, 1, 10, 9, 0, tzinfo=datetime.UTC)  # 10:00 house time
    plan = msgspec.structs.replace(
        PLAN, starts_at=on_thursday, ends_at=on_thursday + datetime.timedelta(hours=2)
    )
    events = decided(
        plan,
        a.SignUpForActivity(activity_id="w1", crew_id="anna"),
        a.SignUpForActivity(activity_id="w1", crew_id="bo"),  # waitlisted: not (yet) theirs
        a.SignUpGuest(activity_id="w1", guest_id="g1", display_name="Gitte"),
    )
    told = digests(*events, *readers("anna", "bo"))
    mine = n.Listed(mine=True, date=on_thursday.date(), time="10:00", title="Repair cafe")
    assert told["anna"].listing == [mine]
    assert (told["anna"].facts["my_sign_ups"], told["bo"].listing) == ("1", [])
    gone = decided(
        plan,
        a.SignUpForActivity(activity_id="w1", crew_id="anna"),
        a.WithdrawFromActivity(activity_id="w1", crew_id="anna"),
    )
    assert digests(*gone, *readers("anna"))["anna"].listing == []
