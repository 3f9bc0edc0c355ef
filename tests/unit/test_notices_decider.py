"""Who is told what: opting in and out, the address, and each notice recorded once."""

from __future__ import annotations

import datetime

import msgspec
import pytest

from schemas import notices as n
from services.notices import decider as d
from services.notices.decider import NOTICES
from tests.unit.refusal_table import codes_documented, codes_given

AT = datetime.datetime(2030, 1, 7, 9, 0, tzinfo=datetime.UTC)
ADDRESS = n.AddressSet(crew_id="anna", email="sealed:v1:anna:email:xyz")
COOKS = n.Subscribed(crew_id="anna", topic="meal_needs_cook")
RECORD = n.RecordNotice(
    crew_id="anna",
    notice_id="cook-m1-anna",
    topic="meal_needs_cook",
    rule="meal_needs_cook",
    about="m1",
    send_after=AT,
    facts={"date": "2030-01-08", "time": "17:30"},
)
RECORDED = n.NoticeRecorded(
    crew_id="anna",
    notice_id="cook-m1-anna",
    topic="meal_needs_cook",
    rule="meal_needs_cook",
    about="m1",
    send_after=AT,
    facts={"date": "2030-01-08", "time": "17:30"},
)


def given_(*events: n.NoticesEvent) -> d.Person:
    return NOTICES.fold("anna", events)


def test_opting_in_twice_or_out_of_what_one_never_had_changes_nothing() -> None:
    assert d.decide(given_(), n.Subscribe(crew_id="anna", topic="meal_needs_cook")) == [COOKS]
    assert d.decide(given_(COOKS), n.Subscribe(crew_id="anna", topic="meal_needs_cook")) == []
    assert d.decide(given_(), n.Unsubscribe(crew_id="anna", topic="hand_over")) == []


def test_a_notice_is_recorded_once_and_only_for_a_subscriber_with_an_address() -> None:
    assert d.decide(given_(ADDRESS, COOKS), RECORD) == [RECORDED]
    assert d.decide(given_(ADDRESS, COOKS, RECORDED), RECORD) == [], "found again: nothing new"
    with pytest.raises(d.NotSubscribed):
        d.decide(given_(ADDRESS), RECORD)
    with pytest.raises(d.NoAddress):
        d.decide(given_(COOKS), RECORD)


def test_a_notice_is_marked_sent_once() -> None:
    sent = n.NoticeSent(crew_id="anna", notice_id="cook-m1-anna", sent_at=AT)
    mark = n.MarkSent(crew_id="anna", notice_id="cook-m1-anna", at=AT)
    assert d.decide(given_(ADDRESS, COOKS, RECORDED), mark) == [sent]
    assert d.decide(given_(ADDRESS, COOKS, RECORDED, sent), mark) == []
    with pytest.raises(d.UnknownNotice):
        d.decide(given_(ADDRESS, COOKS), mark)


def test_opting_out_cancels_what_of_that_topic_was_not_sent_yet() -> None:
    person = given_(ADDRESS, COOKS, RECORDED)
    assert d.decide(person, n.Unsubscribe(crew_id="anna", topic="meal_needs_cook")) == [
        n.Unsubscribed(crew_id="anna", topic="meal_needs_cook"),
        n.NoticesCancelled(crew_id="anna", notice_ids=["cook-m1-anna"], why="unsubscribed"),
    ]


def test_a_notice_settled_before_it_went_out_is_cancelled_once() -> None:
    cancel = n.CancelNotice(crew_id="anna", notice_id="cook-m1-anna")
    cancelled = n.NoticesCancelled(crew_id="anna", notice_ids=["cook-m1-anna"], why="settled")
    assert d.decide(given_(ADDRESS, COOKS, RECORDED), cancel) == [cancelled]
    assert d.decide(given_(ADDRESS, COOKS, RECORDED, cancelled), cancel) == []
    sent = n.NoticeSent(crew_id="anna", notice_id="cook-m1-anna", sent_at=AT)
    assert d.decide(given_(ADDRESS, COOKS, RECORDED, sent), cancel) == [], "it went out already"
    with pytest.raises(d.UnknownNotice):
        d.decide(given_(ADDRESS, COOKS), cancel)


