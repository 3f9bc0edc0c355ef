"""Personal data that can be erased without breaking the history: crypto-shredding.

A field marked `personal(owner)` in a schema is encrypted (AES-GCM) with the owner's own key
before the event is appended. The stored value reads `sealed:v1:<person>:<field>:<base64>`;
the person and field are bound in as associated data, so a value cannot be moved to another
person or field. Keys live in the KV bucket CREW_PERSONAL_KEYS, never in the log.
Forgetting a person securely erases their key: every copy of their data in the log, in backups
of it and in any rebuild is unreadable from then on. Their pseudonymous id, and everything they
did, stays.
"""

from __future__ import annotations

import base64
import functools
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import msgspec
import msgspec.inspect as mi
import nats.js.errors
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nats.aio.client import Client as NATS
from nats.js.api import DiscardPolicy, RawStreamMsg, StorageType, StreamConfig
from nats.js.kv import KeyValue

KEYS_BUCKET = "CREW_PERSONAL_KEYS"
KEYS_STREAM = f"KV_{KEYS_BUCKET}"
NO_MESSAGE_FOUND = 10057  # JetStream's answer to deleting a message that is gone
SEALED = "sealed:v1:"
FORGOTTEN = "forgotten crew member"
FORGOTTEN_MARKER = b"forgotten"  # what the keys bucket holds for a forgotten person
# Per-person secrets, keyed by crew id, that reach a person's data: their own page's token and
# their calendar feed's. Forgetting a person ends both (services/onboarding/erasure.py).
PAGE_TOKENS = "CREW_PAGE_TOKENS"
ICAL_TOKENS = "CREW_ICAL_TOKENS"
LINK_TOKENS = (PAGE_TOKENS, ICAL_TOKENS)
_SEALED_PERSON = re.compile(rb'"sealed:v1:([A-Za-z0-9_-]{1,64}):')


@functools.cache
def personal_fields(kind: type) -> dict[str, tuple[str, bool]]:
    """{field: (owner field, is a list)} for the fields a Struct marks personal."""
    found: dict[str, tuple[str, bool]] = {}
    info = mi.type_info(kind)
    for field in getattr(info, "fields", ()):
        item, many = field.type, False
        if isinstance(item, mi.ListType):
            item, many = item.item_type, True
        if isinstance(item, mi.Metadata) and item.extra and "personal" in item.extra:
            found[field.encode_name] = (item.extra["personal"], many)
    return found


def seal(value: str, person: str, field: str, key: bytes) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, value.encode(), f"{person}:{field}".encode())
    return f"{SEALED}{person}:{field}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def unseal(value: str, key: bytes | None) -> str:
    """The plain value, or "" when the key is gone (the person was forgotten) or it is not ours."""
    if not value.startswith(SEALED):
        return value
    try:
        person, field, blob = value[len(SEALED) :].split(":", 2)
        raw = base64.urlsafe_b64decode(blob)
        if key is None:
            return ""
        return AESGCM(key).decrypt(raw[:12], raw[12:], f"{person}:{field}".encode()).decode()
    except (ValueError, InvalidTag):
        return ""


def sealed_people(data: bytes) -> set[str]:
    """Whose keys it takes to read this payload."""
    return {m.decode() for m in _SEALED_PERSON.findall(data)} if b'"sealed:v1:' in data else set()


def unseal_payload(data: bytes, keys: Mapping[str, bytes | None]) -> bytes:
    """The payload with every sealed value opened (or blanked, where the key is gone)."""
    if b'"sealed:v1:' not in data:
        return data

    def walk(node: Any) -> Any:
        if isinstance(node, str) and node.startswith(SEALED):
            person = node[len(SEALED) :].split(":", 1)[0]
            return unseal(node, keys.get(person))
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        return node

    return msgspec.json.encode(walk(msgspec.json.decode(data)))


class Vault(Protocol):
    async def key(self, person: str, create: bool = False) -> bytes | None: ...

    async def forget(self, person: str) -> None: ...

    def evict(self, person: str) -> None: ...


