"""The notices rules on plain values: fold events into a picture, ask what is due at a moment."""

from __future__ import annotations

import datetime
import hashlib
import re
from typing import Literal
from zoneinfo import ZoneInfo

import msgspec
import pytest

from schemas import meals as m
from schemas import notices as n
from schemas import onboarding as o
from schemas import rota as r
from schemas.common import ID_PATTERN
from services.notices import rules
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
        planned(slots=0), *subscriber("anna", "meal_needs_cook"), *subscriber("bo", "weekly_digest")
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
