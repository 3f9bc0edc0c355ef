"""The notices rules on plain values: fold events into a picture, ask what is due at a moment."""

from __future__ import annotations

import datetime
import hashlib
import re
from typing import Literal, get_args
from zoneinfo import ZoneInfo

import msgspec
import pytest

from schemas import meals as m
from schemas import notices as n
from schemas import onboarding as o
from schemas import rota as r
from schemas.common import ID_PATTERN
from services.notices import mail, rota_rules, rules
from services.notices.burnout import MonthLoad
from services.notices.rules import Picture, QuietHours, due, notice_id, see, send_after

HOUSE = ZoneInfo("Europe/Copenhagen")
NOW = datetime.datetime(2030, 1, 7, 12, 0, tzinfo=HOUSE)  # a Monday, noon
TOMORROW = datetime.date(2030, 1, 8)
QUIET = QuietHours()
Outcome = Literal["kept", "moved", "released", "task_released"]


def picture(*events: msgspec.Struct, at: datetime.datetime = NOW) -> Picture:
    seen = Picture()
    for seq, event in enumerate(events, start=1):
        see(seen, event, at, seq)
    return seen


def subscriber(crew_id: str, *topics: n.Topic, email: str = "sealed:v1:x") -> list[n.NoticesEvent]:
    return [
        n.AddressSet(crew_id=crew_id, email=email),
        *(n.Subscribed(crew_id=crew_id, topic=topic) for topic in topics),
    ]


def planned(day: datetime.date = TOMORROW, time: str = "17:30", slots: int = 2) -> m.MealPlanned:
    return m.MealPlanned(meal_id="m1", date=day, time=time, helper_slots=slots)


def told(seen: Picture, now: datetime.datetime = NOW) -> list[tuple[str, str, str]]:
    return [(d.rule, d.about, d.crew_id) for d in due(seen, now, None)]


# meal_needs_cook ---------------------------------------------------------------------------


def test_a_meal_tomorrow_without_a_head_cook_tells_each_cook_subscriber_once() -> None:
    seen = picture(
        planned(slots=0), *subscriber("anna", "meal_needs_cook"), *subscriber("bo", "hand_over")
    )
    [notice] = due(seen, NOW, None)
    assert (notice.rule, notice.topic, notice.about, notice.crew_id) == (
        "meal_needs_cook",
        "meal_needs_cook",
        "m1",
        "anna",
    )
    assert notice.facts == {"date": "2030-01-08", "time": "17:30", "meal_id": "m1"}
    assert notice.send_after == NOW
    assert notice.notice_id == notice_id("meal_needs_cook", "m1", "anna")


def test_no_cook_notice_once_it_is_recorded() -> None:
    seen = picture(planned(slots=0), *subscriber("anna", "meal_needs_cook"))
    [notice] = due(seen, NOW, None)
    recorded = n.NoticeRecorded(
        crew_id="anna",
        notice_id=notice.notice_id,
        topic=notice.topic,
        rule=notice.rule,
        about=notice.about,
        send_after=notice.send_after,
    )
    see(seen, recorded, NOW, 99)
    assert due(seen, NOW, None) == []


def test_no_cook_notice_without_an_address_or_once_stopped_or_forgotten() -> None:
    no_address = picture(planned(slots=0), *subscriber("anna", "meal_needs_cook", email=""))
    assert told(no_address) == []
    stopped = picture(
        planned(slots=0),
        *subscriber("anna", "meal_needs_cook"),
        n.NoticesStopped(crew_id="anna", stopped_at=NOW),
    )
    assert told(stopped) == []
    forgotten = picture(
        planned(slots=0),
        *subscriber("anna", "meal_needs_cook"),
        o.PersonForgotten(person_id="anna", forgotten_at=NOW),
    )
    assert told(forgotten) == []
    unsubscribed = picture(
        planned(slots=0),
        *subscriber("anna", "meal_needs_cook"),
        n.Unsubscribed(crew_id="anna", topic="meal_needs_cook"),
    )
    assert told(unsubscribed) == []


def test_no_cook_notice_to_someone_already_on_the_meal() -> None:
    people = [*subscriber("anna", "meal_needs_cook"), *subscriber("bo", "meal_needs_cook")]
    helper = m.VolunteeredToCook(meal_id="m1", crew_id="anna", role="helper")
    assert told(picture(planned(slots=1), *people, helper)) == [("meal_needs_cook", "m1", "bo")]
    waiting = m.WaitlistedToHelp(meal_id="m1", crew_id="bo")
    assert told(picture(planned(slots=0), *people, waiting)) == [("meal_needs_cook", "m1", "anna")]


def test_no_cook_notice_once_the_meal_has_a_head_cook_and_again_when_they_withdraw() -> None:
    people = subscriber("bo", "meal_needs_cook")
    cook = m.VolunteeredToCook(meal_id="m1", crew_id="anna", role="head_cook")
    assert told(picture(planned(slots=0), *people, cook)) == []
    withdrew = m.Withdrew(meal_id="m1", crew_id="anna", role="head_cook")
    assert told(picture(planned(slots=0), *people, cook, withdrew)) == [
        ("meal_needs_cook", "m1", "bo")
    ]