async def seal_event(event: msgspec.Struct, vault: Vault) -> bytes:
    """The event as JSON, with its personal fields sealed under their owners' keys."""
    fields = personal_fields(type(event))
    if not fields:
        return msgspec.json.encode(event)
    data = msgspec.to_builtins(event)
    keys: dict[str, bytes | None] = {}  # one look-up per owner, however many fields they own
    for name, (owner, many) in fields.items():
        value = data.get(name)
        if not value:
            continue
        person = data[owner]
        if person not in keys:
            keys[person] = await vault.key(person, create=True)
        key = keys[person]
        if key is None:  # they were forgotten: their personal data is not recorded at all
            data[name] = [] if many else ""
            continue
        data[name] = (
            [seal(v, person, name, key) for v in value] if many else seal(value, person, name, key)
        )
    return msgspec.json.encode(data)


async def keys_for(vault: Vault, payloads: Iterable[bytes]) -> dict[str, bytes | None]:
    people = set().union(*(sealed_people(p) for p in payloads))
    return {person: await vault.key(person) for person in sorted(people)}


class JetStreamVault:
    """Keys in a KV bucket.

    Sealing (`create=True`) always asks the bucket and never keeps the key: any process may
    forget a person (another onboarding instance, `crew forget`), and a key held in memory
    would go on sealing new personal data of theirs under a key that is meant to be gone.
    The answer "forgotten" also drops any key this instance still holds for reading.
    Reading caches keys, for replays; the projector evicts a person as it meets their
    `person_forgotten`. A missing key is never cached: another service may create it a
    moment later."""

    def __init__(self, nc: NATS, exit_after_forget_marker: bool = False) -> None:
        self._nc = nc
        # Fault injection for tests (CREW_FAULT_EXIT_AFTER_FORGET_MARKER): die hard between
        # leaving a forget marker and erasing the old key.
        self._exit_after_forget_marker = exit_after_forget_marker
        self._js = nc.jetstream()
        self._kv: KeyValue | None = None
        self._cache: dict[str, bytes] = {}

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            self._kv = await self._js.key_value(KEYS_BUCKET)
        return self._kv

    async def key(self, person: str, create: bool = False) -> bytes | None:
        if not create and person in self._cache:
            return self._cache[person]
        kv = await self._bucket()
        try:
            entry = await kv.get(person)
            key = entry.value
        except nats.js.errors.KeyNotFoundError:
            if not create:
                return None
            key = AESGCM.generate_key(bit_length=256)
            try:
                await kv.create(person, key)
            except nats.js.errors.KeyWrongLastSequenceError:
                key = (await kv.get(person)).value  # created by a sibling meanwhile
        if not key or key == FORGOTTEN_MARKER:
            self.evict(person)
            return None  # forgotten: nothing of theirs is sealed, or readable, ever again
        if not create:
            self._cache[person] = key
        return key

    async def forget(self, person: str) -> None:
        """Leave the marker first, so that from this moment no key is ever made for them again
        (creating one fails while any entry exists), then securely erase every older message of
        theirs (the server overwrites it). The bucket keeps two messages per person for exactly
        this moment. A forget that stopped between the two steps is finished by its retry (the
        marker is there: erase what is left) or by `erase_forgotten` when onboarding starts.
        Later personal data of theirs is dropped."""
        self.evict(person)
        kv = await self._bucket()
        while True:
            try:
                entry = await kv.get(person)
            except nats.js.errors.KeyNotFoundError:
                try:
                    await kv.create(person, FORGOTTEN_MARKER)
                except nats.js.errors.KeyWrongLastSequenceError:
                    continue  # a key was made meanwhile: erase that one
                break
            if entry.value == FORGOTTEN_MARKER:
                break
            try:
                await kv.update(person, FORGOTTEN_MARKER, last=entry.revision)
            except nats.js.errors.KeyWrongLastSequenceError:
                continue
            if self._exit_after_forget_marker:
                os._exit(137)
            break
        await self._erase(await self._messages(f"$KV.{KEYS_BUCKET}.{person}"))

    async def erase_forgotten(self) -> int:
        """Securely erase every message left of every forgotten person but their marker, in one
        pass over the bucket; returns how many people had something left."""
        found = await self._messages(f"$KV.{KEYS_BUCKET}.>")
        forgotten = {m.subject for m in found if m.data == FORGOTTEN_MARKER}
        left = [m for m in found if m.subject in forgotten and m.data != FORGOTTEN_MARKER]
        await self._erase(left)
        return len({m.subject for m in left})

    async def forgotten_people(self) -> list[str]:
        """Everyone forgotten so far: the people whose key is a forget marker."""
        found = await self._messages(f"$KV.{KEYS_BUCKET}.>")
        prefix = f"$KV.{KEYS_BUCKET}."
        return sorted(
            (m.subject or "").removeprefix(prefix) for m in found if m.data == FORGOTTEN_MARKER
        )

    async def _messages(self, subject: str) -> list[RawStreamMsg]:
        """Every message on `subject` (a wildcard may be in it), oldest first, read directly."""
        found: list[RawStreamMsg] = []
        seq = 1
        while True:
            try:
                msg = await self._js.get_msg(
                    KEYS_STREAM, seq=seq, subject=subject, direct=True, next=True
                )
            except nats.js.errors.NotFoundError:
                return found
            assert msg.seq is not None  # a direct get always names the sequence
            found.append(msg)
            seq = msg.seq + 1

    async def _erase(self, messages: Iterable[RawStreamMsg]) -> None:
        """Erase (overwrite, not just mark deleted) each message that is not a marker."""
        for msg in messages:
            if msg.data == FORGOTTEN_MARKER or msg.seq is None:
                continue
            try:
                await self._js.delete_msg(KEYS_STREAM, msg.seq)
            except nats.js.errors.APIError as exc:
                if exc.err_code != NO_MESSAGE_FOUND:
                    raise  # otherwise another process erased it meanwhile

    def evict(self, person: str) -> None:
        self._cache.pop(person, None)


