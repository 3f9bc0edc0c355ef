"""One-tap links: a signed, single-purpose, expiring token in a URL.

A notice's mail carries links such as "I'll cook"; each holds what the tap does (the action,
the person, what it is about, until when) and an HMAC-SHA256 of that under the house's link
key. The key lives in the KV bucket CREW_LINK_KEYS, made by `crew up` and read only by the
notices service (which signs) and the kiosk server (which checks and then sends the command).
The link's id is the command id of its tap, so a second tap gets the first answer.

    token = sign(key, Link(id=..., action="cook", crew_id="anna", about="m1", expires=...))
    link = verify(key, token, now)  # None: forged, changed, or expired
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import secrets
from datetime import datetime

import msgspec
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

BUCKET = "CREW_LINK_KEYS"
KEY = "hmac-v1"
MAC_BYTES = 16  # 128 bits of HMAC-SHA256: beyond guessing, and short enough for a mail client


class Link(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What one tap does: `action` for `crew_id` about `about`, until `expires`. A "Take over"
    link also names whose place it takes (`from_crew_id`, a crew id). Fields left at their
    defaults are not written into the token, so a link without them reads as before."""

    id: str  # the tap's command id
    action: str
    crew_id: str
    about: str
    topic: str = ""
    from_crew_id: str = ""  # take_over: the one who offered the place
    expires: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest()[:MAC_BYTES])


def sign(key: bytes, link: Link) -> str:
    body = _b64(msgspec.json.encode(link))
    return f"{body}.{_mac(key, body)}"


def verify(key: bytes, token: str, now: datetime) -> Link | None:
    """The link, if the house signed it and it has not expired; else None."""
    body, _, mac = token.partition(".")
    if not body or not token.isascii():  # a changed token; compare_digest wants ASCII text
        return None
    if not hmac.compare_digest(mac, _mac(key, body)):
        return None
    try:
        link = msgspec.json.decode(_unb64(body), type=Link)
    except (ValueError, msgspec.MsgspecError):
        return None
    return link if now < link.expires else None


async def bucket(nc: NATS, replicas: int = 1) -> KeyValue:
    """The bucket, made with a fresh key if there is none (by `crew up`, as the house)."""
    js = nc.jetstream()
    try:
        kv = await js.key_value(BUCKET)
    except nats.js.errors.BucketNotFoundError:
        kv = await js.create_key_value(
            KeyValueConfig(
                bucket=BUCKET,
                description="crew: the key one-tap links are signed with",
                history=1,
                storage=StorageType.FILE,
                replicas=replicas,
            )
        )
    with contextlib.suppress(nats.js.errors.KeyWrongLastSequenceError):  # made before: keep it,
        await kv.create(KEY, secrets.token_bytes(32))  # so links already sent stay good
    return kv


async def house_key(nc: NATS) -> bytes:
    """The link key, as the notices service and the kiosk read it."""
    entry = await (await nc.jetstream().key_value(BUCKET)).get(KEY)
    assert entry.value is not None
    return entry.value