@pytest.mark.parametrize(
    "ended", [m.MealCancelled(meal_id="m1"), m.MealClosed(meal_id="m1"), m.MealServed(meal_id="m1")]
)
def test_a_cancelled_closed_or_served_meal_needs_no_one(ended: m.MealEvent) -> None:
    people = subscriber("anna", "meal_needs_cook", "meal_needs_helpers")
    assert told(picture(planned(), *people, ended)) == []


def test_a_meal_more_than_36_hours_ahead_or_already_started_needs_no_cook_notice() -> None:
    people = subscriber("anna", "meal_needs_cook")
    seen = picture(planned(slots=0), *people)  # 2030-01-08 17:30 house time
    assert told(seen, datetime.datetime(2030, 1, 7, 5, 0, tzinfo=HOUSE)) == []  # 36.5 ahead
    assert told(seen, datetime.datetime(2030, 1, 7, 5, 30, tzinfo=HOUSE)) != []  # exactly 36
    assert told(seen, datetime.datetime(2030, 1, 8, 17, 30, tzinfo=HOUSE)) == []  # starts now
    assert told(seen, datetime.datetime(2030, 1, 9, 12, 0, tzinfo=HOUSE)) == []  # past


def test_a_rescheduled_meal_is_judged_at_its_new_time() -> None:
    people = subscriber("anna", "meal_needs_cook")
    later = m.MealRescheduled(meal_id="m1", date=datetime.date(2030, 1, 20), time="18:00")
    assert told(picture(planned(slots=0), *people, later)) == []


def test_no_meal_notice_that_would_wait_past_the_start_for_quiet_hours() -> None:
    people = subscriber("anna", "meal_needs_cook")
    seen = picture(planned(time="07:30", slots=0), *people)
    late_evening = datetime.datetime(2030, 1, 7, 22, 0, tzinfo=HOUSE)
    assert due(seen, late_evening, QUIET) == []
    assert len(due(seen, late_evening, None)) == 1


# meal_needs_helpers ------------------------------------------------------------------------


def test_open_helper_places_within_24_hours_tell_helper_subscribers() -> None:
    cook = m.VolunteeredToCook(meal_id="m1", crew_id="anna", role="head_cook")
    helper = m.VolunteeredToCook(meal_id="m1", crew_id="bo", role="helper")
    people = [*subscriber("anna", "meal_needs_helpers"), *subscriber("carla", "meal_needs_helpers")]
    seen = picture(planned(slots=3), cook, helper, *people)
    [notice] = due(seen, NOW + datetime.timedelta(hours=6), None)  # 23.5 hours ahead
    assert (notice.rule, notice.topic, notice.crew_id) == (
        "meal_needs_helpers",
        "meal_needs_helpers",
        "carla",
    )
    assert notice.facts == {
        "date": "2030-01-08",
        "time": "17:30",
        "meal_id": "m1",
        "open_places": "2",
    }


def test_no_helper_notice_beyond_24_hours_when_full_or_not_subscribed() -> None:
    people = subscriber("carla", "meal_needs_helpers")
    assert told(picture(planned(slots=1), *people)) == []  # 29.5 hours ahead
    soon = NOW + datetime.timedelta(hours=6)
    full = m.VolunteeredToCook(meal_id="m1", crew_id="bo", role="helper")
    assert told(picture(planned(slots=1), *people, full), soon) == []
    assert told(picture(planned(slots=1), *subscriber("carla", "meal_needs_cook")), soon) == [
        ("meal_needs_cook", "m1", "carla")
    ]


def test_a_helper_who_withdraws_opens_a_place_again() -> None:
    people = subscriber("carla", "meal_needs_helpers")
    soon = NOW + datetime.timedelta(hours=6)
    joined = m.VolunteeredToCook(meal_id="m1", crew_id="bo", role="helper")
    left = m.Withdrew(meal_id="m1", crew_id="bo", role="helper")
    assert told(picture(planned(slots=1), *people, joined, left), soon) == [
        ("meal_needs_helpers", "m1", "carla")
    ]


# newcomer_waiting --------------------------------------------------------------------------


def arrived(at: datetime.datetime, who: str = "nina") -> o.NewcomerArrived:
    return o.NewcomerArrived(person_id=who, display_name="sealed:v1:x", arrived_at=at)


def test_a_newcomer_waiting_over_an_hour_tells_the_hosts() -> None:
    hosts = [*subscriber("anna", "newcomer_waiting"), *subscriber("bo", "meal_needs_cook")]
    seen = picture(arrived(NOW - datetime.timedelta(minutes=61)), *hosts)
    [notice] = due(seen, NOW, None)
    assert (notice.rule, notice.topic, notice.about, notice.crew_id) == (
        "newcomer_waiting",
        "newcomer_waiting",
        "nina",
        "anna",
    )
    assert notice.facts == {"arrived": "2030-01-07T10:59:00+01:00"}


def test_no_newcomer_notice_within_the_hour_or_long_after() -> None:
    hosts = subscriber("anna", "newcomer_waiting")
    assert told(picture(arrived(NOW - datetime.timedelta(minutes=59)), *hosts)) == []
    assert told(picture(arrived(NOW - datetime.timedelta(days=8)), *hosts)) == []