class InMemoryVault:
    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {}
        self.forgotten: set[str] = set()

    async def key(self, person: str, create: bool = False) -> bytes | None:
        if person not in self.keys and create and person not in self.forgotten:
            self.keys[person] = AESGCM.generate_key(bit_length=256)
        return self.keys.get(person)

    async def forget(self, person: str) -> None:
        self.keys.pop(person, None)
        self.forgotten.add(person)

    def evict(self, person: str) -> None:
        pass


KEPT_PER_PERSON = 2  # the key, and for a moment during `forget` the marker beside it


async def ensure_vault(nc: NATS, replicas: int = 1, admin: bool = False) -> None:
    """The keys bucket, created as its own stream in KV form: nats-py's buckets deny deleting a
    message, and forgetting needs exactly that: a secure erase (the server overwrites the data).
    A bucket made by an older crew (one message per person) is widened; only an admin user may,
    so this is done by `crew up` and `crew prepare`, and other callers leave it be."""
    js = nc.jetstream()
    try:
        info = await js.stream_info(KEYS_STREAM)
    except nats.js.errors.NotFoundError:
        await js.add_stream(
            StreamConfig(
                name=KEYS_STREAM,
                description="crew: one key per person; erased when they are forgotten",
                subjects=[f"$KV.{KEYS_BUCKET}.>"],
                storage=StorageType.FILE,
                num_replicas=replicas,
                max_msgs_per_subject=KEPT_PER_PERSON,
                discard=DiscardPolicy.NEW,
                allow_rollup_hdrs=True,
                allow_direct=True,
                deny_delete=False,
                deny_purge=False,
                duplicate_window=120.0,
            )
        )
        return
    if admin and (info.config.max_msgs_per_subject or 0) < KEPT_PER_PERSON:
        info.config.max_msgs_per_subject = KEPT_PER_PERSON
        await js.update_stream(info.config)
