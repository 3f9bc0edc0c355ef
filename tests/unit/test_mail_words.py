"""The words of a notice mail, the SMTP settings and the backoff, without a mail server."""

from __future__ import annotations

import datetime

import pytest

from services.notices.mail import (
    MAX_BACKOFF_S,
    SmtpSettings,
    backoff,
    compose,
    da_day,
    en_day,
    words_for,
)

MEAL = {"date": "2026-12-08", "time": "18:00", "meal_id": "m-1"}


def test_days_are_written_from_the_tables_not_the_locale() -> None:
    assert da_day(datetime.date(2026, 12, 8)) == "tirsdag 8. december"
    assert en_day(datetime.date(2026, 12, 8)) == "Tuesday 8 December"
    assert da_day(datetime.date(2027, 5, 2)) == "søndag 2. maj"
    assert en_day(datetime.date(2027, 5, 2)) == "Sunday 2 May"


def test_an_unknown_rule_is_named() -> None:
    with pytest.raises(ValueError, match="no_such_rule"):
        compose("no_such_rule", {}, "a@example.org", "crew@example.org")


def test_a_missing_fact_is_named() -> None:
    with pytest.raises(ValueError, match="meal_needs_cook: missing facts time"):
        words_for("meal_needs_cook", {"date": "2026-12-08", "meal_id": "m-1"})


@pytest.mark.parametrize(
    ("rule", "facts", "named"),
    [
        ("meal_needs_cook", {**MEAL, "date": "8/12"}, "date"),
        ("meal_needs_cook", {**MEAL, "time": "6pm"}, "time"),
        ("meal_needs_helpers", {**MEAL, "open_places": "some"}, "open_places"),
        ("newcomer_waiting", {"arrived": "yesterday"}, "arrived"),
        ("sign_up_affected", {"title": "T", "date": "2026-12-08", "what": "lost"}, "what"),
    ],
)
def test_a_malformed_fact_is_named(rule: str, facts: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=f"{rule}: {named}"):
        words_for(rule, facts)


def test_helpers_count_their_places() -> None:
    one = words_for("meal_needs_helpers", {**MEAL, "open_places": "1"})
    three = words_for("meal_needs_helpers", {**MEAL, "open_places": "3"})
    assert "1 ledig plads." in one.da[0] and "1 open place." in one.en[0]
    assert "3 ledige pladser." in three.da[0] and "3 open places." in three.en[0]


def test_a_newcomer_arrival_is_told_in_house_time() -> None:
    words = words_for("newcomer_waiting", {"arrived": "2026-12-08T13:05:00+00:00"})
    assert "tirsdag 8. december kl. 14:05" in words.da[0]
    assert "Tuesday 8 December at 14:05" in words.en[0]


def test_a_reason_is_told_only_when_there_is_one() -> None:
    facts = {"title": "Bar", "date": "2026-12-08"}
    assert words_for("claim_released", {**facts, "reason": " "}).en == [
        "Your tentative place at “Bar” on Tuesday 8 December was released."
    ]
    with_reason = words_for("task_released", {**facts, "reason": "fewer tasks"})
    assert with_reason.da[-1] == "Grund: fewer tasks"
    assert with_reason.en[-1] == "Reason: fewer tasks"


def test_without_a_notice_id_there_is_no_notice_header() -> None:
    mail = compose("meal_needs_cook", MEAL, "a@example.org", "crew@example.org")
    assert mail["X-Crew-Notice"] is None and mail["Message-ID"] is None


def test_a_notice_id_that_is_not_an_id_is_refused() -> None:
    with pytest.raises(ValueError, match="notice id"):
        compose("meal_needs_cook", MEAL, "a@example.org", "c@example.org", notice_id="a b>")


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("mail.example.org:587", ("mail.example.org", 587)),
        ("127.0.0.1:25", ("127.0.0.1", 25)),
        ("[::1]:2525", ("::1", 2525)),
    ],
)
def test_host_and_port_are_parsed(text: str, parsed: tuple[str, int]) -> None:
    assert SmtpSettings.parse_hostport(text) == parsed


@pytest.mark.parametrize("text", ["mail.example.org", ":25", "mail:", "mail:smtp", "mail:0",
                                  "mail:70000"])  # fmt: skip
def test_a_bad_host_and_port_is_named(text: str) -> None:
    with pytest.raises(ValueError, match=repr(text)):
        SmtpSettings.parse_hostport(text)


def test_settings_hide_the_password_and_want_it_with_a_user() -> None:
    settings = SmtpSettings(host="h", port=25, mail_from="c@example.org", user="u", password="pw")
    assert "pw" not in repr(settings)
    with pytest.raises(ValueError, match="user and a password"):
        SmtpSettings(host="h", port=25, mail_from="c@example.org", user="u")


def test_backoff_doubles_from_five_seconds_up_to_ten_minutes() -> None:
    assert [backoff(n) for n in range(1, 10)] == [5, 10, 20, 40, 80, 160, 320, 600, 600]
    assert backoff(0) == backoff(-3) == 5
    assert backoff(10**9) == MAX_BACKOFF_S