@pytest.mark.parametrize(
    "moved_on",
    [
        o.ConversationScheduled(person_id="nina", host_crew_id="anna", when=NOW),
        o.ConversationHeld(person_id="nina", host_crew_id="anna", held_at=NOW),
        o.NewcomerOnboarded(person_id="nina", onboarded_at=NOW),
        o.KindlyRedirected(person_id="nina", to="sealed:v1:x", redirected_at=NOW),
        o.PersonForgotten(person_id="nina", forgotten_at=NOW),
    ],
)
def test_no_newcomer_notice_once_something_happened(moved_on: o.OnboardingEvent) -> None:
    hosts = subscriber("anna", "newcomer_waiting")
    assert told(picture(arrived(NOW - datetime.timedelta(hours=2)), *hosts, moved_on)) == []


# my_sign_ups: sign_up_affected, task_released, claim_released ------------------------------


SCHEDULED = [
    r.OccurrenceScheduled(
        series_id="clean",
        occurrence_id=f"clean-{day:%Y%m%d}",
        kind="cleaning_party",
        title="Cleaning party",
        date=day,
        start="10:00",
        end="13:00",
    )
    for day in (datetime.date(2030, 1, 12), datetime.date(2030, 1, 13))
]


def affected(
    outcome: Outcome, moved_to: str | None = None, task: str | None = None
) -> r.SignUpAffected:
    return r.SignUpAffected(
        series_id="clean",
        occurrence_id="clean-20300112",
        crew_id="anna",
        outcome=outcome,
        moved_to=moved_to,
        reason="the series changed from 2030-01-10",
        task=task,
    )


def test_a_moved_sign_up_tells_the_person_with_both_occurrences() -> None:
    seen = picture(*SCHEDULED, affected("moved", "clean-20300113", "floors"))
    assert told(seen) == []  # not subscribed
    see(seen, n.AddressSet(crew_id="anna", email="sealed:v1:x"), NOW, 10)
    see(seen, n.Subscribed(crew_id="anna", topic="my_sign_ups"), NOW, 11)
    [notice] = due(seen, NOW, None)
    assert (notice.rule, notice.topic, notice.about, notice.crew_id) == (
        "sign_up_affected",
        "my_sign_ups",
        "clean-20300112",
        "anna",
    )
    assert notice.facts == {
        "title": "Cleaning party",
        "date": "2030-01-12",
        "start": "10:00",
        "outcome": "moved",
        "what": "moved",
        "reason": "the series changed from 2030-01-10",
        "task": "floors",
        "moved_to_title": "Cleaning party",
        "moved_to_date": "2030-01-13",
        "moved_to_start": "10:00",
    }
    assert notice.notice_id == notice_id("sign_up_affected", "clean-20300112", "anna", "3")


def test_two_changes_to_one_sign_up_are_two_notices() -> None:
    seen = picture(
        *SCHEDULED, *subscriber("anna", "my_sign_ups"), affected("kept"), affected("kept")
    )
    notices = due(seen, NOW, None)
    assert [d.rule for d in notices] == ["sign_up_affected", "sign_up_affected"]
    assert len({d.notice_id for d in notices}) == 2


def test_a_released_task_and_a_released_claim_tell_the_person() -> None:
    released = r.ClaimReleased(
        series_id="clean", occurrence_id="clean-20300112", crew_id="anna", reason="lapsed"
    )
    seen = picture(
        *SCHEDULED,
        *subscriber("anna", "my_sign_ups"),
        *subscriber("bo", "my_sign_ups"),
        affected("task_released", task="floors"),
        released,
    )
    notices = due(seen, NOW, None)
    assert [(d.rule, d.crew_id) for d in notices] == [
        ("claim_released", "anna"),
        ("task_released", "anna"),
    ]
    claim, task = notices
    assert claim.facts == {
        "title": "Cleaning party",
        "date": "2030-01-12",
        "start": "10:00",
        "reason": "",
    }
    assert task.facts["task"] == "floors"


def test_no_personal_notice_when_forgotten_or_old_news() -> None:
    people = subscriber("anna", "my_sign_ups")
    gone = o.PersonForgotten(person_id="anna", forgotten_at=NOW)
    assert told(picture(*SCHEDULED, *people, affected("released"), gone)) == []
    seen = picture(*SCHEDULED, *people, affected("released"))
    assert told(seen, NOW + datetime.timedelta(hours=49)) == []


# hand_over ---------------------------------------------------------------------------------


BAR = r.SeriesScheduled(
    series_id="bar",
    kind="shift",
    title="Bar",
    weekdays=[2, 4],
    start="18:00",
    end="22:00",
    starts_on=datetime.date(2030, 1, 2),
    capacity=3,
)
WED, FRI = "bar-20300109", "bar-20300111"  # Wednesday 9 and Friday 11 January, 18:00


