"""A notice as an e-mail, and the e-mail handed to an SMTP server.

`compose` writes one notice in Danish first, then English, as plain text with a simple HTML
alternative, from a rule and its facts (the words of each rule are in
services/notices/words.py): plain strings such as a date, a time or a title, never a name
(only a coordinator's burnout watch is told names, given apart from the facts).
`deliver` hands the mail to the house's SMTP server with `aiosmtplib` and raises
`MailNotTaken` when the server did not take it: `lasting` says whether trying again can help.
`backoff` says how long to wait before the next try. Nothing here logs, and no error quotes an
address.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from schemas.common import ID_PATTERN
from schemas.notices import Listed
from services.notices.words import RULES, Words, da_day, en_day, words_for

__all__ = [
    "RULES",
    "MailNotTaken",
    "SmtpSettings",
    "Words",
    "backoff",
    "compose",
    "da_day",
    "deliver",
    "en_day",
    "words_for",
]

MESSAGE_ID_DOMAIN = "crew.notices"
NOTICE_HEADER = "X-Crew-Notice"
SIGNATURE = "Sager der Samler"
FIRST_BACKOFF_S = 5.0
MAX_BACKOFF_S = 600.0

# A link's key -> its label (Danish, English). A key not here is shown as it is.
LINK_LABELS = {
    "cook": ("Jeg laver mad", "I'll cook"),
    "help": ("Jeg hjælper", "I'll help"),
    "host": ("Jeg tager samtalen", "I'll host"),
    "take_over": ("Jeg tager over", "Take over"),
    "coming": ("Ja, jeg kommer", "Yes, I'm coming"),
    "unsubscribe": ("Afmeld", "Unsubscribe"),
    "send_page": ("Send mig et nyt link til min side", "Send me a new link to my page"),
    "page": ("Åbn min side", "Open my page"),
}
_NOTICE_ID = re.compile(ID_PATTERN)


# --- The mail -----------------------------------------------------------------------------------


def _labels(key: str) -> str:
    da, en = LINK_LABELS.get(key, (key, key))
    return f"{da} / {en}"


def _plain(words: Words, links: dict[str, str]) -> str:
    parts = ["\n\n".join(words.da), "---", "\n\n".join(words.en)]
    parts += [f"{_labels(key)}:\n{url}" for key, url in links.items()]
    parts.append(f"-- \n{SIGNATURE}")
    return "\n\n".join(parts) + "\n"


def _escaped(paragraph: str) -> str:
    """A paragraph escaped for HTML; its lines (a list's) each on a line of its own."""
    return "<br>\n".join(html.escape(line) for line in paragraph.split("\n"))


def _html(words: Words, links: dict[str, str]) -> str:
    def paragraphs(lines: list[str], lang: str) -> str:
        return "".join(f'<p lang="{lang}">{_escaped(line)}</p>\n' for line in lines)

    items = "".join(
        f'<li><a href="{html.escape(url)}">{html.escape(_labels(key))}</a></li>\n'
        for key, url in links.items()
    )
    return (
        '<!doctype html>\n<html lang="da">\n<body>\n'
        + paragraphs(words.da, "da")
        + "<hr>\n"
        + paragraphs(words.en, "en")
        + (f"<ul>\n{items}</ul>\n" if items else "")
        + f"<p>{html.escape(SIGNATURE)}</p>\n</body>\n</html>\n"
    )


def compose(
    rule: str,
    facts: dict[str, str],
    to: str,
    sender: str,
    links: dict[str, str] | None = None,
    notice_id: str = "",
    names: Sequence[str] = (),
    listing: Sequence[Listed] = (),
) -> EmailMessage:
    """The mail for one notice: Danish first, then English, plain text with an HTML part.
    `names` are told only where a rule's words take them (a coordinator's burnout watch);
    `listing` (the weekly digest's) follows the words, a line each.

    `links` (key -> URL, e.g. "cook", "help", "unsubscribe") are listed under the text. With a
    `notice_id` the mail's Message-ID is made from it, so a notice sent again is the same mail,
    and `X-Crew-Notice` names it. ValueError for an unknown rule, a missing or malformed fact,
    or a notice id that is not an Id."""
    words = words_for(rule, facts, names, listing)
    links = links or {}
    message = EmailMessage()
    message["Subject"] = f"{words.subject_da} / {words.subject_en}"
    message["From"] = sender
    message["To"] = to
    if notice_id:
        if not _NOTICE_ID.match(notice_id):
            raise ValueError(f"notice id {notice_id!r} is not 1-64 of A-Z a-z 0-9 _ -")
        message["Message-ID"] = f"<{notice_id}@{MESSAGE_ID_DOMAIN}>"
        message[NOTICE_HEADER] = notice_id
    message.set_content(_plain(words, links), cte="quoted-printable")
    message.add_alternative(_html(words, links), subtype="html", cte="quoted-printable")
    message["Content-Language"] = "da, en"  # after the parts: set_content drops Content-*
    return message


# --- Handing it over ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class SmtpSettings:
    """The house's SMTP server. `starttls`: None (the default) upgrades the connection to TLS
    whenever the server offers it, so a login, the addresses and the one-tap links do not go
    in clear where TLS is there; True demands it; False never asks. A `user` needs a
    `password`."""

    host: str
    port: int
    mail_from: str
    user: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    starttls: bool | None = None
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if (self.user is None) != (self.password is None):
            raise ValueError("SMTP settings: give both a user and a password, or neither")
        if not 0 < self.port < 65536:
            raise ValueError(f"SMTP settings: port {self.port} is not 1-65535")

    @staticmethod
    def parse_hostport(text: str) -> tuple[str, int]:
        """HOST:PORT -> (host, port): mail.example.org:587, or [::1]:25 for IPv6."""
        host, colon, port = text.strip().rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"not an SMTP server as HOST:PORT (port 1-65535): {text!r}")
        return host, int(port)


