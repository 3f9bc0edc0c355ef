"""The burnout watch on plain values: this month's `load_balance` row, the picture's
subscribers and the clock in; the notices out, once a month per finding, with counts only in
their facts; the names of those rising only in a coordinator's mail."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import msgspec
import pytest

from schemas import notices as n
from schemas import onboarding as o
from services.notices import burnout, mail, rules
from services.notices.burnout import MonthLoad, burnout_notices, month_of
from services.notices.rules import Picture, QuietHours, due, notice_id, see

HOUSE = ZoneInfo("Europe/Copenhagen")
NOW = datetime.datetime(2030, 1, 15, 12, 0, tzinfo=HOUSE)
JANUARY = datetime.date(2030, 1, 1)


def load(
    share: float = 0.3, rising: int = 0, contributions: int = 40, start: datetime.date = JANUARY
) -> MonthLoad:
    return MonthLoad(
        period_start=start,
        contributions=contributions,
        crew=12,
        top_10pct_share=share,
        rising=rising,
    )


def picture(*subscribers: str, topic: n.Topic = "burnout_watch") -> Picture:
    seen = Picture()
    seq = 0
    for who in subscribers:
        for event in (
            n.AddressSet(crew_id=who, email="sealed:v1:x"),
            n.Subscribed(crew_id=who, topic=topic),
        ):
            seq += 1
            see(seen, event, NOW, seq)
    return seen


def told(
    seen: Picture, row: MonthLoad | None, now: datetime.datetime = NOW
) -> list[tuple[str, str]]:
    return [(d.about, d.crew_id) for d in due(seen, now, None, row)]


def test_rising_load_tells_each_subscriber_once_with_counts_only() -> None:
    found = due(picture("anna", "bo"), NOW, None, load(share=0.42, rising=2))
    assert [(d.rule, d.topic, d.about, d.crew_id) for d in found] == [
        ("burnout_watch", "burnout_watch", "2030-01-rising_load", "anna"),
        ("burnout_watch", "burnout_watch", "2030-01-rising_load", "bo"),
    ]
    assert found[0].facts == {
        "month": "2030-01",
        "top_10pct_share": "0.42",
        "rising": "2",
        "finding": "rising_load",
    }
    assert found[0].notice_id == notice_id("burnout_watch", "2030-01-rising_load", "anna")
    assert found[0].send_after == NOW


def test_a_share_above_half_is_its_own_finding_and_both_are_two_notices() -> None:
    assert told(picture("anna"), load(share=0.51)) == [("2030-01-top_share", "anna")]
    assert told(picture("anna"), load(share=0.5)) == []  # above half, not half
    assert told(picture("anna"), load(share=0.9, rising=1)) == [
        ("2030-01-rising_load", "anna"),
        ("2030-01-top_share", "anna"),
    ]
    [share] = due(picture("anna"), NOW, None, load(share=0.6666))
    assert share.facts["top_10pct_share"] == "0.67"


def test_the_share_of_a_month_with_few_contributions_yet_is_not_judged() -> None:
    """On the first days of a month the few who contributed are always "the same few"."""
    few = burnout.SHARE_FROM_CONTRIBUTIONS - 1
    assert told(picture("anna"), load(share=1.0, contributions=few)) == []
    assert told(picture("anna"), load(share=1.0, contributions=few + 1)) == [
        ("2030-01-top_share", "anna")
    ]
    assert told(picture("anna"), load(share=1.0, rising=1, contributions=3)) == [
        ("2030-01-rising_load", "anna")
    ]


def test_nothing_found_no_row_or_another_months_row_tells_no_one() -> None:
    seen = picture("anna")
    assert told(seen, load()) == []
    assert told(seen, None) == []
    december = load(share=0.9, rising=3, start=datetime.date(2029, 12, 1))
    assert told(seen, december) == []  # asked before the month turned
    assert told(seen, december, datetime.datetime(2029, 12, 31, 12, tzinfo=HOUSE)) != []


def test_only_subscribers_with_an_address_are_told() -> None:
    assert told(picture("anna", topic="hand_over"), load(rising=1)) == []
    seen = picture("anna", "bo")
    see(seen, n.NoticesStopped(crew_id="bo", stopped_at=NOW), NOW, 99)
    assert told(seen, load(rising=1)) == [("2030-01-rising_load", "anna")]


def test_once_a_month_per_finding() -> None:
    seen = picture("anna")
    [rising] = due(seen, NOW, None, load(rising=1))
    recorded = n.NoticeRecorded(
        crew_id="anna",
        notice_id=rising.notice_id,
        topic="burnout_watch",
        rule="burnout_watch",
        about=rising.about,
        send_after=rising.send_after,
        facts=rising.facts,
    )
    see(seen, recorded, NOW, 50)
    later = NOW + datetime.timedelta(days=5)
    assert told(seen, load(rising=3), later) == []  # more rising: the same month's finding
    assert told(seen, load(share=0.8, rising=3), later) == [("2030-01-top_share", "anna")]
    february = load(rising=1, start=datetime.date(2030, 2, 1))
    assert told(seen, february, datetime.datetime(2030, 2, 2, 12, tzinfo=HOUSE)) == [
        ("2030-02-rising_load", "anna")
    ]


def test_the_month_is_house_time() -> None:
    just_after_midnight = datetime.datetime(2030, 1, 31, 23, 30, tzinfo=datetime.UTC)
    assert month_of(just_after_midnight) == ("2030-02", datetime.date(2030, 2, 1))
    assert month_of(NOW) == ("2030-01", JANUARY)
    assert month_of(datetime.datetime(2030, 12, 31, 22, 59, tzinfo=datetime.UTC)) == (
        "2030-12",
        datetime.date(2030, 12, 1),
    )


def test_quiet_hours_hold_it_until_morning() -> None:
    late = datetime.datetime(2030, 1, 15, 22, 0, tzinfo=HOUSE)
    [found] = due(picture("anna"), late, QuietHours(), load(rising=1))
    assert found.send_after == datetime.datetime(2030, 1, 16, 8, 0, tzinfo=HOUSE)


def test_the_rule_is_the_pure_function_due_asks() -> None:
    seen, row = picture("anna"), load(share=0.7, rising=2)
    assert burnout_notices(seen, row, NOW, NOW) == due(seen, NOW, None, row)


@pytest.mark.parametrize("row", [load(share=0.55), load(rising=4), load(share=1.0, rising=1)])
def test_every_burnout_notice_composes_a_mail_and_fits_a_record_notice(row: MonthLoad) -> None:
    for found in due(picture("c-1042"), NOW, None, row):
        letter = mail.compose(found.rule, found.facts, to="x@example.org", sender="crew@localhost")
        assert "c-1042" not in letter.as_string()
        command = n.RecordNotice(
            crew_id=found.crew_id,
            notice_id=found.notice_id,
            topic=found.topic,
            rule=found.rule,
            about=found.about,
            send_after=found.send_after,
            facts=found.facts,
        )
        msgspec.json.decode(msgspec.json.encode(command), type=n.RecordNotice)


def test_the_query_binds_the_month_and_whether_names_are_asked_for() -> None:
    request = burnout.MONTH_LOAD.ask("2030-01-01", False)
    assert request.params == ["2030-01-01", False]
    assert "2030" not in request.sql
    assert "len(rising_load)" in request.sql  # the count, never the ids
    assert "then coalesce(rising_load_names" in request.sql  # names only when asked for


# Names for coordinators ----------------------------------------------------------------------


def coordinator(who: str, seen: Picture) -> Picture:
    see(seen, o.CoordinatorGranted(person_id=who, granted_at=NOW), NOW, 500)
    return seen


def named(rising: int = 2, names: tuple[str, ...] = ("Anna Holm", "Bo")) -> MonthLoad:
    return msgspec.structs.replace(load(rising=rising), rising_names=list(names), named=True)


def recorded(found: rules.Due) -> n.NoticeRecorded:
    return n.NoticeRecorded(
        crew_id=found.crew_id,
        notice_id=found.notice_id,
        topic=found.topic,
        rule=found.rule,
        about=found.about,
        send_after=found.send_after,
        facts=found.facts,
    )


def test_names_are_asked_for_only_while_a_coordinator_watches() -> None:
    seen = picture("anna", "bo")
    assert burnout.names_wanted(seen) is False
    see(seen, o.CoordinatorGranted(person_id="cy", granted_at=NOW), NOW, 60)  # does not watch
    assert burnout.names_wanted(seen) is False
    coordinator("bo", seen)
    assert burnout.names_wanted(seen) is True
    see(seen, o.CoordinatorRevoked(person_id="bo", revoked_at=NOW), NOW, 61)
    assert burnout.names_wanted(seen) is False


def test_a_coordinator_is_told_who_rises_and_everyone_else_counts_only() -> None:
    seen = coordinator("bo", picture("anna", "bo"))
    row = named()
    notices = {d.crew_id: recorded(d) for d in due(seen, NOW, None, row)}
    assert burnout.names_for(seen, notices["bo"], row) == ["Anna Holm", "Bo"]
    assert burnout.names_for(seen, notices["anna"], row) == []
    assert "Anna Holm" not in msgspec.json.encode(notices["bo"]).decode(), "never in the log"
    told = mail.compose(
        "burnout_watch", notices["bo"].facts, "bo@x.dk", "c@x.dk", names=["Anna Holm", "Bo"]
    )
    plain = told.get_body(("plain",))
    assert plain is not None
    text = plain.get_content()
    assert "Lige nu er det: Anna Holm og Bo." in text
    assert "Right now they are: Anna Holm and Bo." in text
    other = mail.compose("burnout_watch", notices["anna"].facts, "a@x.dk", "c@x.dk")
    assert "Anna Holm" not in other.as_string()


@pytest.mark.parametrize(
    "ended",
    [
        o.CoordinatorRevoked(person_id="bo", revoked_at=NOW),
        o.PersonForgotten(person_id="bo", forgotten_at=NOW),
    ],
)
def test_a_role_taken_back_or_a_forget_ends_the_names(ended: o.OnboardingEvent) -> None:
    seen = coordinator("bo", picture("bo"))
    [notice] = [recorded(d) for d in due(seen, NOW, None, named())]
    see(seen, ended, NOW, 600)
    assert burnout.names_for(seen, notice, named()) == []
    see(seen, o.CoordinatorGranted(person_id="bo", granted_at=NOW), NOW, 601)
    expected = [] if isinstance(ended, o.PersonForgotten) else ["Anna Holm", "Bo"]
    assert burnout.names_for(seen, notice, named()) == expected, "granted again, unless forgotten"


def test_a_coordinators_mail_waits_for_a_row_with_the_names_of_its_month() -> None:
    seen = coordinator("bo", picture("bo"))
    [notice] = [recorded(d) for d in due(seen, NOW, None, named())]
    assert burnout.names_for(seen, notice, None) is None
    assert burnout.names_for(seen, notice, load(rising=2)) is None  # asked without names
    february = msgspec.structs.replace(named(), period_start=datetime.date(2030, 2, 1))
    assert burnout.names_for(seen, notice, february) is None
    assert burnout.names_for(seen, notice, named(rising=0, names=())) == []
    [share] = [recorded(d) for d in due(picture("bo"), NOW, None, load(share=0.9))]
    assert burnout.names_for(coordinator("bo", picture("bo")), share, None) == [], "none rising"


def test_names_for_a_rule_that_names_no_one_are_a_bug() -> None:
    with pytest.raises(ValueError, match="names no one"):
        mail.words_for(
            "meal_needs_cook", {"date": "2030-01-08", "time": "18:00", "meal_id": "m"}, ["Anna"]
        )