def bar_shift(occurrence_id: str) -> r.OccurrenceScheduled:
    day = datetime.datetime.strptime(occurrence_id[-8:], "%Y%m%d").date()
    return r.OccurrenceScheduled(
        series_id="bar",
        occurrence_id=occurrence_id,
        kind="shift",
        title="Bar",
        date=day,
        start="18:00",
        end="22:00",
        capacity=3,
    )


def signed_up(who: str, occurrence_id: str = WED) -> r.SignedUpForShift:
    return r.SignedUpForShift(series_id="bar", occurrence_id=occurrence_id, crew_id=who)


def offered(who: str, occurrence_id: str = WED) -> r.HandOverOffered:
    return r.HandOverOffered(series_id="bar", occurrence_id=occurrence_id, crew_id=who)


def seq_of(event: msgspec.Struct, *events: msgspec.Struct) -> str:
    """The stream sequence `picture` gives `event` (the last one equal to it)."""
    return str(max(i for i, e in enumerate(events, start=1) if e == event))


def test_a_place_on_offer_tells_each_subscriber_who_could_take_it_once() -> None:
    offer = offered("anna")
    events = [
        BAR,
        bar_shift(WED),
        signed_up("anna"),
        signed_up("bo"),
        offer,
        *subscriber("anna", "hand_over"),  # the giver
        *subscriber("bo", "hand_over"),  # in already
        *subscriber("carla", "hand_over"),
        *subscriber("dan", "hand_over"),
        *subscriber("erik", "meal_needs_cook"),
    ]
    notices = due(picture(*events), NOW, None)
    assert [(d.rule, d.topic, d.about, d.crew_id) for d in notices] == [
        ("hand_over", "hand_over", WED, "carla"),
        ("hand_over", "hand_over", WED, "dan"),
    ]
    assert notices[0].facts == {
        "title": "Bar",
        "date": "2030-01-09",
        "start": "18:00",
        "from_crew_id": "anna",  # for the "Take over" link, never in the mail's words
    }
    assert notices[0].notice_id == notice_id("hand_over", WED, "carla", seq_of(offer, *events))


def test_a_place_on_offer_with_a_task_names_the_task() -> None:
    ids = {"series_id": "clean", "occurrence_id": "clean-20300112", "crew_id": "anna"}
    seen = picture(
        *SCHEDULED,
        r.JoinedCleaningParty(**ids),
        r.TookTask(**ids, task="kitchen"),
        r.HandOverOffered(**ids),
        *subscriber("carla", "hand_over"),
    )
    [notice] = due(seen, NOW, None)
    assert notice.facts == {
        "title": "Cleaning party",
        "date": "2030-01-12",
        "start": "10:00",
        "from_crew_id": "anna",
        "task": "kitchen",
    }


@pytest.mark.parametrize(
    "ended",
    [
        r.HandOverTaken(series_id="bar", occurrence_id=WED, crew_id="bo", from_crew_id="anna"),
        r.WithdrewFromShift(series_id="bar", occurrence_id=WED, crew_id="anna"),
        r.SignUpAffected(series_id="bar", occurrence_id=WED, crew_id="anna", outcome="released"),
        r.SignUpAffected(
            series_id="bar", occurrence_id=WED, crew_id="anna", outcome="moved", moved_to=FRI
        ),
        r.OccurrenceCancelled(
            series_id="bar", occurrence_id=WED, kind="shift", by_series_change=False
        ),
    ],
)
def test_an_offer_taken_withdrawn_or_cancelled_tells_no_one(ended: r.RotaEvent) -> None:
    events = [BAR, bar_shift(WED), bar_shift(FRI), signed_up("anna"), offered("anna")]
    seen = picture(*events, ended, *subscriber("carla", "hand_over"))
    assert told(seen) == []


def test_no_hand_over_notice_to_who_is_in_by_now() -> None:
    events = [BAR, bar_shift(WED), bar_shift(FRI), signed_up("anna"), offered("anna")]
    people = [*subscriber("carla", "hand_over"), *subscriber("dan", "hand_over")]
    joined = signed_up("carla")
    moved_in = r.SignUpAffected(
        series_id="bar", occurrence_id=FRI, crew_id="dan", outcome="moved", moved_to=WED
    )
    assert told(picture(*events, *people, joined, signed_up("dan", FRI), moved_in)) == []
    left = r.WithdrewFromShift(series_id="bar", occurrence_id=WED, crew_id="carla")
    assert told(picture(*events, *people, joined, left)) == [
        ("hand_over", WED, "carla"),
        ("hand_over", WED, "dan"),
    ]


def test_no_hand_over_notice_once_the_occurrence_starts_or_after_it() -> None:
    seen = picture(BAR, bar_shift(WED), signed_up("anna"), offered("anna"))
    see(seen, n.AddressSet(crew_id="carla", email="sealed:v1:x"), NOW, 10)
    see(seen, n.Subscribed(crew_id="carla", topic="hand_over"), NOW, 11)
    assert told(seen, datetime.datetime(2030, 1, 9, 17, 59, tzinfo=HOUSE)) != []
    assert told(seen, datetime.datetime(2030, 1, 9, 18, 0, tzinfo=HOUSE)) == []
    # late evening with quiet hours: the notice would wait until 08:00, after a 07:30 start
    moved = r.OccurrenceMoved(
        series_id="bar",
        occurrence_id=WED,
        kind="shift",
        date=datetime.date(2030, 1, 8),
        start="07:30",
        end="10:00",
    )
    see(seen, moved, NOW, 12)
    assert due(seen, datetime.datetime(2030, 1, 7, 22, 0, tzinfo=HOUSE), QUIET) == []
    assert told(seen, datetime.datetime(2030, 1, 7, 22, 0, tzinfo=HOUSE)) != []


