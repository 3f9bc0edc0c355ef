"""Driving a running house through the `crew` command, as a coordinator would; and, for a test
that sends or asks a lot, through one connection of its own to the same services (the `crew`
command makes one per call, and a process per call costs a second or two)."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
from nats.aio.client import Client as NATS

from crew import settings
from house import client
from projections.query import SqlError, SqlRequest
from tests.polling import eventually as poll


def crew(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["crew", *args], env=env, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(
            f"crew {' '.join(args)} -> {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result


def send(
    env: dict[str, str], command: str, body: dict[str, Any], command_id: str | None = None
) -> dict[str, Any]:
    args = ["send", command, json.dumps(body, default=str)]
    if command_id:
        args[1:1] = ["--command-id", command_id]
    reply: dict[str, Any] = json.loads(crew(env, *args, check=False).stdout)
    return reply


def sql(env: dict[str, str], query: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(crew(env, "sql", "--format", "json", query).stdout)
    return rows


def eventually(
    env: dict[str, str], query: str, expected: list[dict[str, Any]], seconds: float = 15
) -> None:
    """The views follow the log within moments; wait for them rather than sleep a fixed time."""
    poll(
        lambda: sql(env, query),
        until=lambda rows: rows == expected,
        seconds=seconds,
        what=f"{query}\n  expected {expected}",
    )


@contextlib.asynccontextmanager
async def connected(env: dict[str, str]) -> AsyncIterator[NATS]:
    """A connection to the house running in the env's CREW_HOME, as `crew` makes one."""
    nc = await client.connect(settings.find_nats_url(Path(env["CREW_HOME"])))
    try:
        yield nc
    finally:
        await nc.close()


async def send_over(nc: NATS, command: str, body: dict[str, Any]) -> dict[str, Any]:
    """`crew send`, on a connection of the test's own."""
    reply: dict[str, Any] = msgspec.json.decode(
        await client.send(nc, command, msgspec.json.encode(body))
    )
    return reply


async def sql_over(nc: NATS, query: str, restricted: bool = False) -> list[dict[str, Any]]:
    """`crew sql [--restricted] --format json`, on a connection of the test's own."""
    reply = await client.sql(nc, SqlRequest(sql=query), restricted=restricted)
    if isinstance(reply, SqlError):
        raise AssertionError(f"{query}\n  {reply.message}")
    return [dict(zip(reply.columns, row, strict=True)) for row in reply.rows]
