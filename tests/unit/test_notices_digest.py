"""The weekly digest's week ahead on plain values: the person's own sign-ups and the open places
(meals without a cook, open helper places, a shift's places, a cleaning task's), each with its
day and time, listed in the notice and written in Danish and English."""

from __future__ import annotations

import datetime
from typing import Literal
from zoneinfo import ZoneInfo

import msgspec

from schemas import meals as m
from schemas import notices as n
from schemas import rota as r
from services.notices import mail, rota_rules
from services.notices.rules import Due, Picture, due, see

HOUSE = ZoneInfo("Europe/Copenhagen")
NOW = datetime.datetime(2030, 1, 7, 12, 0, tzinfo=HOUSE)  # a Monday, noon
TUE, WED, THU, FRI = (datetime.date(2030, 1, d) for d in (8, 9, 10, 11))


def meal(meal_id: str, day: datetime.date, slots: int = 2, time: str = "18:00") -> m.MealPlanned:
    return m.MealPlanned(meal_id=meal_id, date=day, time=time, helper_slots=slots)


def cooks(meal_id: str, who: str, role: Literal["head_cook", "helper"]) -> m.VolunteeredToCook:
    return m.VolunteeredToCook(meal_id=meal_id, crew_id=who, role=role)


def occurrence(
    occurrence_id: str,
    kind: Literal["shift", "cleaning_party"],
    day: datetime.date,
    start: str,
    **shape: object,
) -> r.OccurrenceScheduled:
    return r.OccurrenceScheduled(
        series_id=occurrence_id.split("-")[0],
        occurrence_id=occurrence_id,
        kind=kind,
        title={"shift": "Bar", "cleaning_party": "Rengøring"}[kind],
        date=day,
        start=start,
        end="22:00",
        **shape,  # type: ignore[arg-type]
    )


BAR, CLEAN = "bar-20300109", "clean-20300111"
KITCHEN_AND_STAIRS = [r.TaskSpec(task="kitchen", capacity=2), r.TaskSpec(task="stairs", capacity=1)]
WEEK: list[msgspec.Struct] = [
    meal("tue", TUE),  # no cook, bo helps: a cook and 1 helper wanted
    cooks("tue", "bo", "helper"),
    meal("thu", THU),  # anna cooks: 2 helpers wanted
    cooks("thu", "anna", "head_cook"),
    meal("fri", FRI, slots=1),  # closed: nothing open, bo cooks
    cooks("fri", "bo", "head_cook"),
    m.MealClosed(meal_id="fri"),
    meal("early", datetime.date(2030, 1, 7), time="08:00"),  # this morning: over
    meal("next", datetime.date(2030, 1, 14)),  # next week
    occurrence(BAR, "shift", WED, "18:00", capacity=3),  # anna in, carla's claim: 1 open
    r.SignedUpForShift(series_id="bar", occurrence_id=BAR, crew_id="anna"),
    r.TentativeClaimMade(series_id="bar", occurrence_id=BAR, crew_id="carla"),
    occurrence("open-20300110", "shift", THU, "10:00"),  # no limit: not a gap
    occurrence("gone-20300110", "shift", THU, "12:00", capacity=2),
    r.OccurrenceCancelled(
        series_id="gone", occurrence_id="gone-20300110", kind="shift", by_series_change=False
    ),
    occurrence(CLEAN, "cleaning_party", FRI, "10:00", tasks=KITCHEN_AND_STAIRS),
    r.JoinedCleaningParty(series_id="clean", occurrence_id=CLEAN, crew_id="anna"),
    r.TookTask(series_id="clean", occurrence_id=CLEAN, crew_id="anna", task="kitchen"),
    r.TentativeClaimMade(series_id="clean", occurrence_id=CLEAN, crew_id="carla", task="stairs"),
]


def picture(*events: msgspec.Struct) -> Picture:
    seen = Picture()
    for seq, event in enumerate(events, start=1):
        see(seen, event, NOW, seq)
    return seen


def readers(*who: str) -> list[msgspec.Struct]:
    return [
        event
        for person in who
        for event in (
            n.AddressSet(crew_id=person, email="sealed:v1:x"),
            n.Subscribed(crew_id=person, topic="weekly_digest"),
        )
    ]


def digests(*events: msgspec.Struct) -> dict[str, Due]:
    return {d.crew_id: d for d in due(picture(*events), NOW, None) if d.rule == "weekly_digest"}


OPEN = [
    n.Listed(mine=False, date=TUE, time="18:00", cook_wanted=True, places=1),
    n.Listed(mine=False, date=WED, time="18:00", title="Bar", places=1),
    n.Listed(mine=False, date=THU, time="18:00", places=2),
    n.Listed(mine=False, date=FRI, time="10:00", title="Rengøring", task="kitchen", places=1),
]


