"""The notices service's sending, in this process: its real command shell over an in-memory log
and key vault, the real rules and outbox (services/notices/at_work.py), and a real SMTP server
(aiosmtpd) on a free port that refuses when a test says so. The clock is the test's: each
`act` is a moment, so backoff and quiet hours are looked at without waiting for them.

What it leaves out is NATS, processes and restarts (tests/integration/test_notices_house.py and
tests/faults/test_notices_killed.py have those)."""

from __future__ import annotations

import datetime
import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest
import structlog
from aiosmtpd.controller import Controller

from crew.eventstore import InMemoryEventStore
from crew.personal import InMemoryVault
from crew.settings import Settings
from crew.shell import CommandMeta, CommandShell
from crew.sql import SqlRequest, SqlResult
from projections.projection import Projection
from schemas import meals as m
from schemas import notices as n
from schemas import onboarding as o
from schemas.common import Accepted
from services.notices import rules
from services.notices.at_work import Notices
from services.notices.burnout import MonthLoad
from services.notices.decider import NOTICES
from services.notices.mail import SmtpSettings
from tests.ports import free_port

HOUSE = ZoneInfo("Europe/Copenhagen")
MONDAY = datetime.datetime(2030, 1, 7, 12, 0, tzinfo=HOUSE)
FROM = "crew@house.example"


class Server:
    """An SMTP server that refuses the first `refusals` recipients it is given with `reply`
    (a 4xx: for now; a 5xx: for good), then takes every mail."""

    def __init__(self) -> None:
        self.refusals, self.reply = 0, "451 4.3.0 try again later"
        self.tries = 0
        self.mails: list[bytes] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.tries += 1
        if self.refusals:
            self.refusals -= 1
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(envelope.content)
        return "250 taken"