def test_each_offer_is_its_own_notice() -> None:
    first, again = offered("anna"), offered("anna")
    left = r.WithdrewFromShift(series_id="bar", occurrence_id=WED, crew_id="anna")
    people = subscriber("carla", "hand_over")
    events = [BAR, bar_shift(WED), signed_up("anna"), first, left, signed_up("anna"), again]
    [notice] = due(picture(*events, *people), NOW, None)
    assert notice.notice_id == notice_id("hand_over", WED, "carla", "7")
    assert notice.notice_id != notice_id("hand_over", WED, "carla", "4")
    two_givers = picture(BAR, bar_shift(WED), signed_up("anna"), signed_up("bo"),
                         offered("anna"), offered("bo"), *people)  # fmt: skip
    assert len({d.notice_id for d in due(two_givers, NOW, None)}) == 2


def test_a_title_longer_than_a_fact_may_be_is_cut() -> None:
    long = msgspec.structs.replace(bar_shift(WED), title="B" * 300)
    seen = picture(BAR, long, signed_up("anna"), offered("anna"), *subscriber("bo", "hand_over"))
    [notice] = due(seen, NOW, None)
    assert notice.facts["title"] == "B" * 200


# confirm_intention -------------------------------------------------------------------------


def claim(who: str = "anna", occurrence_id: str = FRI, task: str | None = None) -> r.RotaEvent:
    return r.TentativeClaimMade(
        series_id="bar", occurrence_id=occurrence_id, crew_id=who, task=task
    )


def test_a_tentative_claim_lapsing_within_48_hours_tells_its_holder() -> None:
    made = claim()
    events = [
        BAR,
        bar_shift(FRI),
        made,
        claim("bo"),
        *subscriber("anna", "confirm_intention"),
        *subscriber("carla", "confirm_intention"),  # holds no claim
    ]
    [notice] = due(picture(*events), NOW, None)  # Monday noon; it lapses Wednesday 00:00
    assert (notice.rule, notice.topic, notice.about, notice.crew_id) == (
        "confirm_intention",
        "confirm_intention",
        FRI,
        "anna",
    )
    assert notice.facts == {
        "title": "Bar",
        "date": "2030-01-11",
        "start": "18:00",
        "lapses": "2030-01-09T00:00:00+01:00",
    }
    assert notice.notice_id == notice_id("confirm_intention", FRI, "anna", seq_of(made, *events))


@pytest.mark.parametrize(
    ("now", "told_then"),
    [
        (datetime.datetime(2030, 1, 6, 23, 59), False),  # 48 hours and a minute before
        (datetime.datetime(2030, 1, 7, 0, 0), True),  # 48 hours before
        (datetime.datetime(2030, 1, 8, 23, 59), True),
        (datetime.datetime(2030, 1, 9, 0, 0), False),  # lapsed: the rota refuses to confirm
    ],
)
def test_a_claim_is_told_in_the_48_hours_before_it_lapses(
    now: datetime.datetime, told_then: bool
) -> None:
    seen = picture(BAR, bar_shift(FRI), claim(), *subscriber("anna", "confirm_intention"))
    assert bool(told(seen, now.replace(tzinfo=HOUSE))) is told_then


def test_the_lapse_follows_the_series_claim_confirm_days_and_a_move() -> None:
    five_days = msgspec.structs.replace(BAR, claim_confirm_days=5)
    people = subscriber("anna", "confirm_intention")
    seen = picture(five_days, bar_shift(FRI), claim(task=None), *people)
    assert told(seen) == []  # lapsed Sunday 6 January
    [notice] = due(seen, datetime.datetime(2030, 1, 4, 12, 0, tzinfo=HOUSE), None)
    assert notice.facts["lapses"] == "2030-01-06T00:00:00+01:00"
    moved = r.OccurrenceMoved(
        series_id="bar",
        occurrence_id=FRI,
        kind="shift",
        date=datetime.date(2030, 1, 18),
        start="19:00",
        end="22:00",
    )
    later = picture(BAR, bar_shift(FRI), claim(), moved, *people)
    assert told(later) == []  # lapses Wednesday 16 January now
    [notice] = due(later, datetime.datetime(2030, 1, 15, 9, 0, tzinfo=HOUSE), None)
    assert notice.facts["start"] == "19:00"
    assert notice.facts["lapses"] == "2030-01-16T00:00:00+01:00"


def test_a_claim_with_a_task_names_it() -> None:
    ids = {"series_id": "clean", "occurrence_id": "clean-20300112", "crew_id": "anna"}
    seen = picture(
        *SCHEDULED,
        r.TentativeClaimMade(**ids, task="floors"),
        *subscriber("anna", "confirm_intention"),
    )
    [notice] = due(seen, datetime.datetime(2030, 1, 8, 12, 0, tzinfo=HOUSE), None)
    assert notice.facts["task"] == "floors"
    assert notice.facts["lapses"] == "2030-01-10T00:00:00+01:00"  # no series seen: 2 days


