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
PLACE = {"title": "Bar", "date": "2026-12-08", "start": "18:00"}
DIGEST = {"week": "2026-W50", "meals_without_cook": "0", "open_helper_places": "1",
          "my_sign_ups": "3"}  # fmt: skip
BURNOUT = {"month": "2026-12", "finding": "top_share", "top_10pct_share": "0.62", "rising": "0"}


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
        ("hand_over", {**PLACE, "start": "10"}, "start"),
        ("confirm_intention", {**PLACE, "lapses": "soon"}, "lapses"),
        ("weekly_digest", {**DIGEST, "week": "2026-50"}, "week"),
        ("weekly_digest", {**DIGEST, "week": "2026-W54"}, "week"),
        ("weekly_digest", {**DIGEST, "my_sign_ups": "two"}, "my_sign_ups"),
        ("burnout_watch", {**BURNOUT, "month": "2026-13"}, "month"),
        ("burnout_watch", {**BURNOUT, "month": "December"}, "month"),
        ("burnout_watch", {**BURNOUT, "finding": "tired"}, "finding"),
        ("burnout_watch", {**BURNOUT, "top_10pct_share": "1.5"}, "top_10pct_share"),
        ("burnout_watch", {**BURNOUT, "top_10pct_share": "most"}, "top_10pct_share"),
        ("burnout_watch", {**BURNOUT, "rising": "a few"}, "rising"),
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


def test_a_place_on_offer_names_its_task_when_there_is_one() -> None:
    words = words_for("hand_over", PLACE)
    assert (
        words.da[0] == "En plads ved »Bar« tirsdag 8. december kl. 18:00 er ledig til overtagelse."
    )
    assert words.en[0] == "A place at “Bar” on Tuesday 8 December at 18:00 is up for taking over."
    kitchen = words_for("hand_over", {**PLACE, "task": "kitchen"})
    assert "kl. 18:00 (opgave: kitchen) er ledig" in kitchen.da[0]
    assert "at 18:00 (task: kitchen) is up" in kitchen.en[0]
    assert kitchen.subject_en == "Place to take over 8 December"


def test_a_place_on_offer_never_shows_who_offers_it() -> None:
    words = words_for("hand_over", {**PLACE, "from_crew_id": "c-giver"})
    assert words == words_for("hand_over", PLACE)
    mail = compose("hand_over", {**PLACE, "from_crew_id": "c-giver"}, "a@example.org", "c@x.org")
    assert "c-giver" not in mail.as_string()


def test_the_burnout_watch_tells_the_share_and_how_many_rise_never_who() -> None:
    share = words_for("burnout_watch", BURNOUT)
    assert share.subject_da == "Arbejdet hviler på få: december 2026"
    assert share.subject_en == "The work rests on a few: December 2026"
    assert share.da == [
        "I december 2026 har de travleste 10 % af crewet stået for 62 % af bidragene.",
        "Kan flere tage en tørn, før nogen brænder ud?",
    ]
    assert share.en == [
        "In December 2026, the busiest 10 % of the crew made 62 % of the contributions.",
        "Could more people take a turn, before someone burns out?",
    ]
    rising = words_for("burnout_watch", {**BURNOUT, "finding": "rising_load", "rising": "1"})
    assert rising.subject_en == "Some are carrying more than usual: December 2026"
    assert rising.da[0] == "1 person bærer mindst dobbelt så meget som sædvanligt."
    assert rising.en[:2] == [
        "1 person is carrying at least twice their usual load.",
        "In December 2026, the busiest 10 % of the crew made 62 % of the contributions.",
    ]
    both = words_for("burnout_watch", {**BURNOUT, "rising": "3"})  # the share leads
    assert both.en[1] == "3 people are carrying at least twice their usual load."
    assert both.da[1] == "3 personer bærer mindst dobbelt så meget som sædvanligt."


def test_a_claim_lapsing_at_midnight_is_confirmed_by_the_end_of_the_day_before() -> None:
    words = words_for("confirm_intention", {**PLACE, "lapses": "2026-12-06T00:00:00+01:00"})
    assert words.da == [
        "Du har en foreløbig plads ved »Bar« tirsdag 8. december kl. 18:00.",
        "Bekræft den senest lørdag 5. december, ellers bliver den frigivet.",
    ]
    assert words.en == [
        "You have a tentative place at “Bar” on Tuesday 8 December at 18:00.",
        "Please confirm it by the end of Saturday 5 December, or it will be released.",
    ]
    at_noon = words_for("confirm_intention", {**PLACE, "lapses": "2026-12-06T11:00:00+00:00"})
    assert (
        at_noon.da[1]
        == "Bekræft den inden søndag 6. december kl. 12:00, ellers bliver den frigivet."
    )
    assert "before Sunday 6 December at 12:00" in at_noon.en[1]


def test_the_weekly_digest_tells_its_week_and_counts() -> None:
    words = words_for("weekly_digest", DIGEST)
    assert words.subject_da == "Ugen der kommer: uge 50"
    assert words.subject_en == "The week ahead: week 50"
    assert words.da == [
        "Uge 50, mandag 7. december til søndag 13. december:",
        "Ingen fællesspisning mangler en kok.",
        "Der er 1 ledig hjælperplads.",
        "Du har 3 tilmeldinger i ugen.",
    ]
    assert words.en == [
        "Week 50, Monday 7 December to Sunday 13 December:",
        "No joint meal needs a cook.",
        "There is 1 open helper place.",
        "You have 3 sign-ups this week.",
    ]
    other = {"week": "2026-W53", "meals_without_cook": "2", "open_helper_places": "0",
             "my_sign_ups": "1"}  # fmt: skip
    words = words_for("weekly_digest", other)
    assert words.da[1:] == [
        "2 fællesspisninger mangler en kok.",
        "Der er ingen ledige hjælperpladser.",
        "Du har 1 tilmelding i ugen.",
    ]
    assert words.en[0] == "Week 53, Monday 28 December to Sunday 3 January:"
    assert words.en[1:] == [
        "2 joint meals need a cook.",
        "There are no open helper places.",
        "You have 1 sign-up this week.",
    ]


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
