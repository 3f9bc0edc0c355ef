"""Fault 6: the notices service dies hard right after the mail server took a mail and before it
marked that notice sent (CREW_FAULT_EXIT_AFTER_MAILS, services/notices/at_work.py), twice.
A real mail server (aiosmtpd) counts the mails: every notice arrives, and only the mail in
flight at each kill arrives twice, as the same mail (the same Message-ID). The log, read
without any view, holds each notice recorded once and marked sent once."""

from __future__ import annotations

import collections
import datetime
import subprocess
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from schemas.common import HOUSE_TIMEZONE
from services.notices import rules
from tests.faults.harness import Tally, events_by_command, fleet, say, send_until_answered, spawn
from tests.polling import eventually_async
from tests.smtp import Mailbox, mail_server

CRASHES = 2
AFTER_MAILS = 3  # the service dies once the mail server took this many of its mails
PEOPLE = ("anna", "bo", "cai")
MEALS = 8
MEAL_TIME = "11:00"  # tomorrow at 11:00 is at most 35 hours away: meal_needs_cook's 36 hours

Pair = tuple[str, str]  # (meal, person): one notice


def by_pair(box: Mailbox) -> dict[Pair, list[EmailMessage]]:
    """The mails by (meal, person), the person told by the part of the address before @."""
    found: dict[Pair, list[EmailMessage]] = collections.defaultdict(list)
    for mail in list(box.mails):
        found[(str(mail["X-Crew-About"]), str(mail["To"]).split("@")[0])].append(mail)
    return found


async def opt_in(nc: Any, tally: Tally, crew_id: str) -> None:
    steps: tuple[tuple[str, dict[str, object]], ...] = (
        ("onboarding.register_crew_member", {"crew_id": crew_id, "display_name": crew_id.title()}),
        ("notices.set_address", {"crew_id": crew_id, "email": f"{crew_id}@house.example"}),
        ("notices.subscribe", {"crew_id": crew_id, "topic": "meal_needs_cook"}),
    )
    for command, body in steps:
        command_id = f"{command.split('.')[1]}-{crew_id}"  # an Id: no dots
        status = await send_until_answered(nc, command, body, command_id, tally)
        assert status == "accepted", (command, body, status)


async def plan_tomorrow(nc: Any, tally: Tally) -> list[str]:
    """MEALS meals tomorrow (house date), none with a cook: each one a notice to everyone."""
    tomorrow = datetime.datetime.now(ZoneInfo(HOUSE_TIMEZONE)).date() + datetime.timedelta(days=1)
    meals = [f"m{i}" for i in range(MEALS)]
    for meal in meals:
        body = {"meal_id": meal, "date": str(tomorrow), "time": MEAL_TIME, "helper_slots": 2}
        assert await send_until_answered(nc, "meals.plan_meal", body, f"plan-{meal}", tally) == (
            "accepted"
        )
    return meals


async def killed(service: subprocess.Popen[bytes], box: Mailbox) -> EmailMessage:
    """Wait for the fault to fire; the mail in flight then is the last one the server took."""
    code = await eventually_async(
        service.poll, until=lambda rc: rc is not None, seconds=120, what="the fault fired"
    )
    assert code == 137, f"the notices service exited with {code}, not by the fault"
    assert len(box.mails) % AFTER_MAILS == 0, "each life took AFTER_MAILS mails, then died"
    return box.mails[-1]


async def marked_in_the_log(nc: Any, notice_ids: dict[Pair, str]) -> collections.Counter[str]:
    """Events by command id, once every notice is marked sent (MarkSent's id: sent-<notice>)."""
    return await eventually_async(
        lambda: events_by_command(nc),
        until=lambda in_log: all(in_log[f"sent-{i}"] for i in notice_ids.values()),
        seconds=60,
        every=0.5,
        what="every notice marked sent in the log",
    )


async def test_a_notices_service_killed_between_mail_and_mark_loses_none_and_resends_one(
    tmp_path: Path,
) -> None:
    with mail_server() as (box, port):
        mail = {
            "CREW_SMTP": f"127.0.0.1:{port}",
            "CREW_MAIL_FROM": "crew@house.example",
            "CREW_QUIET_HOURS": "none",
        }
        fault = {"CREW_FAULT_EXIT_AFTER_MAILS": str(AFTER_MAILS)}
        async with fleet(tmp_path / "home", "services.meals", "services.onboarding") as (
            house,
            nc,
        ):
            tally = Tally()
            service = await house.start("services.notices", None, **mail, **fault)
            for who in PEOPLE:  # its own commands: before any meal, so before any mail
                await opt_in(nc, tally, who)
            meals = await plan_tomorrow(nc, tally)
            in_flight = [await killed(service, box)]
            for _ in range(CRASHES - 1):  # it dies before it could answer `crew status`
                service = spawn("services.notices", house.url, house.home, **mail, **fault)
                house.processes.append(service)
                in_flight.append(await killed(service, box))
            await house.start("services.notices", None, **mail)  # back, without the fault
            notice_ids = {
                (meal, who): rules.notice_id("meal_needs_cook", meal, who)
                for meal in meals
                for who in PEOPLE
            }
            await eventually_async(
                lambda: by_pair(box),
                until=lambda found: set(found) >= set(notice_ids),
                seconds=120,
                what="a mail for every notice",
            )
            in_log = await marked_in_the_log(nc, notice_ids)
            check(box, notice_ids, in_flight, in_log, tally)


def check(
    box: Mailbox,
    notice_ids: dict[Pair, str],
    in_flight: list[EmailMessage],
    in_log: collections.Counter[str],
    tally: Tally,
) -> None:
    found = by_pair(box)
    twice = {pair for pair, mails in found.items() if len(mails) == 2}
    lost = [pair for pair in notice_ids if pair not in found]
    flying = {(str(m["X-Crew-About"]), str(m["To"]).split("@")[0]) for m in in_flight}
    say(
        f"notices service killed between the mail server taking a mail and the mark, "
        f"{CRASHES} times: notices {len(notice_ids)}, mailed {len(found)}, lost {len(lost)}, "
        f"twice {len(twice)} (in flight at the kills: {len(flying)}), "
        f"more than twice {sum(1 for m in found.values() if len(m) > 2)}; "
        f"{len(box.mails)} mails; in the log, recorded once "
        f"{sum(1 for i in notice_ids.values() if in_log[i] == 1)}, marked sent once "
        f"{sum(1 for i in notice_ids.values() if in_log[f'sent-{i}'] == 1)}"
    )
    assert len(tally.accepted) == len(tally.replies), "every command of the test was accepted"
    assert set(found) == set(notice_ids), "every notice mailed, and nothing else"
    assert all(len(mails) <= 2 for mails in found.values()), "no mail three times"
    assert len(twice) <= CRASHES and twice <= flying, "only the mail in flight at a kill, again"
    for pair in twice:
        first, again = found[pair]
        assert first["Message-ID"] == again["Message-ID"] == f"<{notice_ids[pair]}@crew.notices>"
    for notice_id in notice_ids.values():
        assert in_log[notice_id] == 1, f"{notice_id} recorded once"
        assert in_log[f"sent-{notice_id}"] == 1, f"{notice_id} marked sent once"
    assert len(box.mails) == len(notice_ids) + len(twice)
