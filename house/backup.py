"""Backup and restore of what a house cannot lose: the event log and the buckets beside it.

`crew backup DIR` writes one JSON-lines file per stream: every message with its subject, headers
and body, in order, while the house runs. `crew up --home NEW --restore DIR` starts a new, empty
house from it: the log is published back in order, so every event gets its old sequence number
(checked), and the buckets get their entries; the views are then folded from the log as always.

The personal-keys bucket is in the backup, so a backup holds personal data (sealed in the log,
readable with the keys): keep it as carefully as the house itself.

A backup never brings a forgotten person back. Beside the backups, outside any backup folder,
the ledger `forgotten-ids` lists every forgotten person's pseudonymous id (no personal data):
`crew backup` merges the house's forgotten ids into `DIR/../forgotten-ids` and records `DIR/..`
as a backup place in the home; the running house (`crew up`) adds each later forget to the
home's own ledger and to every recorded place's. Every restore applies the union of the ledger
beside the restored folder, the new home's ledger and any `--forgotten FILE`: the person's key
is erased again (marker, secure erase) before any component starts."""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import msgspec
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js.client import JetStreamContext

from crew import follow, subjects
from crew.personal import FORGOTTEN_MARKER, KEYS_BUCKET, KEYS_STREAM, JetStreamVault
from crew.replay import Replay
from house import auth
from schemas.common import ID_PATTERN

STREAMS = {  # stream -> the subjects it holds: the log, and every bucket of the house
    subjects.STREAM: subjects.EVENTS_ALL,
    **{f"KV_{bucket}": f"$KV.{bucket}.>" for bucket in auth.BUCKETS},
}
# Backups made before the followers kept positions have none: restored without them, the
# followers handle the log from the start, and the restored outcomes answer every command.
OPTIONAL = {f"KV_{auth.FOLLOWERS}"}
IN_FLIGHT = 256  # publishes awaiting their ack while restoring (order is kept by the connection)
SERVER_HEADERS = ("Nats-Expected", "Nats-Batch")  # meant for the first append, not a replay
LEDGER = "forgotten-ids"  # one forgotten id a line: beside the backups, and in the home
PLACES = "backup-places"  # in the home: the folders that hold this house's backups and ledger


class Saved(msgspec.Struct, frozen=True):
    seq: int
    subject: str
    data: str  # base64
    headers: dict[str, str] = {}


class BackupError(RuntimeError):
    pass


def file_of(folder: Path, stream: str) -> Path:
    return folder / f"{stream}.jsonl"


async def backup(nc: NATS, folder: Path, say: Callable[[str], None]) -> dict[str, int]:
    """Write every stream to `folder`; returns how many messages each had."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    js = nc.jetstream()
    counts: dict[str, int] = {}
    encoder = msgspec.json.Encoder()
    for stream, subject in STREAMS.items():
        state = (await js.stream_info(stream)).state
        last, total, written = state.last_seq, state.messages, 0
        target = file_of(folder, stream)
        partial = target.with_suffix(".partial")
        with partial.open("wb") as out:
            if total:
                replay = await Replay(nc, state.first_seq, subject, stream).start()
                try:
                    seq = 0
                    while seq < last:
                        for record in await replay.take(1000):
                            seq = record.seq
                            saved = Saved(
                                seq=record.seq,
                                subject=record.subject,
                                data=base64.b64encode(record.data).decode(),
                                headers=dict(record.headers),
                            )
                            out.write(encoder.encode(saved) + b"\n")
                            written += 1
                        if stream == subjects.STREAM:
                            say(f"  {stream}: {written:,} / {total:,} messages")
                finally:
                    await replay.stop()
        partial.replace(target)
        counts[stream] = written
        say(f"{stream}: {written:,} messages -> {target}")
    return counts


async def restore(nc: NATS, folder: Path, say: Callable[[str], None]) -> dict[str, int]:
    """Publish a backup into this house's streams, which must be empty (a new house)."""
    js = nc.jetstream()
    missing = [s for s in STREAMS if not file_of(folder, s).exists() and s not in OPTIONAL]
    if missing:
        raise BackupError(f"{folder} is not a crew backup: no {', '.join(missing)}")
    for stream in STREAMS:
        if (await js.stream_info(stream)).state.messages:
            raise BackupError(
                f"{stream} is not empty: restore into a new house (crew up --home NEW --restore)"
            )
    counts: dict[str, int] = {}
    for stream in STREAMS:
        if not file_of(folder, stream).exists():
            say(f"{stream}: not in this backup (an older one)")
            continue
        counts[stream] = await _restore_stream(js, stream, file_of(folder, stream), say)
        say(f"{stream}: {counts[stream]:,} messages restored")
    return counts


async def _restore_stream(
    js: JetStreamContext, stream: str, source: Path, say: Callable[[str], None]
) -> int:
    """Publish one stream's messages in order, IN_FLIGHT awaiting their acks at a time; the
    log's must come back with their old sequence numbers."""
    decoder = msgspec.json.Decoder(Saved)
    restored = 0
    with source.open("rb") as lines:
        while batch := [decoder.decode(line) for line in itertools.islice(lines, IN_FLIGHT)]:
            if stream == f"KV_{auth.FOLLOWERS}":
                batch = [_freed(saved) for saved in batch]
            acks = [asyncio.ensure_future(_publish(js, saved)) for saved in batch]
            for saved, seq in zip(batch, await asyncio.gather(*acks), strict=True):
                if stream == subjects.STREAM and seq != saved.seq:
                    raise BackupError(f"event {saved.seq} came back as {seq}: stopped")
            restored += len(batch)
            if stream == subjects.STREAM and restored % 10_240 == 0:
                say(f"  {stream}: {restored:,} messages restored")
    return restored


