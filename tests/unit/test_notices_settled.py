"""A notice held back (quiet hours, a mail server that did not take it) is looked at again
before it goes out: one the rules would no longer find is settled, not mailed. And a gap that
opens again is told again."""

from __future__ import annotations

import datetime

import msgspec

from schemas import meals as m
from schemas import notices as n
from schemas import onboarding as o
from schemas import rota as r
from services.notices.picture import PERSONAL_FRESH
from services.notices.rules import NEWCOMER_UNTIL, Due, due, settled
from tests.unit.test_notices_rules import (
    BAR,
    NOW,
    SCHEDULED,
    WED,
    affected,
    arrived,
    bar_shift,
    offered,
    picture,
    planned,
    signed_up,
    subscriber,
)

LATER = NOW + datetime.timedelta(hours=2)


def recorded(notice: Due) -> n.NoticeRecorded:
    return n.NoticeRecorded(
        crew_id=notice.crew_id,
        notice_id=notice.notice_id,
        topic=notice.topic,
        rule=notice.rule,
        about=notice.about,
        send_after=notice.send_after,
        facts=notice.facts,
    )


def only(*events: msgspec.Struct) -> tuple[list[msgspec.Struct], n.NoticeRecorded]:
    """The events, and the one notice they make the rules find."""
    [notice] = due(picture(*events), NOW, None)
    return list(events), recorded(notice)


def test_a_meal_that_found_its_cook_or_moved_or_was_cancelled_is_settled() -> None:
    events, cook = only(planned(slots=0), *subscriber("anna", "meal_needs_cook"))
    assert not settled(picture(*events, cook), cook, LATER)
    for change in (
        m.VolunteeredToCook(meal_id="m1", crew_id="bo", role="head_cook"),
        m.MealCancelled(meal_id="m1", reason="no food"),
        m.MealRescheduled(meal_id="m1", date=NOW.date() + datetime.timedelta(days=1), time="18:00"),
    ):
        assert settled(picture(*events, cook, change), cook, LATER), change
    begun = datetime.datetime(2030, 1, 8, 18, 0, tzinfo=NOW.tzinfo)
    assert settled(picture(*events, cook), cook, begun)


def test_a_head_cook_who_withdraws_opens_the_gap_again_and_it_is_told_again() -> None:
    events, first = only(planned(slots=0), *subscriber("anna", "meal_needs_cook"))
    took = m.VolunteeredToCook(meal_id="m1", crew_id="bo", role="head_cook")
    left = m.Withdrew(meal_id="m1", crew_id="bo", role="head_cook")
    [again] = due(picture(*events, first, took, left), NOW, None)
    assert (again.rule, again.about, again.crew_id) == ("meal_needs_cook", "m1", "anna")
    assert again.notice_id != first.notice_id, "a new gap, a new notice"


def test_a_newcomer_who_found_a_host_is_settled() -> None:
    events, waiting = only(
        arrived(NOW - datetime.timedelta(hours=2)), *subscriber("anna", "newcomer_waiting")
    )
    assert not settled(picture(*events, waiting), waiting, LATER)
    hosted = o.ConversationScheduled(person_id="nina", host_crew_id="bo", when=LATER)
    assert settled(picture(*events, waiting, hosted), waiting, LATER)


def test_a_notice_held_past_its_rules_cut_off_is_settled_not_sent() -> None:
    """docs/notices.md: a newcomer waits at most 7 days, a change to a sign-up is news for 48
    hours; a notice of either still held back after that is cancelled, not mailed."""
    assert (
        datetime.timedelta(days=7),
        datetime.timedelta(hours=48),
    ) == (NEWCOMER_UNTIL, PERSONAL_FRESH)
    events, waiting = only(
        arrived(NOW - datetime.timedelta(hours=2)), *subscriber("anna", "newcomer_waiting")
    )
    week_on = NOW - datetime.timedelta(hours=2) + NEWCOMER_UNTIL
    assert not settled(picture(*events, waiting), waiting, week_on)
    assert settled(picture(*events, waiting), waiting, week_on + datetime.timedelta(minutes=1))
    events, moved = only(*SCHEDULED, *subscriber("anna", "my_sign_ups"), affected("released"))
    assert not settled(picture(*events, moved), moved, NOW + PERSONAL_FRESH)
    later = NOW + PERSONAL_FRESH + datetime.timedelta(minutes=1)
    assert settled(picture(*events, moved), moved, later)


def test_a_place_on_offer_that_was_taken_is_settled() -> None:
    events, offer = only(
        BAR, bar_shift(WED), signed_up("anna"), offered("anna"), *subscriber("carla", "hand_over")
    )
    assert not settled(picture(*events, offer), offer, LATER)
    taken = r.HandOverTaken(series_id="bar", occurrence_id=WED, crew_id="dan", from_crew_id="anna")
    assert settled(picture(*events, offer, taken), offer, LATER)


def test_a_claim_its_holder_let_go_tells_them_nothing() -> None:
    mine = r.ClaimReleased(
        series_id="bar",
        occurrence_id=WED,
        crew_id="anna",
        reason="intention dropped",
        by_holder=True,
    )
    assert (
        due(picture(BAR, bar_shift(WED), *subscriber("anna", "my_sign_ups"), mine), NOW, None) == []
    )
