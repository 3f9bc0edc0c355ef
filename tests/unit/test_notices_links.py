"""One-tap answers without a house: the links a notice's mail carries, what the kiosk server
reads back from each, and the command a tap sends."""

from __future__ import annotations

import base64
import datetime
import json

import msgspec

from crew import links
from schemas import notices as n
from schemas import rota as r
from services.kiosk.tap_actions import ACTIONS, TAP_MAY
from services.notices.answers import answers, tap_id

KEY = b"k" * 32
DUE = datetime.datetime(2030, 1, 7, 12, 0, tzinfo=datetime.UTC)
BASE = "https://house.example/"
PLACE = {"title": "Bar", "date": "2030-01-09", "start": "18:00"}


def notice(
    rule: str, topic: n.NoticeTopic, facts: dict[str, str], about: str = "bar-20300109"
) -> n.NoticeRecorded:
    return n.NoticeRecorded(
        crew_id="carla",
        notice_id=f"{rule}-0123456789abcdef0123",
        topic=topic,
        rule=rule,
        about=about,
        send_after=DUE,
        facts=facts,
    )


def verified(url: str) -> links.Link:
    assert url.startswith(f"{BASE}tap/")
    link = links.verify(KEY, url.removeprefix(f"{BASE}tap/"), DUE)
    assert link is not None
    return link


def body_of(url: str) -> dict[str, object]:
    token = url.rsplit("/", 1)[-1].partition(".")[0]  # a URL, or a token alone
    decoded: dict[str, object] = json.loads(
        base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    )
    return decoded


def test_a_hand_over_notice_carries_a_take_over_link_naming_the_giver() -> None:
    offer = notice("hand_over", "hand_over", {**PLACE, "from_crew_id": "c-anna"})
    made = answers(offer, KEY, BASE)
    assert list(made) == ["take_over", "unsubscribe", "send_page"]
    take = verified(made["take_over"])
    assert take == links.Link(
        id=tap_id(offer.notice_id, "take_over"),
        action="take_over",
        crew_id="carla",
        about="bar-20300109",
        topic="hand_over",
        from_crew_id="c-anna",
        expires=DUE + datetime.timedelta(days=14),
    )
    assert verified(made["unsubscribe"]).from_crew_id == ""  # only the take-over names them


def test_a_take_over_tap_sends_take_hand_over_as_the_tapper_from_the_giver() -> None:
    offer = notice("hand_over", "hand_over", {**PLACE, "from_crew_id": "c-anna"})
    take = verified(answers(offer, KEY, BASE)["take_over"])
    context, command, body, *_ = ACTIONS["take_over"]
    assert (context, command) == ("rota", "take_hand_over")
    assert ("rota", "take_hand_over") in TAP_MAY
    sent = msgspec.json.encode({"type": "rota.take_hand_over", **body(take)})
    taken = msgspec.json.decode(sent, type=r.TakeHandOver)
    assert (taken.occurrence_id, taken.crew_id, taken.from_crew_id) == (
        "bar-20300109",
        "carla",
        "c-anna",
    )


def test_a_hand_over_recorded_without_its_giver_has_no_take_over_link() -> None:
    older = notice("hand_over", "hand_over", PLACE)
    assert list(answers(older, KEY, BASE)) == ["unsubscribe", "send_page"]


def test_other_notices_keep_their_links_and_tokens_as_before() -> None:
    """A link without a giver is written as it was before links could name one: a mail sent
    again after an upgrade is the same mail."""
    cook = notice("meal_needs_cook", "meal_needs_cook", {"date": "2030-01-08"}, about="m1")
    made = answers(cook, KEY, BASE)
    assert list(made) == ["cook", "unsubscribe", "send_page"]
    assert list(body_of(made["cook"])) == ["id", "action", "crew_id", "about", "topic", "expires"]
    burnout = notice("burnout_watch", "burnout_watch", {}, about="2030-01-top_share")
    assert list(answers(burnout, KEY, BASE)) == ["unsubscribe", "send_page"]


def test_a_changed_giver_breaks_the_link() -> None:
    offer = notice("hand_over", "hand_over", {**PLACE, "from_crew_id": "c-anna"})
    token = answers(offer, KEY, BASE)["take_over"].rsplit("/", 1)[1]
    mac = token.partition(".")[2]
    claimed = body_of(token) | {"from_crew_id": "c-bo"}
    forged = base64.urlsafe_b64encode(json.dumps(claimed).encode()).rstrip(b"=").decode()
    assert links.verify(KEY, f"{forged}.{mac}", DUE) is None


def test_the_mail_with_a_fresh_page_link_carries_only_open_my_page_for_a_day() -> None:
    asked = notice("page_link", "page_link", {}, about="carla")
    made = answers(asked, KEY, BASE)
    assert list(made) == ["page"]
    link = verified(made["page"])
    assert (link.action, link.crew_id) == ("page", "carla")
    assert link.expires - asked.send_after == datetime.timedelta(days=1)
