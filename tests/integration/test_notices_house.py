"""Notices in a running house, with a real mail server (aiosmtpd) on a free port: the outbox
without a mail server, then each notice mailed exactly once, across restarts, and nothing to a
forgotten person."""

from __future__ import annotations

import datetime
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from schemas.common import HOUSE_TIMEZONE
from tests.conftest import start_house
from tests.integration.cli import crew, eventually, send
from tests.polling import eventually as poll
from tests.smtp import Mailbox, mail_server

Env = dict[str, str]
TOMORROW = datetime.datetime.now(ZoneInfo(HOUSE_TIMEZONE)).date() + datetime.timedelta(days=1)


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    with mail_server() as running:
        yield running


def plan_tomorrow(env: Env, meal_id: str) -> None:
    """A meal 20 hours from now, house time: within the cook rule's 36 hours at any hour of
    the day (tomorrow at 17:30 is 41 hours away just after midnight)."""
    at = datetime.datetime.now(ZoneInfo(HOUSE_TIMEZONE)) + datetime.timedelta(hours=20)
    body = {"meal_id": meal_id, "date": str(at.date()), "time": f"{at:%H:%M}", "helper_slots": 2}
    assert send(env, "meals.plan_meal", body)["status"] == "accepted"


def opt_in(env: Env, crew_id: str) -> str:
    address = f"{crew_id}@house.example"
    for command, body in (
        ("onboarding.register_crew_member", {"crew_id": crew_id, "display_name": crew_id.title()}),
        ("notices.set_address", {"crew_id": crew_id, "email": address}),
        ("notices.subscribe", {"crew_id": crew_id, "topic": "meal_needs_cook"}),
    ):
        assert send(env, command, body)["status"] == "accepted", (command, body)
    return address


def mailed(box: Mailbox, meal_id: str, to: str) -> int:
    return len(box.about(meal_id, to))


def link(mail: EmailMessage, label: str) -> str:
    """The URL under a one-tap answer's label in the mail's plain text."""
    body = mail.get_body(("plain",))
    assert body is not None
    lines = body.get_content().splitlines()
    return lines[next(i for i, line in enumerate(lines) if label in line) + 1].strip()


def tap(url: str, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def host_a_newcomer(env: Env, box: Mailbox, host: str) -> None:
    """A newcomer waiting over an hour: the host subscriber's mail has "I'll host", whose page
    asks for the time of the conversation and schedules it, with the host as the actor."""
    crew_id = host.split("@")[0]
    body = {"crew_id": crew_id, "topic": "newcomer_waiting"}
    assert send(env, "notices.subscribe", body)["status"] == "accepted"
    arrived = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=2)
    newcomer = {"newcomer_id": "n-1", "display_name": "Nora", "at": arrived.isoformat()}
    assert send(env, "onboarding.register_newcomer", newcomer)["status"] == "accepted"
    poll(lambda: mailed(box, "n-1", host), until=lambda n: n == 1, what="the host hears of n-1")
    url = link(box.about("n-1", host)[0], "I'll host")
    status, page = tap(url)
    assert status == 200 and 'type="datetime-local"' in page
    assert tap(url, "POST")[0] == 422, "no time picked: nothing is sent"
    when = urllib.parse.urlencode({"when": f"{TOMORROW}T16:00"}).encode()
    request = urllib.request.Request(url, method="POST", data=when)
    with urllib.request.urlopen(request, timeout=20) as answer:
        assert answer.status == 200
    eventually(
        env,
        "select actor from event_log where type = 'onboarding.conversation_scheduled'",
        [{"actor": crew_id}],
    )


