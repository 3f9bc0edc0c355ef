"""Bearer tokens, of which only the SHA-256 is kept, one KV bucket per kind:

- kiosk tablets: `crew kiosk add <name>` prints one once, into CREW_KIOSK_TOKENS (key = the
  kiosk's name); `crew kiosk revoke <name>` deletes it;
- a crew member's own page: `crew link <crew_id>` prints their address with one, into
  CREW_PAGE_TOKENS (key = the crew id); `crew link --revoke` and forgetting the person delete it;
- a person's calendar feed: `crew ical <crew_id>`, into CREW_ICAL_TOKENS."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets

import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

from crew.personal import ICAL_TOKENS, PAGE_TOKENS

BUCKET = "CREW_KIOSK_TOKENS"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


ICAL_BUCKET = ICAL_TOKENS  # one secret per person for their calendar feed
PAGE_BUCKET = PAGE_TOKENS  # one per person for their own page (/me)


async def bucket(nc: NATS, name: str = BUCKET, replicas: int = 1) -> KeyValue:
    js = nc.jetstream()
    try:
        return await js.key_value(name)
    except nats.js.errors.BucketNotFoundError:
        config = KeyValueConfig(
            bucket=name,
            description="crew: token hashes",
            history=1,
            storage=StorageType.FILE,
            replicas=replicas,
        )
        return await js.create_key_value(config)


async def add(nc: NATS, name: str, kind: str = BUCKET) -> str:
    """A new token for `name` (replacing any earlier one). Shown once; only its hash is kept."""
    token = secrets.token_urlsafe(32)
    await (await bucket(nc, kind)).put(name, digest(token).encode())
    return token


async def matches(nc: NATS, name: str, token: str, kind: str) -> bool:
    try:
        entry = await (await bucket(nc, kind)).get(name)
    except nats.js.errors.KeyNotFoundError:
        return False
    return entry.value is not None and secrets.compare_digest(entry.value, digest(token).encode())


async def revoke(nc: NATS, name: str, kind: str = BUCKET) -> bool:
    kv = await bucket(nc, kind)
    try:
        await kv.get(name)
    except nats.js.errors.KeyNotFoundError:
        return False
    await kv.purge(name)
    return True


class Tokens:
    """Whose a bearer token is (a kiosk's, or a person's), kept current by watching the bucket."""

    def __init__(self, kind: str = BUCKET) -> None:
        self.kind = kind
        self._names: dict[str, str] = {}  # digest -> the kiosk's name, or the crew id
        self._task: asyncio.Task[None] | None = None
        self._loaded = asyncio.Event()  # the bucket's current tokens have all been read

    def name_of(self, token: str) -> str | None:
        return self._names.get(digest(token)) if token else None

    @property
    def loaded(self) -> bool:
        return self._loaded.is_set()

    async def start(self, nc: NATS, timeout: float = 10.0) -> None:
        """Follow the bucket; return once the tokens already in it are known."""
        await self.stop()
        kv = await bucket(nc, self.kind)
        watcher = await kv.watchall()
        self._task = asyncio.create_task(self._follow(watcher))
        await asyncio.wait_for(self._loaded.wait(), timeout)

    async def _follow(self, watcher: object) -> None:
        async for entry in watcher:  # type: ignore[attr-defined]
            if entry is None:  # the watcher's marker: the initial values are all delivered
                self._loaded.set()
                continue
            self._names = {d: n for d, n in self._names.items() if n != entry.key}
            if entry.operation is None and entry.value:
                self._names[entry.value.decode()] = entry.key

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
