"""Driving a running house through the `crew` command, as a coordinator would."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any


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
    deadline = time.monotonic() + seconds
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        rows = sql(env, query)
        if rows == expected:
            return
        time.sleep(0.1)
    raise AssertionError(f"{query}\n  got      {rows}\n  expected {expected}")
