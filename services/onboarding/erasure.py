"""Forgetting always finishes: at every start, onboarding (the one service that forgets, and
may erase key messages) erases whatever a forget left of a forgotten person's key. It also ends
every link that reaches a forgotten person's data, their own page's token and their calendar
feed's, however the forget was sent (`crew forget`, or `onboarding.forget_person` by hand):
at start for everyone forgotten so far, then for each forget as it is recorded."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import nats
import nats.js.errors
import structlog

from crew import subjects
from crew.personal import LINK_TOKENS, JetStreamVault
from crew.shell import CommandShell

log = structlog.get_logger("crew.onboarding")
FORGOTTEN = subjects.event_subject("onboarding.person_forgotten", "*")


async def end_links(nc: nats.NATS, people: Iterable[str]) -> int:
    """Purge each person's page and calendar tokens; how many there were."""
    js, ended, people = nc.jetstream(), 0, list(people)
    for bucket in LINK_TOKENS:
        try:
            kv = await js.key_value(bucket)
        except nats.js.errors.BucketNotFoundError:
            continue  # no link of that kind was ever made
        for person in people:
            try:
                await kv.get(person)
            except nats.js.errors.KeyNotFoundError:
                continue
            await kv.purge(person)
            ended += 1
    return ended


async def finish_forgetting(nc: nats.NATS, shell: CommandShell[Any]) -> None:
    """A forget stopped between leaving the marker and erasing the key (a crash, a lost
    connection) is finished here, even if nobody ever retries it; then every forget ends the
    person's links as it is recorded (a forget while this was down: at the next start)."""
    recorded = await nc.subscribe(FORGOTTEN)  # first, so no forget falls between the two
    vault = JetStreamVault(nc)
    people = await vault.erase_forgotten()
    links = await end_links(nc, await vault.forgotten_people())
    log.info("forgotten_keys_erased", people=people, links_ended=links)
    async for msg in recorded.messages:
        if ended := await end_links(nc, [subjects.aggregate_of(msg.subject)]):
            log.info("forgotten_links_ended", links=ended)
