"""The notices service at work, beside its command shell.

It reads the whole log into a picture of the house (services/notices/rules.py) and keeps
reading as the log grows. After each read, and at least every CREW_NOTICES_TICK_S, it asks the
rules what is due and records each notice with `notices.record_notice`: the notice id is the
command id and the decider's key, so finding the same gap again (after a restart, too)
records nothing new. Then it sends what the log says is recorded, due and not yet sent, and
marks each one sent once the mail server took it. A crash between the mail server taking a
notice and the mark sends that one notice again on restart, and nothing else.

For the burnout watch it asks the query service (`crew.query.sql`) for this month's
`load_balance` row, at most once an hour and only while someone subscribes to it, with the
names of those rising only while a coordinator does (services/notices/burnout.py); a query
that fails is logged and asked again an hour later. Names go into a coordinator's mail, never
into the log or a log line.

Without a mail server (no `--smtp`) the notices stay in the outbox, which `crew notices`
shows (the request `crew.notices.outbox`, answered here).

One instance sends: `crew up` runs one notices service."""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import msgspec
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from crew import links, subjects
from crew.eventstore import Recorded
from crew.personal import JetStreamVault, unseal
from crew.replay import Replay
from crew.settings import Settings
from crew.shell import CommandMeta, CommandShell
from crew.sql import SqlError, answer_decoder
from schemas import notices as n
from schemas import onboarding as o
from schemas.common import Accepted, Refused
from schemas.registry import decode_event
from services.notices import burnout, mail, rules
from services.notices.answers import answers

log = structlog.get_logger("crew.notices")

READ_AT_ONCE = 1000
SETTLE_S = 0.3  # the log quiet this long after news: the picture is whole, the rules are asked
LOAD_EVERY = timedelta(hours=1)  # how often the burnout watch asks for this month's load
LOAD_TIMEOUT_S = 10.0


def own_id(kind: str, key: str) -> str:
    """The command id of the service's own command about `key`: the same every time (a retry
    after a crash is answered as the first), and within the 64 characters of an id."""
    text = f"{kind}-{key}"
    return text if len(text) <= 64 else f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:40]}"


@dataclass
class Outbox:
    """What the log says is recorded and neither sent, cancelled nor given up, and where it
    goes."""

    pending: dict[str, n.NoticeRecorded] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)  # crew id -> sealed address
    known: set[str] = field(default_factory=set)  # everyone the notices context has heard of
    retry_at: dict[str, tuple[int, datetime]] = field(default_factory=dict)  # tries, when

    def see(self, event: Any) -> None:
        match event:
            case n.AddressSet(crew_id=crew_id, email=email):
                self.addresses[crew_id] = email
                self.known.add(crew_id)
            case n.Subscribed(crew_id=crew_id):
                self.known.add(crew_id)
            case n.NoticeRecorded(notice_id=notice_id):
                self.pending[notice_id] = event
            case n.NoticeSent(notice_id=notice_id) | n.NoticeGivenUp(notice_id=notice_id):
                self.pending.pop(notice_id, None)
                self.retry_at.pop(notice_id, None)
            case n.NoticesCancelled(notice_ids=ids):
                for notice_id in ids:
                    self.pending.pop(notice_id, None)
            case n.NoticesStopped(crew_id=crew_id):
                self.addresses.pop(crew_id, None)

    def due(self, now: datetime) -> list[n.NoticeRecorded]:
        return [
            notice
            for notice_id, notice in self.pending.items()
            if notice.send_after <= now
            and (notice_id not in self.retry_at or self.retry_at[notice_id][1] <= now)
        ]