@pytest.mark.parametrize(
    "ended",
    [
        r.ClaimConfirmed(series_id="bar", occurrence_id=FRI, kind="shift", crew_id="anna"),
        r.ClaimReleased(series_id="bar", occurrence_id=FRI, crew_id="anna", reason="dropped"),
        r.OccurrenceCancelled(
            series_id="bar", occurrence_id=FRI, kind="shift", by_series_change=True
        ),
    ],
)
def test_a_claim_confirmed_released_or_cancelled_is_not_told(ended: r.RotaEvent) -> None:
    seen = picture(BAR, bar_shift(FRI), claim(), ended, *subscriber("anna", "confirm_intention"))
    assert [d.rule for d in due(seen, NOW, None)] == []


def test_a_claim_made_again_is_a_new_notice_and_quiet_hours_may_make_it_too_late() -> None:
    released = r.ClaimReleased(series_id="bar", occurrence_id=FRI, crew_id="anna")
    events = [BAR, bar_shift(FRI), claim(), released, claim(task=None)]
    [notice] = due(picture(*events, *subscriber("anna", "confirm_intention")), NOW, None)
    assert notice.notice_id == notice_id("confirm_intention", FRI, "anna", "5")
    seen = picture(BAR, bar_shift(FRI), claim(), *subscriber("anna", "confirm_intention"))
    late = datetime.datetime(2030, 1, 8, 22, 0, tzinfo=HOUSE)  # 08:00 is after the lapse
    assert due(seen, late, QUIET) == []
    assert len(due(seen, late, None)) == 1


# weekly_digest -----------------------------------------------------------------------------


def meal(meal_id: str, day: datetime.date, time: str = "18:00", slots: int = 2) -> m.MealPlanned:
    return m.MealPlanned(meal_id=meal_id, date=day, time=time, helper_slots=slots)


def cooks(meal_id: str, who: str, role: Literal["head_cook", "helper"]) -> m.VolunteeredToCook:
    return m.VolunteeredToCook(meal_id=meal_id, crew_id=who, role=role)


WEEK = [
    meal("tue", datetime.date(2030, 1, 8)),  # no cook, bo helps: 1 place open
    cooks("tue", "bo", "helper"),
    m.WaitlistedToHelp(meal_id="tue", crew_id="carla"),  # waiting is not signed up
    meal("thu", datetime.date(2030, 1, 10)),  # anna cooks: 2 places open
    cooks("thu", "anna", "head_cook"),
    meal("fri", datetime.date(2030, 1, 11), slots=1),  # closed: nobody can join, bo is on it
    cooks("fri", "bo", "head_cook"),
    m.MealClosed(meal_id="fri"),
    meal("sat", datetime.date(2030, 1, 12)),  # cancelled
    m.MealCancelled(meal_id="sat"),
    meal("early", datetime.date(2030, 1, 7), time="08:00"),  # this morning: over
    meal("next", datetime.date(2030, 1, 14)),  # next week
    BAR,
    bar_shift(WED),
    signed_up("anna"),
    bar_shift("bar-20300116"),  # next week
    signed_up("anna", "bar-20300116"),
]


def test_the_weekly_digest_counts_the_week_ahead_for_each_subscriber() -> None:
    people = [
        *subscriber("anna", "weekly_digest"),
        *subscriber("bo", "weekly_digest"),
        *subscriber("carla", "weekly_digest"),
        *subscriber("dan", "meal_needs_helpers"),
    ]
    notices = [d for d in due(picture(*WEEK, *people), NOW, None) if d.rule == "weekly_digest"]
    assert [(d.topic, d.about, d.crew_id) for d in notices] == [
        ("weekly_digest", "2030-W02", "anna"),
        ("weekly_digest", "2030-W02", "bo"),
        ("weekly_digest", "2030-W02", "carla"),
    ]
    week = {"week": "2030-W02", "meals_without_cook": "1", "open_helper_places": "3"}
    assert [d.facts for d in notices] == [
        {**week, "my_sign_ups": "2"},  # cooks on Thursday, the bar on Wednesday
        {**week, "my_sign_ups": "2"},  # helps on Tuesday, cooks on Friday
        {**week, "my_sign_ups": "0"},
    ]
    assert notices[0].notice_id == notice_id("weekly_digest", "2030-W02", "anna")


@pytest.mark.parametrize(
    ("now", "week"),
    [
        (datetime.datetime(2030, 1, 7, 8, 59), None),
        (datetime.datetime(2030, 1, 7, 9, 0), "2030-W02"),
        (datetime.datetime(2030, 1, 7, 23, 59), "2030-W02"),
        (datetime.datetime(2030, 1, 8, 0, 0), None),
        (datetime.datetime(2030, 1, 9, 9, 0), None),  # a house started on a Wednesday
        (datetime.datetime(2030, 1, 14, 9, 30), "2030-W03"),
        (datetime.datetime(2029, 12, 31, 9, 0), "2030-W01"),  # the ISO year of its Thursday
    ],
)
def test_the_weekly_digest_is_due_on_monday_from_nine_house_time(
    now: datetime.datetime, week: str | None
) -> None:
    seen = picture(*subscriber("anna", "weekly_digest"))
    expected = [] if week is None else [("weekly_digest", week, "anna")]
    assert told(seen, now.replace(tzinfo=HOUSE)) == expected