def _freed(saved: Saved) -> Saved:
    """A follower's position without its holder: the instances of the old house are gone, and
    the new house's must not wait for their lease to run out."""
    data = base64.b64decode(saved.data)
    if not data:  # a delete marker
        return saved
    position = msgspec.json.decode(data, type=follow.Position)
    freed = msgspec.json.encode(msgspec.structs.replace(position, holder=""))
    return msgspec.structs.replace(saved, data=base64.b64encode(freed).decode())


async def _publish(js: JetStreamContext, saved: Saved) -> int:
    headers = {k: v for k, v in saved.headers.items() if not k.startswith(SERVER_HEADERS)}
    ack = await js.publish(
        saved.subject, base64.b64decode(saved.data), headers=headers or None, timeout=30
    )
    return int(ack.seq)


# The forgotten ledger -----------------------------------------------------------------------


def ledger_beside(folder: Path) -> Path:
    """The ledger of the backups in `folder`'s parent: never inside a backup folder, so no old
    backup carries an old ledger."""
    return folder.resolve().parent / LEDGER


def read_ledger(path: Path) -> set[str]:
    """The ids in a ledger (none if there is none). A line that is not an id stops the restore:
    a damaged line may be a forgotten person, who must not come back by accident."""
    if not path.exists():
        return set()
    ids: set[str] = set()
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not (line := line.strip()) or line.startswith("#"):
            continue
        if not re.fullmatch(ID_PATTERN, line):
            raise BackupError(f"{path}, line {number}, is not a forgotten id: mend it by hand")
        ids.add(line)
    return ids


def _append_new(path: Path, lines: Iterable[str], known: set[str]) -> int:
    """Append the lines the file lacks, owner-only. Appending, never rewriting, so a backup and
    the running house writing at once lose nothing (a repeated line is harmless)."""
    new = sorted(set(lines) - known)
    if new:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as out:
            out.write("".join(f"{line}\n" for line in new))
            out.flush()
            os.fsync(out.fileno())
    return len(new)


def remember_forgotten(path: Path, ids: Iterable[str]) -> int:
    return _append_new(path, ids, read_ledger(path))


def backup_places(home: Path) -> list[Path]:
    path = home / PLACES
    if not path.exists():
        return []
    return [Path(line) for line in path.read_text().splitlines() if line.strip()]


def remember_place(home: Path, place: Path) -> None:
    _append_new(home / PLACES, [str(place.resolve())], {str(p) for p in backup_places(home)})


def keep_forgotten(home: Path, ids: Iterable[str]) -> list[str]:
    """Write forgotten ids to the home's ledger and to the ledger of every backup place there
    is; returns what could not be written. A place that is not there (a disk not plugged in)
    is skipped, not made: the next start of the house, or the next backup there, catches up."""
    ids = set(ids)
    remember_forgotten(home / LEDGER, ids)
    problems = []
    for place in backup_places(home):
        try:
            if place.is_dir():
                remember_forgotten(place / LEDGER, ids)
        except (OSError, BackupError) as exc:
            problems.append(f"{place / LEDGER}: {exc}")
    return problems


def forgotten_in(folder: Path) -> set[str]:
    """Whom a backup's keys bucket holds as forgotten (their latest message is the marker)."""
    decoder = msgspec.json.Decoder(Saved)
    latest: dict[str, bytes] = {}
    with file_of(folder, KEYS_STREAM).open("rb") as lines:
        for line in lines:
            saved = decoder.decode(line)
            latest[saved.subject.rsplit(".", 1)[-1]] = base64.b64decode(saved.data)
    return {person for person, value in latest.items() if value == FORGOTTEN_MARKER}


def keep_ledgers(folder: Path, home: Path | None) -> set[str]:
    """After `crew backup`: the house's forgotten ids into the ledger beside the backup, and,
    when the house runs in `home`, into its own and with `folder`'s parent as a backup place,
    so the running house adds every later forget there too."""
    ids = forgotten_in(folder)
    remember_forgotten(ledger_beside(folder), ids)
    if home is not None:
        remember_place(home, folder.resolve().parent)
        keep_forgotten(home, ids)
    return ids


async def apply_forgotten(nc: NATS, ids: Iterable[str]) -> list[str]:
    """Forget again, in a restored house, everyone in `ids`: the marker, and every other
    message of theirs securely erased. Returns the ids the restored bucket knew (a key or a
    marker): their log may still lack `onboarding.person_forgotten`."""
    vault = JetStreamVault(nc)
    kv = await nc.jetstream().key_value(KEYS_BUCKET)
    known = []
    for person in sorted(ids):
        try:
            await kv.get(person)
            known.append(person)
        except nats.js.errors.KeyNotFoundError:
            pass
        await vault.forget(person)
    return known