@dataclass
class Notices:
    nc: NATS
    shell: CommandShell[Any]
    config: Settings
    smtp: mail.SmtpSettings | None
    quiet: rules.QuietHours | None
    picture: rules.Picture = field(default_factory=rules.Picture)
    outbox: Outbox = field(default_factory=Outbox)
    asked: set[str] = field(default_factory=set)  # notice ids recorded by this instance
    forgotten: list[str] = field(default_factory=list)  # to stop, once read
    mailed: int = 0  # mails the mail server took from this instance
    unwritten: set[str] = field(default_factory=set)  # notices whose mail could not be written
    taken: set[str] = field(default_factory=set)  # mailed, the mark not written yet
    refused: dict[str, int | None] = field(default_factory=dict)  # for good; not yet given up
    load: burnout.MonthLoad | None = None  # this month's load_balance row, for the burnout watch
    load_asked_at: datetime | None = None

    link_key: bytes = b""  # the house's, read at start (crew/links.py)

    def __post_init__(self) -> None:
        self.vault = JetStreamVault(self.nc)
        self.base_url = self.config.public_url or f"http://127.0.0.1:{self.config.http_port}"

    def see(self, record: Recorded) -> None:
        try:
            event = decode_event(
                record.type, record.headers.get(subjects.SCHEMA_VERSION), record.data
            )
        except msgspec.MsgspecError:
            return  # the projector reports unreadable events; nothing here to tell anyone
        rules.see(self.picture, event, record.recorded_at or datetime.now(UTC), record.seq)
        self.outbox.see(event)
        if isinstance(event, o.PersonForgotten):
            self.vault.evict(event.person_id)  # its key is gone: no cached copy unseals on
            self.outbox.addresses.pop(event.person_id, None)
            if event.person_id in self.outbox.known:
                self.forgotten.append(event.person_id)

    async def act(self, now: datetime) -> None:
        """Stop what goes to the forgotten, record what the rules find, send what is due."""
        for crew_id in list(self.forgotten):
            if await self.execute(n.StopNotices(crew_id=crew_id), own_id("stop", crew_id)):
                self.forgotten.remove(crew_id)
        await self.ask_load(now)
        for due in rules.due(self.picture, now, self.quiet, self.load):
            if due.notice_id in self.asked:
                continue
            answered = await self.execute(
                n.RecordNotice(
                    crew_id=due.crew_id,
                    notice_id=due.notice_id,
                    topic=due.topic,  # type: ignore[arg-type]
                    rule=due.rule,
                    about=due.about,
                    send_after=due.send_after,
                    facts=due.facts,
                    listing=due.listing,
                ),
                due.notice_id,
                settled_too=True,
            )
            if answered:
                self.asked.add(due.notice_id)
        quiet = self.quiet is not None and self.quiet.holds(now.astimezone(rules.HOUSE).hour)
        for notice in self.outbox.due(now):
            if notice.notice_id in self.taken:  # mailed; only its mark is still to be written
                await self.mark_sent(notice)
            elif notice.notice_id in self.refused:  # refused for good; not yet given up
                await self.give_up(notice, self.refused[notice.notice_id])
            elif rules.settled(self.picture, notice, now, self.load):  # filled meanwhile
                cancel = n.CancelNotice(crew_id=notice.crew_id, notice_id=notice.notice_id)
                await self.execute(cancel, own_id("settled", notice.notice_id))
            elif self.smtp is not None and (not quiet or notice.rule in rules.ASKED_FOR):
                try:
                    await self.send(notice, self.smtp, now)
                except (nats.errors.Error, nats.js.errors.Error) as exc:  # the vault: next time
                    log.warning(
                        "notice_not_sent", notice_id=notice.notice_id, error=type(exc).__name__
                    )

    async def ask_load(self, now: datetime) -> None:
        """This month's `load_balance` row from the query service, at most once an hour, and
        only while someone subscribes to the burnout watch. A failure (no query service, a
        timeout, an error, a row that does not fit) is logged and asked again next hour; the
        row known before, if any, stays (the rule ignores a row of another month)."""
        if not self.picture.subscribers("burnout_watch"):
            return
        if self.load_asked_at is not None and now - self.load_asked_at < LOAD_EVERY:
            return
        self.load_asked_at = now
        _, first = burnout.month_of(now)
        named = burnout.names_wanted(self.picture)  # names only while a coordinator asks
        request = msgspec.json.encode(burnout.MONTH_LOAD.ask(first.isoformat(), named))
        try:
            reply = await self.nc.request(subjects.QUERY_SQL, request, timeout=LOAD_TIMEOUT_S)
            answer = answer_decoder.decode(reply.data)
            if isinstance(answer, SqlError):
                # the query is the house's own, with a date bound: its error quotes no one
                log.warning("burnout_watch_not_answered", error=answer.message[:200])
                return
            self.load = next(iter(burnout.MONTH_LOAD.rows(answer)), None)
        except Exception as exc:  # never the loop's end: the next hour asks again
            log.warning("burnout_watch_not_answered", error=type(exc).__name__)

    async def execute(self, command: Any, command_id: str, settled_too: bool = False) -> bool:
        """Whether the command was answered for good: accepted (or, with `settled_too`, refused
        too: asking again would get the same no). Unavailable: ask again later."""
        meta = CommandMeta(command_id=command_id, actor="notices", source="notices")
        reply = await self.shell.execute(command, meta)
        if not isinstance(reply, Accepted):
            log.info(
                "notices_command_not_accepted",
                command=type(command).__name__,
                reply=type(reply).__name__,
            )
        return isinstance(reply, Accepted | Refused) if settled_too else isinstance(reply, Accepted)

    async def letter(self, notice: n.NoticeRecorded) -> EmailMessage | None:
        """The mail, or None when there is no address to send it to any more, when it waits
        for what it tells (a coordinator's burnout watch, for this month's names), or (a bug)
        when its words cannot be written from its facts: logged once, kept in the outbox."""
        if notice.crew_id in self.picture.forgotten:
            return None
        names = burnout.names_for(self.picture, notice, self.load)  # never logged
        if names is None:
            return None
        sealed = self.outbox.addresses.get(notice.crew_id, "")
        address = unseal(sealed, await self.vault.key(notice.crew_id)) if sealed else ""
        if not address:
            return None
        try:
            message = mail.compose(
                notice.rule,
                notice.facts,
                to=address,
                sender=self.config.mail_from,
                links=answers(notice, self.link_key, self.base_url),
                notice_id=notice.notice_id,
                names=names,
                listing=notice.listing,
            )
        except ValueError as exc:  # a rule and the mail's words disagree: a bug, not a crash
            if notice.notice_id not in self.unwritten:
                self.unwritten.add(notice.notice_id)
                log.error("notice_not_written", notice_id=notice.notice_id, error=str(exc))
            return None
        message["X-Crew-About"] = notice.about  # the meal, newcomer or occurrence
        return message

    async def send(self, notice: n.NoticeRecorded, smtp: mail.SmtpSettings, now: datetime) -> None:
        message = await self.letter(notice)
        if message is None:
            return  # forgotten (the stop cancels it), or waiting for what it tells
        try:
            await mail.deliver(message, smtp)
        except mail.MailNotTaken as exc:
            if exc.lasting:  # trying again gets the same no: record that it will never go
                log.warning("notice_refused_for_good", notice_id=notice.notice_id, code=exc.code)
                self.refused[notice.notice_id] = exc.code if 100 <= (exc.code or 0) < 600 else None
                await self.give_up(notice, self.refused[notice.notice_id])
                return
            tries = self.outbox.retry_at.get(notice.notice_id, (0, now))[0] + 1
            wait = mail.backoff(tries)
            self.outbox.retry_at[notice.notice_id] = (tries, now + timedelta(seconds=wait))
            log.warning(
                "notice_not_taken", notice_id=notice.notice_id, tries=tries, retry_in_s=wait
            )
            return
        self.mailed += 1
        self.taken.add(notice.notice_id)
        self.crash_before_marking()
        log.info("notice_sent", notice_id=notice.notice_id, rule=notice.rule)
        await self.mark_sent(notice)

    async def give_up(self, notice: n.NoticeRecorded, code: int | None) -> None:
        """Record that the mail server refused it for good; until that is written, it is not
        mailed again (giving up is tried again instead)."""
        command = n.GiveUpNotice(crew_id=notice.crew_id, notice_id=notice.notice_id, code=code)
        if await self.execute(command, own_id("given-up", notice.notice_id), settled_too=True):
            self.refused.pop(notice.notice_id, None)

    async def mark_sent(self, notice: n.NoticeRecorded) -> None:
        """Record that the mail server took it; until that is written, it is not mailed again
        by this instance (the mark is tried again instead)."""
        command = n.MarkSent(crew_id=notice.crew_id, notice_id=notice.notice_id)
        if await self.execute(command, own_id("sent", notice.notice_id), settled_too=True):
            self.taken.discard(notice.notice_id)

    def crash_before_marking(self) -> None:
        """Fault injection for tests/faults (CREW_FAULT_EXIT_AFTER_MAILS=N): the process dies hard
        right after the mail server took its N-th mail and before that one is marked sent.
        0: never."""
        after = self.config.fault_exit_after_mails
        if after and self.mailed >= after:
            log.warning("fault_injected", fault="exit between mail and mark")
            os._exit(137)

    async def answer_outbox(self, msg: Msg) -> None:
        letters = []
        for notice in sorted(self.outbox.pending.values(), key=lambda x: x.send_after):
            message = await self.letter(notice)
            if message is None:
                continue
            body = message.get_body(("plain",))
            letters.append(
                n.Letter(
                    notice_id=notice.notice_id,
                    crew_id=notice.crew_id,
                    to=str(message["To"]),
                    send_after=notice.send_after,
                    subject=str(message["Subject"]),
                    text=body.get_content() if body is not None else "",
                )
            )
        await msg.respond(msgspec.json.encode(letters))