def test_the_digest_lists_the_persons_own_sign_ups_and_the_open_places_by_day() -> None:
    told = digests(*WEEK, *readers("anna", "bo", "dan"))
    assert told["anna"].listing == [
        n.Listed(mine=True, date=WED, time="18:00", title="Bar"),
        n.Listed(mine=True, date=THU, time="18:00", task="head_cook"),
        n.Listed(mine=True, date=FRI, time="10:00", title="Rengøring", task="kitchen"),
        *OPEN,
    ]
    assert told["bo"].listing == [
        n.Listed(mine=True, date=TUE, time="18:00", task="helper"),
        n.Listed(mine=True, date=FRI, time="18:00", task="head_cook"),
        *OPEN,
    ]
    assert told["dan"].listing == OPEN
    assert [told[who].facts["my_sign_ups"] for who in ("anna", "bo", "dan")] == ["3", "2", "0"]
    assert "unlisted" not in told["anna"].facts


def test_a_place_taken_or_claimed_is_no_longer_open() -> None:
    more = [
        r.SignedUpForShift(series_id="bar", occurrence_id=BAR, crew_id="bo"),
        r.TookTask(series_id="clean", occurrence_id=CLEAN, crew_id="bo", task="kitchen"),
        cooks("tue", "cy", "head_cook"),
    ]
    listing = digests(*WEEK, *more, *readers("dan"))["dan"].listing
    assert listing == [
        n.Listed(mine=False, date=TUE, time="18:00", places=1),
        n.Listed(mine=False, date=THU, time="18:00", places=2),
    ]


def test_a_long_week_is_cut_and_says_how_many_more() -> None:
    many = [meal(f"m{i}", THU, time=f"{8 + i // 6:02d}:{i % 6 * 10:02d}") for i in range(30)]
    [digest] = digests(*many, *readers("dan")).values()
    assert len(digest.listing) == rota_rules.LISTED_MAX
    assert digest.facts["unlisted"] == "5"
    assert digest.listing[0].time == "08:00"  # the first of the day come first
    words = mail.words_for(digest.rule, digest.facts, listing=digest.listing)
    assert words.da[-1] == "Og 5 mere: se tavlen i kiosken."
    assert words.en[-1] == "And 5 more: see the board at the kiosk."


def test_the_mail_lists_each_line_with_its_day_in_danish_and_english() -> None:
    digest = digests(*WEEK, *readers("anna"))["anna"]
    words = mail.words_for(digest.rule, digest.facts, listing=digest.listing)
    assert words.da[-2:] == [
        "Dine tilmeldinger:\n"
        "- onsdag 9. januar kl. 18:00: »Bar«\n"
        "- torsdag 10. januar kl. 18:00: fællesspisning, du laver maden\n"
        "- fredag 11. januar kl. 10:00: »Rengøring«, opgave: kitchen",
        "Ledige pladser:\n"
        "- tirsdag 8. januar kl. 18:00: fællesspisning, mangler en kok og 1 hjælper\n"
        "- onsdag 9. januar kl. 18:00: »Bar«: 1 ledig plads\n"
        "- torsdag 10. januar kl. 18:00: fællesspisning, mangler 2 hjælpere\n"
        "- fredag 11. januar kl. 10:00: »Rengøring«, opgave: kitchen: 1 ledig plads",
    ]
    assert words.en[-2:] == [
        "Your sign-ups:\n"
        "- Wednesday 9 January at 18:00: “Bar”\n"
        "- Thursday 10 January at 18:00: joint meal, you cook\n"
        "- Friday 11 January at 10:00: “Rengøring”, task: kitchen",
        "Open places:\n"
        "- Tuesday 8 January at 18:00: joint meal, needs a cook and 1 helper\n"
        "- Wednesday 9 January at 18:00: “Bar”: 1 open place\n"
        "- Thursday 10 January at 18:00: joint meal, needs 2 helpers\n"
        "- Friday 11 January at 10:00: “Rengøring”, task: kitchen: 1 open place",
    ]
    assert words.da[1:4] == [  # the counts stay, above the lists
        "1 fællesspisning mangler en kok.",
        "Der er 3 ledige hjælperpladser.",
        "Du har 3 tilmeldinger i ugen.",
    ]


def test_the_list_is_in_the_recorded_notice_and_its_mail_each_line_a_line_in_html() -> None:
    digest = digests(*WEEK, *readers("anna"))["anna"]
    command = n.RecordNotice(
        crew_id="anna",
        notice_id=digest.notice_id,
        topic=digest.topic,
        rule=digest.rule,
        about=digest.about,
        send_after=digest.send_after,
        facts=digest.facts,
        listing=digest.listing,
    )
    wire = msgspec.json.decode(msgspec.json.encode(command), type=n.RecordNotice)
    assert wire.listing == digest.listing
    letter = mail.compose(digest.rule, digest.facts, "anna@x.dk", "crew@x.dk", listing=wire.listing)
    html = letter.get_body(("html",))
    assert html is not None
    assert '<p lang="da">Dine tilmeldinger:<br>\n- onsdag 9. januar kl. 18:00: »Bar«<br>\n' in (
        html.get_content()
    )
