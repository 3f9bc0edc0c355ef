"""Notices as e-mail over a real SMTP server: `aiosmtpd` on a free port keeps what it is given,
and refuses some recipients, so `deliver` meets real replies, a port with nothing on it and a
server that never answers."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from crew import settings
from house.subcommands.running import MAIL_FLAGS
from services.notices.at_work import smtp_of
from services.notices.mail import RULES, MailNotTaken, SmtpSettings, compose, deliver
from tests.ports import free_port

FROM = "crew@house.example"
TO = "cook@example.org"
MEAL = {"date": "2026-12-08", "time": "18:00", "meal_id": "meal-2026-12-08"}
FACTS: dict[str, dict[str, str]] = {
    "meal_needs_cook": MEAL,
    "meal_needs_helpers": {**MEAL, "open_places": "2"},
    "newcomer_waiting": {"arrived": "2026-12-08T14:05:00+01:00"},
    "sign_up_affected": {"title": "Rengøring", "date": "2026-12-08", "what": "moved"},
    "task_released": {"title": "Rengøring", "date": "2026-12-08", "reason": "færre opgaver"},
    "claim_released": {"title": "Fællesspisning", "date": "2026-12-08", "reason": ""},
    "hand_over": {"title": "Rengøring", "date": "2026-12-08", "start": "10:00", "task": "køkken"},
    "confirm_intention": {
        "title": "Bar",
        "date": "2026-12-08",
        "start": "18:00",
        "lapses": "2026-12-06T00:00:00+01:00",
    },
    "weekly_digest": {  # Monday 8 December 2025
        "week": "2025-W50",
        "meals_without_cook": "1",
        "open_helper_places": "2",
        "my_sign_ups": "0",
    },
    "burnout_watch": {
        "month": "2026-12",
        "finding": "rising_load",
        "top_10pct_share": "0.55",
        "rising": "2",
    },
    "page_link": {},
}
# How each mail names its day, Danish and English: a month for the burnout watch, and
# the page link, which has no day, by what it is about.
DAY = {
    "burnout_watch": ("december 2026", "December 2026"),
    "page_link": ("din egen side", "your own page"),
}


class Keeper:
    """An SMTP handler that keeps every mail it takes. A recipient starting "refuse-" is
    refused for good (550), "later-" for now (450); a mail to "no-data-" is refused at DATA."""

    def __init__(self) -> None:
        self.mails: list[tuple[str, list[str], bytes]] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.startswith("refuse-"):
            return "550 5.1.1 <" + address + ">: no such mailbox here"
        if address.startswith("later-"):
            return "450 4.2.1 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if any(to.startswith("no-data-") for to in envelope.rcpt_tos):
            return "554 5.6.0 message refused"
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def sink() -> Iterator[tuple[Keeper, SmtpSettings]]:
    keeper = Keeper()
    port = free_port()
    controller = Controller(keeper, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield keeper, SmtpSettings(host="127.0.0.1", port=port, mail_from=FROM, timeout_s=5)
    finally:
        controller.stop()


def received(content: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def parts(mail: EmailMessage) -> tuple[str, str]:
    plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert isinstance(plain, EmailMessage) and isinstance(html, EmailMessage)
    return plain.get_content(), html.get_content()


async def test_a_delivered_mail_arrives_with_both_parts_danish_first(
    sink: tuple[Keeper, SmtpSettings],
) -> None:
    keeper, smtp = sink
    links = {"cook": "https://kiosk.example/tap?t=abc", "unsubscribe": "https://kiosk.example/u"}
    await deliver(compose("meal_needs_cook", MEAL, TO, FROM, links, notice_id="n-42"), smtp)

    assert len(keeper.mails) == 1
    mail_from, rcpt_tos, content = keeper.mails[0]
    assert (mail_from, rcpt_tos) == (FROM, [TO])
    mail = received(content)
    assert mail["To"] == TO and mail["From"] == FROM
    assert mail["Message-ID"] == "<n-42@crew.notices>"
    assert mail["X-Crew-Notice"] == "n-42"
    assert mail["Date"]
    assert mail["Subject"] == "Kok søges 8. december / Cook wanted 8 December"
    assert mail.get_content_type() == "multipart/alternative"
    plain, html = parts(mail)
    for text in (plain, html):
        danish = text.index("Fællesspisningen tirsdag 8. december kl. 18:00 har endnu ingen kok")
        english = text.index("The joint meal on Tuesday 8 December at 18:00 has no cook yet")
        assert danish < english
        assert "https://kiosk.example/tap?t=abc" in text
        assert "Afmeld / Unsubscribe" in text


async def test_the_same_notice_is_recognisably_the_same_mail(
    sink: tuple[Keeper, SmtpSettings],
) -> None:
    keeper, smtp = sink
    for _ in range(2):
        await deliver(compose("meal_needs_cook", MEAL, TO, FROM, notice_id="n-7"), smtp)
    ids = {received(content)["Message-ID"] for _, _, content in keeper.mails}
    assert ids == {"<n-7@crew.notices>"}


async def test_the_html_part_escapes_every_value(sink: tuple[Keeper, SmtpSettings]) -> None:
    keeper, smtp = sink
    facts = {"title": "<b>Bar</b> & <script>x</script>", "date": "2026-12-08", "what": "moved"}
    links = {"unsubscribe": 'https://kiosk.example/u?a=1&b="<2>"'}
    await deliver(compose("sign_up_affected", facts, TO, FROM, links), smtp)

    plain, html = parts(received(keeper.mails[0][2]))
    assert "<b>Bar</b> & <script>x</script>" in plain
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;b&gt;Bar&lt;/b&gt; &amp; &lt;script&gt;x&lt;/script&gt;" in html
    assert 'href="https://kiosk.example/u?a=1&amp;b=&quot;&lt;2&gt;&quot;"' in html


def test_every_rule_of_the_mail_is_sent_here() -> None:
    assert sorted(FACTS) == sorted(RULES)


@pytest.mark.parametrize("rule", sorted(FACTS))
async def test_every_rule_composes_and_arrives(
    sink: tuple[Keeper, SmtpSettings], rule: str
) -> None:
    keeper, smtp = sink
    await deliver(compose(rule, FACTS[rule], TO, FROM, notice_id=f"{rule}-1"), smtp)

    mail = received(keeper.mails[0][2])
    assert " / " in mail["Subject"]
    assert mail["X-Crew-Notice"] == f"{rule}-1"
    plain, html = parts(mail)
    da, en = DAY.get(rule, ("8. december", "8 December"))
    assert da in plain and en in plain
    assert plain.index(da) < plain.index(en)
    assert html.index(da) < html.index(en)


async def test_a_recipient_refused_for_good_is_a_lasting_refusal(
    sink: tuple[Keeper, SmtpSettings],
) -> None:
    keeper, smtp = sink
    to = "refuse-anna@example.org"
    with pytest.raises(MailNotTaken) as caught:
        await deliver(compose("meal_needs_cook", MEAL, to, FROM), smtp)
    assert caught.value.lasting is True
    assert caught.value.code == 550
    assert "anna" not in str(caught.value)
    assert keeper.mails == []


async def test_a_message_refused_at_data_is_a_lasting_refusal(
    sink: tuple[Keeper, SmtpSettings],
) -> None:
    _, smtp = sink
    with pytest.raises(MailNotTaken) as caught:
        await deliver(compose("meal_needs_cook", MEAL, "no-data-x@example.org", FROM), smtp)
    assert (caught.value.lasting, caught.value.code) == (True, 554)


async def test_a_recipient_refused_for_now_is_worth_trying_again(
    sink: tuple[Keeper, SmtpSettings],
) -> None:
    _, smtp = sink
    with pytest.raises(MailNotTaken) as caught:
        await deliver(compose("meal_needs_cook", MEAL, "later-x@example.org", FROM), smtp)
    assert (caught.value.lasting, caught.value.code) == (False, 450)


async def test_a_server_that_is_down_is_worth_trying_again() -> None:
    smtp = SmtpSettings(host="127.0.0.1", port=free_port(), mail_from=FROM, timeout_s=5)
    with pytest.raises(MailNotTaken) as caught:
        await deliver(compose("meal_needs_cook", MEAL, TO, FROM), smtp)
    assert caught.value.lasting is False
    assert caught.value.code is None


async def test_a_server_that_never_answers_times_out_and_is_worth_trying_again() -> None:
    with socket.socket() as silent:  # the kernel takes the connection; nobody greets
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        smtp = SmtpSettings(host="127.0.0.1", port=port, mail_from=FROM, timeout_s=0.5)
        with pytest.raises(MailNotTaken) as caught:
            await deliver(compose("meal_needs_cook", MEAL, TO, FROM), smtp)
    assert caught.value.lasting is False


class Doorkeeper:
    """An SMTP authenticator: one login, and every login tried, kept."""

    def __init__(self, user: str, password: str) -> None:
        self.login = (user.encode(), password.encode())
        self.tried: list[tuple[bytes, bytes]] = []

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.tried.append((auth_data.login, auth_data.password))
        # handled=False: the server answers a wrong login itself (535)
        success = (auth_data.login, auth_data.password) == self.login
        return AuthResult(success=success, handled=False)


@pytest.mark.parametrize(("password", "taken"), [("s3cret pass", True), ("wrong", False)])
async def test_the_smtp_login_of_crew_ups_flags_reaches_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, password: str, taken: bool
) -> None:
    """--smtp-user and --smtp-password-file (the variables `crew up` sets from them) log in;
    a wrong password is a refusal worth trying again, and nothing is taken."""
    keeper, door, port = Keeper(), Doorkeeper("cook", "s3cret pass"), free_port()
    secret = tmp_path / "smtp-password"
    secret.write_text(password + "\n", encoding="utf-8")
    flags = {"smtp": f"127.0.0.1:{port}", "smtp_user": "cook", "smtp_password_file": str(secret)}
    for flag, value in flags.items():
        monkeypatch.setenv(MAIL_FLAGS[flag], value)
    monkeypatch.setenv("CREW_NATS_URL", "nats://127.0.0.1:1")
    smtp = smtp_of(settings.load())
    assert smtp is not None and smtp.user == "cook"
    controller = Controller(
        keeper, hostname="127.0.0.1", port=port, authenticator=door, auth_require_tls=False
    )
    controller.start()
    try:
        message = compose("meal_needs_cook", MEAL, TO, FROM)
        if taken:
            await deliver(message, smtp)
        else:
            with pytest.raises(MailNotTaken) as caught:
                await deliver(message, smtp)
            assert caught.value.lasting is False and "wrong" not in str(caught.value)
    finally:
        controller.stop()
    assert door.tried and set(door.tried) == {(b"cook", password.encode())}  # each mechanism
    assert len(keeper.mails) == (1 if taken else 0)