def smtp_of(config: Settings) -> mail.SmtpSettings | None:
    """The mail server from the settings, or None: mail stays in the outbox."""
    if not config.smtp:
        return None
    host, port = mail.SmtpSettings.parse_hostport(config.smtp)
    password = None
    if config.smtp_password_file:
        password = Path(config.smtp_password_file).read_text(encoding="utf-8").strip()
    return mail.SmtpSettings(
        host=host,
        port=port,
        mail_from=config.mail_from,
        user=config.smtp_user or None,
        password=password,
    )


async def read_the_log_so_far(nc: NATS, replay: Replay, work: Notices) -> None:
    """The picture must be whole before any rule is asked: a cook who volunteered a minute
    after the meal was planned is no gap."""
    info = await nc.jetstream().stream_info(subjects.STREAM)
    last = int(info.state.last_seq)
    while replay.next_seq <= last:
        batch = await replay.take(READ_AT_ONCE, timeout=SETTLE_S * 10)
        if not batch:  # a slow server: the picture is not whole yet, so no rule is asked
            log.warning("notices_still_reading_the_log", next_seq=replay.next_seq, last=last)
        for record in batch:
            work.see(record)
    log.info("notices_read_the_log", events=last)


async def notices_at_work(nc: NATS, shell: CommandShell[Any], config: Settings) -> None:
    work = Notices(nc, shell, config, smtp_of(config), rules.QuietHours.parse(config.quiet_hours))
    work.link_key = await links.house_key(nc)
    outbox = await nc.subscribe(subjects.NOTICES_OUTBOX, cb=work.answer_outbox)
    replay = await Replay(nc, 1).start()
    try:
        await read_the_log_so_far(nc, replay, work)
        await work.act(datetime.now(UTC))  # what fell due, or was not sent, while it was down
        settling = False
        while True:
            # After news, read on until the log is quiet for a moment: a meal planned and its
            # cook signing up a breath later is no gap. Otherwise wait for news or the tick.
            wait = SETTLE_S if settling else config.notices_tick_s
            batch = await replay.take(READ_AT_ONCE, timeout=wait)
            for record in batch:
                work.see(record)
            settling = bool(batch)
            if not settling:
                await work.act(datetime.now(UTC))
    finally:
        with contextlib.suppress(Exception):
            await outbox.unsubscribe()
        await replay.stop()
