"""Kiosk tokens: `crew kiosk add <name>` prints a token once; only its SHA-256 is kept, in the
KV bucket CREW_KIOSK_TOKENS (key = kiosk name). `crew kiosk revoke <name>` deletes it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets

import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

BUCKET = "CREW_KIOSK_TOKENS"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def bucket(nc: NATS) -> KeyValue:
    js = nc.jetstream()
    try:
        return await js.key_value(BUCKET)
    except nats.js.errors.BucketNotFoundError:
        return await js.create_key_value(
            KeyValueConfig(
                bucket=BUCKET,
                description="crew: kiosk token hashes",
                history=1,
                storage=StorageType.FILE,
            )
        )


async def add(nc: NATS, name: str) -> str:
    """A new token for kiosk `name` (replacing any earlier one). Shown once, never stored."""
    token = secrets.token_urlsafe(32)
    await (await bucket(nc)).put(name, digest(token).encode())
    return token


async def revoke(nc: NATS, name: str) -> bool:
    kv = await bucket(nc)
    try:
        await kv.get(name)
    except nats.js.errors.KeyNotFoundError:
        return False
    await kv.purge(name)
    return True


class Tokens:
    """Which kiosk a bearer token belongs to, kept current by watching the bucket."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}  # digest -> kiosk name
        self._task: asyncio.Task[None] | None = None

    def kiosk_of(self, token: str) -> str | None:
        return self._names.get(digest(token)) if token else None

    async def start(self, nc: NATS) -> None:
        kv = await bucket(nc)
        watcher = await kv.watchall()
        self._task = asyncio.create_task(self._follow(watcher))

    async def _follow(self, watcher: object) -> None:
        async for entry in watcher:  # type: ignore[attr-defined]
            if entry is None:
                continue
            self._names = {d: n for d, n in self._names.items() if n != entry.key}
            if entry.operation is None and entry.value:
                self._names[entry.value.decode()] = entry.key

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