def test_the_weekly_digest_reads_the_clock_in_house_time_and_comes_once() -> None:
    seen = picture(*subscriber("anna", "weekly_digest"))
    nine_house = datetime.datetime(2030, 1, 7, 8, 0, tzinfo=datetime.UTC)
    assert told(seen, nine_house - datetime.timedelta(minutes=1)) == []
    [notice] = due(seen, nine_house, QUIET)
    assert notice.send_after == nine_house
    recorded = n.NoticeRecorded(
        crew_id="anna",
        notice_id=notice.notice_id,
        topic=notice.topic,
        rule=notice.rule,
        about=notice.about,
        send_after=notice.send_after,
        facts=notice.facts,
    )
    see(seen, recorded, nine_house, 99)
    assert due(seen, nine_house + datetime.timedelta(hours=3), QUIET) == []
    gone = picture(
        *subscriber("anna", "weekly_digest"), o.PersonForgotten(person_id="anna", forgotten_at=NOW)
    )
    assert told(gone) == []


def test_week_of_names_the_iso_week_and_its_monday() -> None:
    sunday_night = datetime.datetime(2030, 1, 6, 23, 30, tzinfo=datetime.UTC)  # Monday, house
    assert rota_rules.week_of(sunday_night) == ("2030-W02", datetime.date(2030, 1, 7))
    assert rota_rules.week_of(datetime.datetime(2027, 1, 1, 12, tzinfo=HOUSE)) == (
        "2026-W53",
        datetime.date(2026, 12, 28),
    )


# quiet hours -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime.datetime(2030, 1, 7, 20, 59), datetime.datetime(2030, 1, 7, 20, 59)),
        (datetime.datetime(2030, 1, 7, 21, 0), datetime.datetime(2030, 1, 8, 8, 0)),
        (datetime.datetime(2030, 1, 7, 23, 30), datetime.datetime(2030, 1, 8, 8, 0)),
        (datetime.datetime(2030, 1, 8, 2, 0), datetime.datetime(2030, 1, 8, 8, 0)),
        (datetime.datetime(2030, 1, 8, 7, 59), datetime.datetime(2030, 1, 8, 8, 0)),
        (datetime.datetime(2030, 1, 8, 8, 0), datetime.datetime(2030, 1, 8, 8, 0)),
    ],
)
def test_quiet_hours_run_past_midnight(now: datetime.datetime, expected: datetime.datetime) -> None:
    assert send_after(now.replace(tzinfo=HOUSE), QUIET) == expected.replace(tzinfo=HOUSE)


def test_quiet_hours_are_house_time_across_a_dst_change() -> None:
    # Summer time begins 2030-03-31 at 02:00: 22:00 UTC the night before is 23:00 house time,
    # and 08:00 house time next morning is 06:00 UTC, eight wall hours but seven real ones.
    before = datetime.datetime(2030, 3, 30, 22, 0, tzinfo=datetime.UTC)
    after = send_after(before, QUIET)
    assert after == datetime.datetime(2030, 3, 31, 6, 0, tzinfo=datetime.UTC)
    assert (after.hour, after.utcoffset()) == (8, datetime.timedelta(hours=2))
    # Winter time begins 2030-10-27 at 03:00: 07:30 house time is 06:30 UTC.
    autumn = datetime.datetime(2030, 10, 27, 6, 30, tzinfo=datetime.UTC)
    assert send_after(autumn, QUIET) == datetime.datetime(2030, 10, 27, 7, 0, tzinfo=datetime.UTC)


def test_quiet_hours_ending_in_the_hour_dst_skips_end_after_the_gap() -> None:
    # 02:00-03:00 does not exist on 2030-03-31: quiet hours 21-02 end at 03:00 summer time.
    late = datetime.datetime(2030, 3, 30, 23, 0, tzinfo=HOUSE)
    ends = send_after(late, QuietHours(start_hour=21, end_hour=2))
    assert ends == datetime.datetime(2030, 3, 31, 1, 0, tzinfo=datetime.UTC)
    assert ends.hour == 3


def test_a_newcomer_arrival_without_an_offset_is_read_as_utc() -> None:
    naive = (NOW - datetime.timedelta(hours=2)).astimezone(datetime.UTC).replace(tzinfo=None)
    seen = picture(arrived(naive), *subscriber("anna", "newcomer_waiting"))
    assert told(seen) == [("newcomer_waiting", "nina", "anna")]


def test_quiet_hours_within_one_day_and_none() -> None:
    night = QuietHours(start_hour=1, end_hour=6)
    assert send_after(datetime.datetime(2030, 1, 8, 3, 0, tzinfo=HOUSE), night).hour == 6
    assert send_after(datetime.datetime(2030, 1, 8, 23, 0, tzinfo=HOUSE), night).hour == 23
    assert send_after(datetime.datetime(2030, 1, 8, 3, 0, tzinfo=HOUSE), None).hour == 3