def test_a_notice_refused_for_good_is_given_up_once_and_then_neither_sent_nor_cancelled() -> None:
    give_up = n.GiveUpNotice(crew_id="anna", notice_id="cook-m1-anna", code=550, at=AT)
    given_up = n.NoticeGivenUp(crew_id="anna", notice_id="cook-m1-anna", given_up_at=AT, code=550)
    assert d.decide(given_(ADDRESS, COOKS, RECORDED), give_up) == [given_up]
    person = given_(ADDRESS, COOKS, RECORDED, given_up)
    assert person.pending() == [] and person.notices["cook-m1-anna"].state == "given_up"
    assert d.decide(person, give_up) == []
    assert d.decide(person, n.MarkSent(crew_id="anna", notice_id="cook-m1-anna", at=AT)) == []
    assert d.decide(person, n.CancelNotice(crew_id="anna", notice_id="cook-m1-anna")) == []
    assert d.decide(person, n.StopNotices(crew_id="anna", at=AT)) == [
        n.NoticesStopped(crew_id="anna", stopped_at=AT)
    ]
    sent = n.NoticeSent(crew_id="anna", notice_id="cook-m1-anna", sent_at=AT)
    assert d.decide(given_(ADDRESS, COOKS, RECORDED, sent), give_up) == [], "it went out"
    with pytest.raises(d.UnknownNotice):
        d.decide(given_(ADDRESS, COOKS), give_up)


def test_a_forgotten_person_is_never_told_anything_again() -> None:
    person = given_(ADDRESS, COOKS, RECORDED)
    stop = n.StopNotices(crew_id="anna", at=AT)
    events = d.decide(person, stop)
    assert events == [
        n.NoticesCancelled(crew_id="anna", notice_ids=["cook-m1-anna"], why="forgotten"),
        n.NoticesStopped(crew_id="anna", stopped_at=AT),
    ]
    stopped = given_(ADDRESS, COOKS, RECORDED, *events)
    assert d.decide(stopped, stop) == []
    assert not stopped.topics and not stopped.has_address and stopped.pending() == []
    for command in (
        n.Subscribe(crew_id="anna", topic="hand_over"),
        n.SetAddress(crew_id="anna", email="anna@example.org"),
        msgspec.structs.replace(RECORD, notice_id="x"),
    ):
        with pytest.raises(d.PersonForgotten):
            d.decide(stopped, command)


def test_the_refusal_table_in_the_contract_is_what_the_rules_say() -> None:
    states = [
        given_(),
        given_(ADDRESS),
        given_(COOKS),
        given_(ADDRESS, COOKS, RECORDED),
        given_(ADDRESS, COOKS, n.NoticesStopped(crew_id="anna", stopped_at=AT)),
    ]
    commands = {
        "set_address": [n.SetAddress(crew_id="anna", email="anna@example.org")],
        "subscribe": [n.Subscribe(crew_id="anna", topic="meal_needs_cook")],
        "ask_for_page_link": [n.AskForPageLink(crew_id="anna", at=AT)],
        "unsubscribe": [n.Unsubscribe(crew_id="anna", topic="meal_needs_cook")],
        "record_notice": [RECORD],
        "mark_sent": [n.MarkSent(crew_id="anna", notice_id="cook-m1-anna", at=AT)],
        "cancel_notice": [n.CancelNotice(crew_id="anna", notice_id="cook-m1-anna")],
        "give_up_notice": [n.GiveUpNotice(crew_id="anna", notice_id="cook-m1-anna", at=AT)],
        "stop_notices": [n.StopNotices(crew_id="anna", at=AT)],
    }
    given = codes_given(d.decide, [(state, commands) for state in states])
    assert codes_documented("notices") == given


def test_a_fresh_page_link_goes_to_the_address_once_per_ten_minutes_and_never_to_the_forgotten() -> (
    None
):
    ask = n.AskForPageLink(crew_id="anna", at=AT)
    [first] = d.decide(given_(ADDRESS), ask)
    assert first == n.NoticeRecorded(
        crew_id="anna",
        notice_id="page-link-1-anna",
        topic="page_link",
        rule="page_link",
        about="anna",
        send_after=AT,
    )
    sent = n.NoticeSent(crew_id="anna", notice_id=first.notice_id, sent_at=AT)
    later = n.AskForPageLink(crew_id="anna", at=AT + datetime.timedelta(minutes=9))
    assert d.decide(given_(ADDRESS, first), later) == [], "the one asked for is on its way"
    assert d.decide(given_(ADDRESS, first, sent), later) == [], "asked a moment ago"
    again = n.AskForPageLink(crew_id="anna", at=AT + datetime.timedelta(minutes=11))
    [second] = d.decide(given_(ADDRESS, first, sent), again)
    assert second.notice_id == "page-link-2-anna", "each asked-for link is a notice of its own"
    with pytest.raises(d.NoAddress):
        d.decide(given_(COOKS), ask)
    stopped = n.NoticesStopped(crew_id="anna", stopped_at=AT)
    with pytest.raises(d.PersonForgotten):
        d.decide(given_(ADDRESS, stopped), ask)
    assert len(d.page_link_id("x" * 64, 1)) <= 64
