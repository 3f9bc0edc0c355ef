"""A real mail server for the tests (aiosmtpd) on a free port, keeping every mail it takes."""

from __future__ import annotations

import contextlib
import email
import email.policy
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.ports import free_port


class Mailbox:
    """Every mail the mail server took, parsed, in order."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.mails.append(parsed)  # type: ignore[arg-type]
        return "250 taken"

    def about(self, about: str, to: str) -> list[EmailMessage]:
        """The mails to `to` about a meal, a newcomer or an occurrence (X-Crew-About)."""
        return [m for m in list(self.mails) if m["To"] == to and m["X-Crew-About"] == about]


@contextlib.contextmanager
def mail_server() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    server = Controller(box, hostname="127.0.0.1", port=port)
    server.start()
    try:
        yield box, port
    finally:
        server.stop()