def test_due_waits_for_the_end_of_quiet_hours() -> None:
    seen = picture(
        arrived(NOW - datetime.timedelta(hours=12)), *subscriber("anna", "newcomer_waiting")
    )
    [notice] = due(seen, datetime.datetime(2030, 1, 7, 22, 0, tzinfo=HOUSE), QUIET)
    assert notice.send_after == datetime.datetime(2030, 1, 8, 8, 0, tzinfo=HOUSE)


def test_quiet_hours_parse() -> None:
    assert QuietHours.parse("21-08") == QuietHours(start_hour=21, end_hour=8)
    assert QuietHours.parse(" 1-6 ") == QuietHours(start_hour=1, end_hour=6)
    assert QuietHours.parse("none") is None
    assert QuietHours.parse("None") is None
    for bad in ("21", "21-24", "8-8", "21:00-08:00", "nope", ""):
        with pytest.raises(ValueError, match=re.escape(repr(bad))):
            QuietHours.parse(bad)


def test_send_after_wants_a_moment_with_its_offset() -> None:
    with pytest.raises(ValueError, match="offset"):
        send_after(datetime.datetime(2030, 1, 7, 12, 0), QUIET)


# notice ids --------------------------------------------------------------------------------


def test_notice_ids_are_stable_valid_and_distinct() -> None:
    first = notice_id("meal_needs_helpers", "m" * 64, "c" * 64, "123456789")
    assert first == notice_id("meal_needs_helpers", "m" * 64, "c" * 64, "123456789")
    assert re.match(ID_PATTERN, first)
    assert first.startswith("meal_needs_helpers-")
    assert (
        notice_id("meal_needs_cook", "m1", "anna")
        == "meal_needs_cook-"
        + (hashlib.sha256(b"meal_needs_cook\x1fm1\x1fanna\x1f").hexdigest()[:20])
    )
    ids = {
        notice_id(rule, about, who)
        for rule in ("meal_needs_cook", "meal_needs_helpers")
        for about in ("m1", "m2")
        for who in ("anna", "bo")
    }
    assert len(ids) == 8


def test_every_due_notice_is_a_valid_record_notice_command() -> None:
    seen = picture(
        planned(slots=2),
        arrived(NOW - datetime.timedelta(hours=2)),
        *SCHEDULED,
        affected("released"),
        *subscriber("anna", *n.TOPICS),
    )
    notices = due(seen, NOW + datetime.timedelta(hours=6), QUIET)
    assert {d.rule for d in notices} == {
        "meal_needs_cook",
        "meal_needs_helpers",
        "newcomer_waiting",
        "sign_up_affected",
        "weekly_digest",  # a Monday, 18:00
    }
    for d in notices:
        command = n.RecordNotice(
            crew_id=d.crew_id,
            notice_id=d.notice_id,
            topic=d.topic,
            rule=d.rule,
            about=d.about,
            send_after=d.send_after,
        )
        msgspec.json.decode(msgspec.json.encode(command), type=n.RecordNotice)
    assert rules.due(seen, NOW + datetime.timedelta(hours=6), QUIET) == notices


def test_every_rule_fires_and_every_due_it_finds_composes_a_mail() -> None:
    """Rules and mail agree: each rule's facts hold every fact its words need, and fit a
    `notices.record_notice` command."""
    released = r.ClaimReleased(series_id="clean", occurrence_id="clean-20300112", crew_id="anna")
    seen = picture(
        planned(slots=2),
        arrived(NOW - datetime.timedelta(hours=2)),
        *SCHEDULED,
        affected("moved", "clean-20300113", "floors"),
        affected("task_released", task="floors"),
        released,
        BAR,
        bar_shift(WED),
        bar_shift(FRI),
        signed_up("bo"),
        offered("bo"),
        claim("anna", FRI, task=None),
        *subscriber("anna", *n.TOPICS),
    )
    load = MonthLoad(period_start=datetime.date(2030, 1, 1), contributions=40, crew=12,
                     top_10pct_share=0.6, rising=1)  # fmt: skip
    notices = due(seen, NOW + datetime.timedelta(hours=6), QUIET, load)  # Monday 18:00
    assert (
        {d.rule for d in notices} == set(mail.RULES) - rules.ASKED_FOR == set(get_args(rules.Rule))
    )
    assert len(mail.RULES) == 11  # and the page link a person asks for (no rule finds it)
    for d in notices:
        letter = mail.compose(
            d.rule, d.facts, to="x@example.org", sender="crew@localhost", notice_id=d.notice_id
        )
        assert letter["X-Crew-Notice"] == d.notice_id
        command = n.RecordNotice(
            crew_id=d.crew_id,
            notice_id=d.notice_id,
            topic=d.topic,
            rule=d.rule,
            about=d.about,
            send_after=d.send_after,
            facts=d.facts,
        )
        msgspec.json.decode(msgspec.json.encode(command), type=n.RecordNotice)
