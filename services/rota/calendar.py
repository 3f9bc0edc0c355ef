"""The calendar: lets time pass for every series. Once an hour (CREW_CALENDAR_TICK_S) it sends
`rota.advance_calendar` to each series, which schedules occurrences up to the horizon and
releases tentative claims that were not confirmed in time. The command id names the hour, so
several rota instances ticking at once change nothing twice."""

from __future__ import annotations

import asyncio
import hashlib
import os
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog
from nats.aio.client import Client as NATS

from crew import subjects
from crew.shell import CommandShell
from projections.replay import Replay

log = structlog.get_logger("crew.calendar")


async def keep_calendar(nc: NATS, shell: CommandShell[Any]) -> None:
    tick = float(os.environ.get("CREW_CALENDAR_TICK_S", "3600"))
    replay = await Replay(nc, 1, subject="crew.evt.rota.*.series_scheduled").start()
    known: set[str] = set()
    next_tick = asyncio.get_running_loop().time() + tick
    try:
        while True:
            wait = max(next_tick - asyncio.get_running_loop().time(), 0.0)
            for record in await replay.take(1000, timeout=wait):
                known.add(record.subject.split(".")[3])
            if asyncio.get_running_loop().time() < next_tick:
                continue
            next_tick += tick
            await advance(shell, sorted(known), datetime.now(UTC))
    finally:
        await replay.stop()


async def advance(shell: CommandShell[Any], series: list[str], now: datetime) -> None:
    for series_id in series:
        headers = {
            # One id per series and hour, whatever the length of the series id.
            subjects.COMMAND_ID: f"calendar-{hashlib.sha256(series_id.encode()).hexdigest()[:24]}-{now:%Y%m%d%H}",
            subjects.ACTOR: "calendar",
            subjects.SOURCE: "rota-calendar",
        }
        body = msgspec.json.encode({"series_id": series_id, "at": now})
        await shell.handle("crew.cmd.rota.advance_calendar", headers, body)
    log.info("calendar_advanced", series=len(series))