def test_a_meal_without_a_cook_is_mailed_once_to_each_subscriber_and_never_to_the_forgotten(
    crew_env: Env, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    smtp = ("--smtp", f"127.0.0.1:{port}", "--mail-from", "crew@house.example")
    quiet = ("--quiet-hours", "none")
    with start_house(crew_env, *quiet) as (env, _):  # no mail server: the outbox keeps them
        anna, bo, dag = opt_in(env, "anna"), opt_in(env, "bo"), opt_in(env, "dag")
        plan_tomorrow(env, "m1")
        outbox = poll(
            lambda: crew(env, "notices").stdout,
            until=lambda text: "3 notice(s) in the outbox" in text,
            what="crew notices shows the three mails",
        )
        assert f"To: {anna}" in outbox and f"To: {bo}" in outbox and f"To: {dag}" in outbox
        crew(env, "forget", "dag")  # what was waiting for dag goes nowhere, ever
        poll(
            lambda: crew(env, "notices").stdout,
            until=lambda text: "2 notice(s) in the outbox" in text and dag not in text,
            what="the forget takes dag's mail out of the outbox",
        )
        assert not box.mails
    with start_house(crew_env, *smtp, *quiet) as (env, _):  # now with one: each mailed once
        poll(lambda: mailed(box, "m1", anna) + mailed(box, "m1", bo), until=lambda n: n == 2)
        eventually(
            env,
            "select crew_id, status from notices where about = 'm1' order by crew_id",
            [
                {"crew_id": "anna", "status": "sent"},
                {"crew_id": "bo", "status": "sent"},
                {"crew_id": "dag", "status": "cancelled"},
            ],
        )
        assert "0 notice(s) in the outbox" in crew(env, "notices").stdout
        crew(env, "forget", "anna")
        plan_tomorrow(env, "m2")
        poll(lambda: mailed(box, "m2", bo), until=lambda n: n == 1, what="bo hears of m2")
    with start_house(crew_env, *smtp, *quiet) as (env, _):  # a restart sends nothing again
        plan_tomorrow(env, "m3")
        poll(lambda: mailed(box, "m3", bo), until=lambda n: n == 1, what="bo hears of m3")
        cook = link(box.about("m3", bo)[0], "I'll cook")
        assert tap(cook)[0] == 200, "opening the link only asks"
        assert tap(cook, "POST") == tap(cook, "POST"), "a second tap gets the first answer"
        eventually(
            env, "select head_cook from meal_plan where meal_id = 'm3'", [{"head_cook": "bo"}]
        )
        cooks = "select count(*) as n from event_log where type = 'meals.volunteered_to_cook'"
        eventually(env, cooks, [{"n": 1}])  # a look and two taps: one command carried out
        forged = cook[:-3] + ("AAA" if not cook.endswith("AAA") else "BBB")
        assert tap(forged, "POST")[0] == 410
        assert tap(link(box.about("m3", bo)[0], "Unsubscribe"), "POST")[0] == 200
        cy = opt_in(env, "cy")  # told of m1 and m2, still without a cook; m3 has bo now
        plan_tomorrow(env, "m4")
        poll(lambda: mailed(box, "m4", cy), until=lambda n: n == 1, what="cy hears of m4")
        assert mailed(box, "m4", bo) == 0, "bo opted out with the link"
        host_a_newcomer(env, box, cy)
        eventually(
            env,
            "select about, crew_id, status from notices order by all",
            [
                {"about": "m1", "crew_id": "anna", "status": "sent"},
                {"about": "m1", "crew_id": "bo", "status": "sent"},
                {"about": "m1", "crew_id": "cy", "status": "sent"},
                {"about": "m1", "crew_id": "dag", "status": "cancelled"},
                {"about": "m2", "crew_id": "bo", "status": "sent"},
                {"about": "m2", "crew_id": "cy", "status": "sent"},
                {"about": "m3", "crew_id": "bo", "status": "sent"},
                {"about": "m4", "crew_id": "cy", "status": "sent"},
                {"about": "n-1", "crew_id": "cy", "status": "sent"},
            ],
        )
    assert [mailed(box, m, anna) for m in ("m1", "m2", "m3", "m4")] == [1, 0, 0, 0]
    assert [mailed(box, m, bo) for m in ("m1", "m2", "m3", "m4")] == [1, 1, 1, 0]
    assert [mailed(box, m, cy) for m in ("m1", "m2", "m3", "m4")] == [1, 1, 0, 1]
    assert not any(m["To"] == dag for m in box.mails)
    assert len(box.mails) == 8


def test_a_person_asks_the_kiosk_for_their_page_and_opens_it_from_the_mail(
    crew_env: Env, mailbox: tuple[Mailbox, int]
) -> None:
    """ "Send my page to my e-mail" from a tablet: the mail goes out at once, quiet hours or
    not; its link asks before it does anything, then opens the page with a fresh token, and
    the old link ends. Someone with no address is told so, and nothing is sent."""
    box, port = mailbox
    hour = datetime.datetime.now(ZoneInfo(HOUSE_TIMEZONE)).hour
    quiet = ("--quiet-hours", f"{hour:02d}-{(hour + 2) % 24:02d}")  # quiet now
    smtp = ("--smtp", f"127.0.0.1:{port}", "--mail-from", "crew@house.example")
    with start_house(crew_env, *smtp, *quiet) as (env, _):
        for crew_id in ("anna", "bo"):
            body = {"crew_id": crew_id, "display_name": crew_id.title()}
            assert send(env, "onboarding.register_crew_member", body)["status"] == "accepted"
        body = {"crew_id": "anna", "email": "anna@house.example"}
        assert send(env, "notices.set_address", body)["status"] == "accepted"
        eventually(env, "select count(*) as n from crew", [{"n": 2}])
        old = crew(env, "link", "anna").stdout.split("#token=")[1].split()[0]
        tablet = crew(env, "kiosk", "add", "tablet").stdout.splitlines()[1].strip()
        base = f"http://127.0.0.1:{json.loads((Path(env['CREW_HOME']) / 'house.json').read_text())['http_port']}"
        with httpx.Client(base_url=base, timeout=20) as http:

            def ask(crew_id: str, key: str) -> httpx.Response:
                return http.post(
                    "/api/v1/commands/notices/ask_for_page_link",
                    json={"crew_id": crew_id},
                    headers={"Authorization": f"Bearer {tablet}", "Idempotency-Key": key},
                )

            assert ask("bo", "k-bo").json()["code"] == "no_address"
            assert ask("anna", "k-1").status_code == 200
            assert ask("anna", "k-2").status_code == 200  # a second tap: the same one mail
            [mail] = poll(lambda: box.about("anna", "anna@house.example"), what="anna's link")
            url = link(mail, "Open my page")
            assert tap(url)[0] == 200, "opening the link only asks"
            opened = http.post(url.removeprefix(base), follow_redirects=False)
            assert opened.status_code == 303
            location = opened.headers["location"]
            assert location.startswith("/me#token=")
            fresh = location.split("#token=")[1]

            def me(token: str) -> int:
                return http.get(
                    "/api/v1/me", headers={"Authorization": f"Bearer {token}"}
                ).status_code

            poll(lambda: me(fresh), until=lambda status: status == 200, what="the fresh link")
            assert me(old) == 401, "the old link ended"
        assert len(box.about("anna", "anna@house.example")) == 1
        assert not box.about("bo", "bo@house.example")