class MailNotTaken(Exception):
    """The SMTP server did not take the mail. `lasting`: it refused the recipient or the
    message for good (a 5xx), so trying again will not help; otherwise (no connection, a
    timeout, a 4xx, a login or TLS problem) try again later. `code` is the server's reply code,
    if it gave one. The text never quotes the server's reply, which may name the address."""

    def __init__(self, why: str, *, lasting: bool, code: int | None = None) -> None:
        super().__init__(why)
        self.lasting = lasting
        self.code = code


def _refusal(
    error: aiosmtplib.SMTPResponseException | aiosmtplib.SMTPRecipientsRefused,
) -> MailNotTaken:
    """A reply refusing the mail: lasting only for a 5xx refusal of the recipient or message."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [refused.code for refused in error.recipients]
        code = codes[0] if codes else None
        lasting = bool(codes) and all(500 <= c < 600 for c in codes)
        why = f"the mail server refused the recipient ({code})"
        return MailNotTaken(why, lasting=lasting, code=code)
    code = error.code
    what = {
        aiosmtplib.SMTPRecipientRefused: "the recipient",
        aiosmtplib.SMTPDataError: "the message",
    }.get(type(error))
    if what is None:
        kind = type(error).__name__
        return MailNotTaken(f"the mail server said no ({code}, {kind})", lasting=False, code=code)
    return MailNotTaken(f"the mail server refused {what} ({code})", lasting=code >= 500, code=code)


async def deliver(message: EmailMessage, smtp: SmtpSettings) -> None:
    """Hand `message` to the SMTP server, to its To address, from `smtp.mail_from`. Sets a
    Date header if it has none. Raises MailNotTaken unless the server took it."""
    if "Date" not in message:
        message["Date"] = formatdate(usegmt=True)
    where = f"{smtp.host}:{smtp.port}"
    try:
        errors, _ = await aiosmtplib.send(
            message,
            sender=smtp.mail_from,
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.user,
            password=smtp.password,
            start_tls=smtp.starttls,
            timeout=smtp.timeout_s,
        )
    except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused) as error:
        raise _refusal(error) from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
        # Connection refused or lost, a timeout, no STARTTLS, a TLS failure: try again later.
        why = f"no mail taken at {where} ({type(error).__name__})"
        raise MailNotTaken(why, lasting=False) from None
    except ValueError:
        # aiosmtplib: an address it cannot send (say, non-ASCII to a server without SMTPUTF8).
        raise MailNotTaken("the address cannot be sent over SMTP", lasting=True) from None
    if errors:  # some recipients taken, some not: only when a mail has more than one
        code = next(iter(errors.values())).code
        why = f"the mail server refused a recipient ({code})"
        raise MailNotTaken(why, lasting=code >= 500, code=code)


def backoff(attempt: int) -> float:
    """Seconds to wait before try number `attempt` again (1 is the first retry): 5, 10, 20, ...
    up to 600. Below 1 counts as 1."""
    doublings = min(max(attempt, 1) - 1, 16)
    return min(FIRST_BACKOFF_S * 2.0**doublings, MAX_BACKOFF_S)
