"""A notice held back (quiet hours, a mail server that did not take it) is looked at again
before it goes out: a gap filled meanwhile is not mailed."""

from __future__ import annotations

import datetime

from schemas import meals as m
from schemas import notices as n
from schemas import onboarding as o
from services.notices.rules import due, settled
from tests.unit.test_notices_rules import NOW, arrived, picture, planned, subscriber

LATER = NOW + datetime.timedelta(hours=2)


def recorded(rule: str, about: str = "m1") -> n.NoticeRecorded:
    return n.NoticeRecorded(
        crew_id="anna",
        notice_id=f"{rule}-x",
        topic=rule,  # type: ignore[arg-type]  # each of these rules has its own topic
        rule=rule,
        about=about,
        send_after=NOW,
    )


def test_a_meal_that_found_its_cook_or_helpers_meanwhile_is_settled() -> None:
    cook = recorded("meal_needs_cook")
    helpers = recorded("meal_needs_helpers")
    open_meal = picture(planned(slots=1), *subscriber("anna", "meal_needs_cook"))
    assert due(open_meal, NOW, None), "the gap is there"
    assert not settled(open_meal, cook, LATER) and not settled(open_meal, helpers, LATER)
    cooked = picture(
        planned(slots=1),
        m.VolunteeredToCook(meal_id="m1", crew_id="bo", role="head_cook"),
        m.VolunteeredToCook(meal_id="m1", crew_id="cy", role="helper"),
    )
    assert settled(cooked, cook, LATER) and settled(cooked, helpers, LATER)


def test_a_cancelled_or_begun_meal_is_settled_and_an_unknown_one_too() -> None:
    cook = recorded("meal_needs_cook")
    cancelled = picture(planned(), m.MealCancelled(meal_id="m1", reason="no food"))
    assert settled(cancelled, cook, LATER)
    begun = picture(planned())
    assert settled(begun, cook, datetime.datetime(2030, 1, 8, 18, 0, tzinfo=NOW.tzinfo))
    assert settled(picture(), cook, LATER)


def test_a_newcomer_who_found_a_host_is_settled_and_other_rules_never_are() -> None:
    waiting = recorded("newcomer_waiting", about="nina")
    early = NOW - datetime.timedelta(hours=2)
    still = picture(arrived(early))
    assert not settled(still, waiting, LATER)
    hosted = picture(
        arrived(early),
        o.ConversationScheduled(person_id="nina", host_crew_id="bo", when=LATER),
    )
    assert settled(hosted, waiting, LATER)
    assert not settled(picture(), recorded("weekly_digest", about="2030-W02"), LATER)
