"""Notices: who is told what, at which address, and every notice that went out.

One person is one aggregate, `crew.evt.notices.<crew_id>.*`: the address their notices go to
(encrypted with their key, so `crew forget` ends every mail to them and leaves nothing
readable), the topics they opted in to, and each notice the house recorded for them, sent or
cancelled. A notice has an id made from its rule, what it is about and the person, so the same
gap is never recorded twice. The notices service records a notice before it sends it and marks
it sent once the mail server took it: the log shows what went out and when, never the address
or the text.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

import msgspec

from schemas.common import END, Id, by_name, personal

CONTEXT = "notices"

Topic = Literal[
    "meal_needs_cook",
    "meal_needs_helpers",
    "newcomer_waiting",
    "my_sign_ups",
    "hand_over",
    "confirm_intention",
    "weekly_digest",
    "burnout_watch",
]
TOPICS: tuple[Topic, ...] = Topic.__args__  # type: ignore[attr-defined]
# What a notice is about: a topic chosen, or a fresh link to the person's own page, which they
# ask for themselves (from the kiosk, or from a notice) and need not subscribe to.
NoticeTopic = Literal[Topic, "page_link"]

EMAIL_PATTERN = rf"^[^@\s]{{1,64}}@[^@\s.]+(\.[^@\s.]+)+{END}"
EmailAddress = Annotated[
    str,
    msgspec.Meta(
        pattern=EMAIL_PATTERN,
        max_length=254,
        description="an e-mail address (name@example.org)",
        examples=["anna@example.org"],
    ),
]
SealedEmail = Annotated[
    str, personal("crew_id", description="where their notices go; encrypted in the log")
]
# Why a notice not sent yet never will be: the person was forgotten, opted out of its topic,
# or what it was about was settled meanwhile (the meal found its cook, the newcomer a host).
Why = Literal["forgotten", "unsubscribed", "settled"]
# What a notice's mail is written from: dates, times, titles, counts; never names or addresses.
Facts = Annotated[
    dict[Annotated[str, msgspec.Meta(max_length=40)], Annotated[str, msgspec.Meta(max_length=200)]],
    msgspec.Meta(max_length=12),
]
At = datetime.datetime | None
ClockTime = Annotated[
    str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d" + END, description="HH:MM")
]


class Listed(msgspec.Struct, frozen=True, kw_only=True):
    """One line of what a notice lists (the weekly digest's week ahead): on `date` at `time`
    (house time), a joint meal (`title` "") or a rota occurrence (its `title`), never a name.
    `mine`: one of the person's own sign-ups, `task` what they do (for a meal, `head_cook` or
    `helper`). Else an open place: `cook_wanted` for a meal without a head cook, and `places`
    open (a meal's helper places, a task's team, a shift's), `task` the task they are in."""

    mine: bool
    date: datetime.date
    time: ClockTime
    title: Annotated[str, msgspec.Meta(max_length=200)] = ""
    task: Annotated[str, msgspec.Meta(max_length=40)] = ""
    cook_wanted: bool = False
    places: Annotated[int, msgspec.Meta(ge=0, le=999)] = 0


Listing = Annotated[list[Listed], msgspec.Meta(max_length=60)]
# An SMTP reply code: what the mail server answered, never its text (which may quote the address).
ReplyCode = Annotated[int, msgspec.Meta(ge=100, le=599)]


class _Command(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    crew_id: Id
    at: At = None


class SetAddress(_Command, frozen=True, kw_only=True, tag="notices.set_address"):
    """Where this person's notices go. It replaces any address before."""

    email: EmailAddress


class Subscribe(_Command, frozen=True, kw_only=True, tag="notices.subscribe"):
    """Opt in to a topic. Already subscribed: accepted, nothing new happens."""

    topic: Topic


class Unsubscribe(_Command, frozen=True, kw_only=True, tag="notices.unsubscribe"):
    """Opt out of a topic; anything of it not yet sent is cancelled."""

    topic: Topic


class AskForPageLink(_Command, frozen=True, kw_only=True, tag="notices.ask_for_page_link"):
    """Mail the person a fresh link to their own page, at once (quiet hours or not). The mail's
    link opens the page with a new personal token; the old link ends. One asked for and not
    sent yet, or one asked for within the last 10 minutes: accepted, nothing new."""


class RecordNotice(_Command, frozen=True, kw_only=True, tag="notices.record_notice"):
    """The notices service's own: a rule found something to tell this person. The same
    `notice_id` again changes nothing."""

    notice_id: Id
    topic: Topic
    rule: Id
    about: Id
    send_after: datetime.datetime
    facts: Facts = {}
    listing: Listing = []


class MarkSent(_Command, frozen=True, kw_only=True, tag="notices.mark_sent"):
    """The notices service's own: the mail server took the notice."""

    notice_id: Id


class CancelNotice(_Command, frozen=True, kw_only=True, tag="notices.cancel_notice"):
    """The notices service's own: what the notice was about was settled before it went out
    (held back by quiet hours, or by a mail server that did not take it)."""

    notice_id: Id
    why: Why = "settled"


class GiveUpNotice(_Command, frozen=True, kw_only=True, tag="notices.give_up_notice"):
    """The notices service's own: the mail server refused the notice for good (a 5xx reply,
    or an address SMTP cannot carry), so it is not tried again. `code` is the server's reply
    code, if it gave one."""

    notice_id: Id
    code: ReplyCode | None = None


class StopNotices(_Command, frozen=True, kw_only=True, tag="notices.stop_notices"):
    """The notices service's own: the person was forgotten; nothing more goes to them."""

    why: Why = "forgotten"


NoticesCommand = (
    SetAddress
    | AskForPageLink
    | Subscribe
    | Unsubscribe
    | RecordNotice
    | MarkSent
    | CancelNotice
    | GiveUpNotice
    | StopNotices
)
COMMANDS: dict[str, type[NoticesCommand]] = by_name(NoticesCommand)


class _Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    crew_id: Id


class AddressSet(_Event, frozen=True, kw_only=True, tag="notices.address_set"):
    email: SealedEmail


class Subscribed(_Event, frozen=True, kw_only=True, tag="notices.subscribed"):
    topic: Topic


class Unsubscribed(_Event, frozen=True, kw_only=True, tag="notices.unsubscribed"):
    topic: Topic


class NoticeRecorded(_Event, frozen=True, kw_only=True, tag="notices.notice_recorded"):
    """Recorded before it is sent: a crash between the two sends it at most once more."""

    notice_id: Id
    topic: NoticeTopic
    rule: Id
    about: Id
    send_after: datetime.datetime
    facts: Facts = {}
    listing: Listing = []


class NoticeSent(_Event, frozen=True, kw_only=True, tag="notices.notice_sent"):
    notice_id: Id
    sent_at: datetime.datetime


class NoticesCancelled(_Event, frozen=True, kw_only=True, tag="notices.notices_cancelled"):
    """Notices recorded and not yet sent that will never be: the person was forgotten, opted
    out of their topic, or what they were about was settled meanwhile."""

    notice_ids: list[Id]
    why: Why


class NoticeGivenUp(_Event, frozen=True, kw_only=True, tag="notices.notice_given_up"):
    """The mail server refused the notice for good: it is never tried again. `code` is the
    server's reply code, if it gave one (none: an address SMTP cannot carry)."""

    notice_id: Id
    given_up_at: datetime.datetime
    code: ReplyCode | None = None


class NoticesStopped(_Event, frozen=True, kw_only=True, tag="notices.notices_stopped"):
    """The person was forgotten: no notice is recorded for them again."""

    stopped_at: datetime.datetime


NoticesEvent = (
    AddressSet
    | Subscribed
    | Unsubscribed
    | NoticeRecorded
    | NoticeSent
    | NoticesCancelled
    | NoticeGivenUp
    | NoticesStopped
)
EVENTS: tuple[type[NoticesEvent], ...] = NoticesEvent.__args__  # type: ignore[attr-defined]


class Letter(msgspec.Struct, frozen=True, kw_only=True):
    """One mail in the outbox, not sent yet: the answer on `crew.notices.outbox` is a list of
    them, and `crew notices` prints it. It holds the address: for coordinators only."""

    notice_id: str
    crew_id: str
    to: str
    send_after: datetime.datetime
    subject: str
    text: str
