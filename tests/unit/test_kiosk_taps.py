"""One-tap links at the kiosk server, in this process: the real tap pages (services/kiosk/taps.py)
in front of a stand-in for the bus that keeps each command the tap sends. What a tap sends is
checked as the command service would decode it: the subject, the body, and the headers that
make the person the actor and the link's id the command id."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.datastructures import State
from litestar.testing import AsyncTestClient

from crew import links, subjects
from schemas import meals as m
from schemas import notices as n
from schemas import rota as r
from schemas.common import Accepted
from services.kiosk import taps
from services.kiosk.limits import Bucket
from services.notices.answers import VALID_FOR, answers, tap_id

KEY = b"k" * 32
BASE = "http://kiosk.local"


@dataclass
class Bus:
    """The kiosk's House as the tap pages use it: ready, its link key read, and every request
    kept and accepted."""

    link_key: bytes = KEY
    ready: bool = True
    nc: object = object()
    guesses: Bucket = field(default_factory=lambda: Bucket(rate=1.0, burst=100.0))
    sent: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    async def request(self, subject: str, body: bytes, headers: dict[str, str]) -> bytes:
        self.sent.append((subject, body, headers))
        return msgspec.json.encode(Accepted())


@pytest.fixture
async def kiosk() -> AsyncIterator[tuple[AsyncTestClient[Litestar], Bus]]:
    bus = Bus()
    app = Litestar(route_handlers=[taps.confirm, taps.tap], state=State({"house": bus}))
    async with AsyncTestClient(app=app, base_url=BASE) as client:
        yield client, bus


def notice(
    rule: str, topic: n.Topic, about: str, send_after: datetime.datetime
) -> n.NoticeRecorded:
    return n.NoticeRecorded(
        crew_id="carla",
        notice_id=f"{rule}-0123456789abcdef0123",
        topic=topic,
        rule=rule,
        about=about,
        send_after=send_after,
        facts={},
    )


def path(url: str) -> str:
    return url.removeprefix(BASE)


def sent_as(bus: Bus, kind: type[Any]) -> tuple[str, Any, dict[str, str]]:
    """The one command sent: its subject, its body decoded as `kind`, its headers."""
    [(subject, body, headers)] = bus.sent
    fields = {"type": kind.__struct_config__.tag, **msgspec.json.decode(body)}
    return subject, msgspec.json.decode(msgspec.json.encode(fields), type=kind), headers


NOW = datetime.datetime.now(datetime.UTC)


async def test_ill_help_sends_volunteer_to_cook_as_a_helper_with_the_person_as_actor(
    kiosk: tuple[AsyncTestClient[Litestar], Bus],
) -> None:
    client, bus = kiosk
    helpers = notice("meal_needs_helpers", "meal_needs_helpers", "m1", NOW)
    url = answers(helpers, KEY, BASE)["help"]
    looked = await client.get(path(url))
    assert looked.status_code == 200 and bus.sent == [], "opening the link only asks"
    tapped = await client.post(path(url))
    assert tapped.status_code == 200
    subject, command, headers = sent_as(bus, m.VolunteerToCook)
    assert subject == subjects.command_subject("meals", "volunteer_to_cook")
    assert (command.meal_id, command.crew_id, command.role) == ("m1", "carla", "helper")
    assert headers[subjects.ACTOR] == "carla"
    assert headers[subjects.COMMAND_ID] == tap_id(helpers.notice_id, "help")
    assert headers[subjects.SOURCE] == "notice-link"


async def test_yes_im_coming_confirms_the_claim_with_the_person_as_actor(
    kiosk: tuple[AsyncTestClient[Litestar], Bus],
) -> None:
    client, bus = kiosk
    claim = notice("confirm_intention", "confirm_intention", "bar-20300109", NOW)
    url = answers(claim, KEY, BASE)["coming"]
    assert (await client.post(path(url))).status_code == 200
    subject, command, headers = sent_as(bus, r.ConfirmClaim)
    assert subject == subjects.command_subject("rota", "confirm_claim")
    assert (command.occurrence_id, command.crew_id) == ("bar-20300109", "carla")
    assert headers[subjects.ACTOR] == "carla"
    assert headers[subjects.COMMAND_ID] == tap_id(claim.notice_id, "coming")


async def test_an_expired_link_is_answered_410_and_sends_nothing(
    kiosk: tuple[AsyncTestClient[Litestar], Bus],
) -> None:
    client, bus = kiosk
    due_long_ago = NOW - VALID_FOR - datetime.timedelta(minutes=1)
    old = notice("meal_needs_cook", "meal_needs_cook", "m1", due_long_ago)
    url = answers(old, KEY, BASE)["cook"]
    assert (await client.get(path(url))).status_code == 410
    assert (await client.post(path(url))).status_code == 410
    assert bus.sent == []
    fresh = notice(
        "meal_needs_cook", "meal_needs_cook", "m1", due_long_ago + datetime.timedelta(hours=1)
    )
    assert (await client.post(path(answers(fresh, KEY, BASE)["cook"]))).status_code == 200


def test_a_link_expires_when_its_time_is_up_and_not_before() -> None:
    due = datetime.datetime(2030, 1, 7, 12, 0, tzinfo=datetime.UTC)
    token = answers(notice("meal_needs_cook", "meal_needs_cook", "m1", due), KEY, BASE)["cook"]
    token = token.rsplit("/", 1)[1]
    expires = due + VALID_FOR
    assert links.verify(KEY, token, expires - datetime.timedelta(seconds=1)) is not None
    assert links.verify(KEY, token, expires) is None
    assert links.verify(KEY, token, expires + datetime.timedelta(days=30)) is None
