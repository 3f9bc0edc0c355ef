"""Backup and restore of what a house cannot lose: the event log and the buckets beside it.

`crew backup DIR` writes one JSON-lines file per stream: every message with its subject, headers
and body, in order, while the house runs. `crew up --home NEW --restore DIR` starts a new, empty
house from it: the log is published back in order, so every event gets its old sequence number
(checked), and the buckets get their entries; the views are then folded from the log as always.

The personal-keys bucket is in the backup, so a backup holds personal data (sealed in the log,
readable with the keys): keep it as carefully as the house itself. A person forgotten after the
backup was taken is forgotten again by running `crew forget` on the restored house."""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import Callable
from pathlib import Path

import msgspec
from nats.aio.client import Client as NATS
from nats.js.client import JetStreamContext

from crew import auth, subjects
from projections.replay import Replay

STREAMS = {  # stream -> the subjects it holds: the log, and every bucket of the house
    subjects.STREAM: subjects.EVENTS_ALL,
    **{f"KV_{bucket}": f"$KV.{bucket}.>" for bucket in auth.BUCKETS},
}
IN_FLIGHT = 256  # publishes awaiting their ack while restoring (order is kept by the connection)
SERVER_HEADERS = ("Nats-Expected", "Nats-Batch")  # meant for the first append, not a replay


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
    missing = [s for s in STREAMS if not file_of(folder, s).exists()]
    if missing:
        raise BackupError(f"{folder} is not a crew backup: no {', '.join(missing)}")
    for stream in STREAMS:
        if (await js.stream_info(stream)).state.messages:
            raise BackupError(
                f"{stream} is not empty: restore into a new house (crew up --home NEW --restore)"
            )
    counts: dict[str, int] = {}
    for stream in STREAMS:
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
            acks = [asyncio.ensure_future(_publish(js, saved)) for saved in batch]
            for saved, seq in zip(batch, await asyncio.gather(*acks), strict=True):
                if stream == subjects.STREAM and seq != saved.seq:
                    raise BackupError(f"event {saved.seq} came back as {seq}: stopped")
            restored += len(batch)
            if stream == subjects.STREAM and restored % 10_240 == 0:
                say(f"  {stream}: {restored:,} messages restored")
    return restored


async def _publish(js: JetStreamContext, saved: Saved) -> int:
    headers = {k: v for k, v in saved.headers.items() if not k.startswith(SERVER_HEADERS)}
    ack = await js.publish(
        saved.subject, base64.b64decode(saved.data), headers=headers or None, timeout=30
    )
    return int(ack.seq)