@pytest.fixture
def server() -> Iterator[tuple[Server, SmtpSettings]]:
    handler, port = Server(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, SmtpSettings(host="127.0.0.1", port=port, mail_from=FROM, timeout_s=5)
    finally:
        controller.stop()


class Bus:
    """The notices service's NATS connection: the vault is in memory, and the query service
    answers the burnout watch's question with `month`, with its names if asked for them."""

    def __init__(self, month: MonthLoad | None = None) -> None:
        self.month = month

    def jetstream(self) -> None:
        return None

    async def request(self, subject: str, body: bytes, timeout: float) -> SimpleNamespace:
        _, with_names = msgspec.json.decode(body, type=SqlRequest).params
        rows = [] if self.month is None else [self.month]
        if not with_names:
            rows = [msgspec.structs.replace(row, rising_names=[], named=False) for row in rows]
        columns = list(MonthLoad.__struct_fields__)
        answer = SqlResult(
            columns=columns,
            types=["?"] * len(columns),
            rows=[[msgspec.to_builtins(getattr(row, c)) for c in columns] for row in rows],
        )
        return SimpleNamespace(data=msgspec.json.encode(answer))


@dataclass
class Service:
    """The notices service at `now`, with its log."""

    work: Notices
    store: InMemoryEventStore
    now: datetime.datetime = MONDAY
    read: int = 0  # how much of the log it has seen
    commands: int = 0

    async def send(self, command: msgspec.Struct) -> None:
        """A person's own command (set an address, subscribe), and the service reads it."""
        self.commands += 1
        actor = getattr(command, "crew_id", "")
        meta = CommandMeta(command_id=f"own-{self.commands}", actor=actor, source="test")
        assert isinstance(await self.work.shell.execute(command, meta), Accepted)
        self.catch_up()

    def catch_up(self) -> None:
        for record in self.store.log[self.read :]:
            self.work.see(record)
        self.read = len(self.store.log)

    async def act(self, at: datetime.datetime) -> None:
        """One round of the service at `at`: act, then read what that recorded (as the
        service's loop does before it acts again)."""
        self.now = at
        await self.work.act(at)
        self.catch_up()

    def of_type(self, kind: type[Any]) -> list[Any]:
        tag = kind.__struct_config__.tag
        return [r for r in self.store.log if r.type == tag]


def service(
    smtp: SmtpSettings, quiet: rules.QuietHours | None = None, bus: Bus | None = None
) -> Service:
    store, vault = InMemoryEventStore(), InMemoryVault()
    holder: list[Service] = []
    shell: CommandShell[Any] = CommandShell(
        NOTICES, store, vault=vault, clock=lambda: holder[0].now
    )
    config = Settings(home=Path("/nowhere"), nats_url="", mail_from=FROM)
    work = Notices(bus or Bus(), shell, config, smtp, quiet)  # type: ignore[arg-type]
    work.vault = vault  # type: ignore[assignment]
    work.link_key = b"k" * 32
    holder.append(Service(work, store))
    return holder[0]


async def a_meal_without_a_cook(
    smtp: SmtpSettings, quiet: rules.QuietHours | None = None, to: str = "anna@example.org"
) -> Service:
    """anna wants to hear of meals without a cook; tomorrow's has none."""
    house = service(smtp, quiet)
    await house.send(n.SetAddress(crew_id="anna", email=to))
    await house.send(n.Subscribe(crew_id="anna", topic="meal_needs_cook"))
    tomorrow = MONDAY.date() + datetime.timedelta(days=1)
    planned = m.MealPlanned(meal_id="m1", date=tomorrow, time="17:30", helper_slots=0)
    rules.see(house.work.picture, planned, MONDAY, 1000)
    return house


async def test_a_mail_the_server_did_not_take_is_tried_again_later_and_arrives_once(
    server: tuple[Server, SmtpSettings],
) -> None:
    mailbox, smtp = server
    mailbox.refusals = 1  # 451: not now
    house = await a_meal_without_a_cook(smtp)
    await house.act(MONDAY)  # recorded
    await house.act(MONDAY)  # tried: refused for now
    assert (mailbox.tries, mailbox.mails) == (1, [])
    await house.act(MONDAY + datetime.timedelta(seconds=4))  # backoff: 5 s
    assert mailbox.tries == 1
    await house.act(MONDAY + datetime.timedelta(seconds=5))  # taken, and marked sent
    assert (mailbox.tries, len(mailbox.mails)) == (2, 1)
    for later in (10, 60, 3600):
        await house.act(MONDAY + datetime.timedelta(seconds=later))
    assert (mailbox.tries, len(mailbox.mails)) == (2, 1)
    assert len(house.of_type(n.NoticeRecorded)) == 1
    assert len(house.of_type(n.NoticeSent)) == 1


async def test_quiet_hours_hold_a_notice_that_fell_due_before_them_until_they_end(
    server: tuple[Server, SmtpSettings],
) -> None:
    """Found at 20:59, due at once; the mail server is down until 21:00. The notice waits for
    the morning, however often the service looks."""
    mailbox, smtp = server
    evening = MONDAY.replace(hour=20, minute=59)
    house = await a_meal_without_a_cook(smtp, rules.QuietHours(start_hour=21, end_hour=8))
    mailbox.refusals = 1
    await house.act(evening)
    [recorded] = house.of_type(n.NoticeRecorded)
    await house.act(evening)
    assert (mailbox.tries, mailbox.mails) == (1, [])
    for hours in (0, 1, 5):  # from 21:00; the backoff long over
        await house.act(MONDAY.replace(hour=21) + datetime.timedelta(hours=hours))
    await house.act(MONDAY.replace(hour=7, minute=59) + datetime.timedelta(days=1))
    assert (mailbox.tries, mailbox.mails) == (1, [])
    await house.act(MONDAY.replace(hour=8) + datetime.timedelta(days=1))
    assert (mailbox.tries, len(mailbox.mails)) == (2, 1)
    assert [r.seq for r in house.of_type(n.NoticeRecorded)] == [recorded.seq]
    assert len(house.of_type(n.NoticeSent)) == 1


async def test_a_mail_refused_for_good_is_given_up_once_and_never_tried_again(
    server: tuple[Server, SmtpSettings], tmp_path: Path
) -> None:
    mailbox, smtp = server
    mailbox.refusals, mailbox.reply = 99, "550 5.1.1 no such mailbox"
    house = await a_meal_without_a_cook(smtp, to="gone@example.org")
    await house.act(MONDAY)
    await house.act(MONDAY)
    assert mailbox.tries == 1
    for later in (5, 60, 600, 3600 * 6):  # past every backoff
        await house.act(MONDAY + datetime.timedelta(seconds=later))
    assert (mailbox.tries, mailbox.mails) == (1, [])
    [given_up] = house.of_type(n.NoticeGivenUp)
    event = msgspec.json.decode(given_up.data, type=n.NoticeGivenUp)
    assert (event.crew_id, event.code, event.given_up_at) == ("anna", 550, MONDAY)
    assert house.of_type(n.NoticeSent) == [] and house.work.outbox.pending == {}
    views = Projection(tmp_path / "views.duckdb")
    try:
        views.apply([msgspec.structs.replace(r, recorded_at=MONDAY) for r in house.store.log])
        rows = views.con.execute("select crew_id, status, sent_at from notices").fetchall()
    finally:
        views.close()
    assert rows == [("anna", "given_up", None)]


def mails_to(server: Server) -> dict[str, str]:
    """Each mail's plain text by its recipient."""
    texts = {}
    for content in server.mails:
        mail = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(mail, EmailMessage)
        plain = mail.get_body(("plain",))
        assert plain is not None
        texts[str(mail["To"])] = plain.get_content()
    return texts


async def test_a_coordinators_burnout_watch_names_who_rises_and_no_one_elses_does(
    server: tuple[Server, SmtpSettings],
) -> None:
    """anna watches as crew, bo as a coordinator: both hear that two carry double their load;
    only bo hears who, and neither the log nor a log line holds the names."""
    mailbox, smtp = server
    month = MonthLoad(
        period_start=MONDAY.date().replace(day=1),
        contributions=40,
        crew=12,
        top_10pct_share=0.3,
        rising=2,
        rising_names=["Dorte Damgaard", "Erik"],
        named=True,
    )
    house = service(smtp, bus=Bus(month))
    for who in ("anna", "bo"):
        await house.send(n.SetAddress(crew_id=who, email=f"{who}@example.org"))
        await house.send(n.Subscribe(crew_id=who, topic="burnout_watch"))
    rules.see(
        house.work.picture, o.CoordinatorGranted(person_id="bo", granted_at=MONDAY), MONDAY, 999
    )
    with structlog.testing.capture_logs() as logged:
        await house.act(MONDAY)
        await house.act(MONDAY)
    told = mails_to(mailbox)
    assert sorted(told) == ["anna@example.org", "bo@example.org"]
    assert "2 personer bærer mindst dobbelt så meget som sædvanligt." in told["anna@example.org"]
    assert "Dorte" not in told["anna@example.org"] and "Erik" not in told["anna@example.org"]
    assert "Lige nu er det: Dorte Damgaard og Erik." in told["bo@example.org"]
    assert "Right now they are: Dorte Damgaard and Erik." in told["bo@example.org"]
    assert not any(b"Dorte" in record.data for record in house.store.log)
    assert "Dorte" not in repr(logged)
    assert len(house.of_type(n.NoticeSent)) == 2


async def test_a_coordinators_burnout_mail_waits_for_the_names(
    server: tuple[Server, SmtpSettings],
) -> None:
    """The role was granted after this month's row was asked without names: the coordinator's
    mail waits for the next question (an hour on), which asks with them."""
    mailbox, smtp = server
    month = MonthLoad(
        period_start=MONDAY.date().replace(day=1),
        contributions=40,
        crew=12,
        top_10pct_share=0.3,
        rising=1,
        rising_names=["Erik"],
        named=True,
    )
    house = service(smtp, bus=Bus(month))
    await house.send(n.SetAddress(crew_id="bo", email="bo@example.org"))
    await house.send(n.Subscribe(crew_id="bo", topic="burnout_watch"))
    await house.act(MONDAY)  # asked without names, recorded
    rules.see(
        house.work.picture, o.CoordinatorGranted(person_id="bo", granted_at=MONDAY), MONDAY, 999
    )
    await house.act(MONDAY + datetime.timedelta(minutes=5))
    assert mailbox.mails == []
    await house.act(MONDAY + datetime.timedelta(hours=1))
    assert "Lige nu er det: Erik." in mails_to(mailbox)["bo@example.org"]
