"""Forgetting always finishes: at every start, onboarding (the one service that forgets, and
may erase key messages) erases whatever a forget left of a forgotten person's key."""

from __future__ import annotations

from typing import Any

import nats
import structlog

from crew.personal import JetStreamVault
from crew.shell import CommandShell

log = structlog.get_logger("crew.onboarding")


async def finish_forgetting(nc: nats.NATS, shell: CommandShell[Any]) -> None:
    """A forget stopped between leaving the marker and erasing the key (a crash, a lost
    connection) is finished here, even if nobody ever retries it."""
    people = await JetStreamVault(nc).erase_forgotten()
    log.info("forgotten_keys_erased", people=people)
