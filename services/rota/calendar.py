"""The calendar: lets time pass for every series. At start-up (once the series so far are read)
and then once an hour (CREW_CALENDAR_TICK_S) it sends `rota.advance_calendar` to each series,
which schedules occurrences up to the horizon and releases tentative claims that were not
confirmed in time. The command id names the hour, so several rota instances ticking at once
(or a restart within the hour) change nothing twice."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from typing import Any

import structlog
from nats.aio.client import Client as NATS

from crew import subjects
from crew.replay import Replay
from crew.shell import CommandMeta, CommandShell
from schemas.rota import AdvanceCalendar

log = structlog.get_logger("crew.calendar")

CATCH_UP_S = 1.0  # a read of the series that waits this long for more has read them all


async def keep_calendar(nc: NATS, shell: CommandShell[Any], tick_s: float = 3600.0) -> None:
    replay = await Replay(nc, 1, subject="crew.evt.rota.*.series_scheduled").start()
    known: set[str] = set()
    try:
        # The first tick comes as soon as the series so far are known, not an hour after start:
        # claims that expired while the service was down give way at once.
        while batch := await replay.take(1000, timeout=CATCH_UP_S):
            known.update(subjects.aggregate_of(record.subject) for record in batch)
        next_tick = asyncio.get_running_loop().time()
        while True:
            wait = max(next_tick - asyncio.get_running_loop().time(), 0.0)
            for record in await replay.take(1000, timeout=wait) if wait else []:
                known.add(subjects.aggregate_of(record.subject))
            if asyncio.get_running_loop().time() < next_tick:
                continue
            next_tick += tick_s
            await advance(shell, sorted(known), datetime.now(UTC))
    finally:
        await replay.stop()


async def advance(shell: CommandShell[Any], series: list[str], now: datetime) -> None:
    for series_id in series:
        meta = CommandMeta(
            # One id per series and hour, whatever the length of the series id.
            command_id=f"calendar-{hashlib.sha256(series_id.encode()).hexdigest()[:24]}-{now:%Y%m%d%H}",
            actor="calendar",
            source="rota-calendar",
        )
        await shell.execute(AdvanceCalendar(series_id=series_id, at=now), meta)
    log.info("calendar_advanced", series=len(series))
