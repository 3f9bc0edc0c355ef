"""The projector: the only DuckDB writer. Replays from its checkpoint, applies in batches,
and can rebuild every view into a new file and swap it in while queries go on."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import duckdb
import msgspec
import structlog
from nats.aio.client import Client as NATS

from crew import subjects
from crew.eventstore import Recorded, read_matching
from crew.personal import JetStreamVault, Vault, keys_for
from crew.replay import Replay
from crew.settings import ProjectorSettings
from projections.projection import (
    DEFAULTS,
    VIEWS,
    Applied,
    FoldFailed,
    Projection,
    applying_failed,
    places,
)
from schemas.common import END

log = structlog.get_logger("crew.projector")

FORGOTTEN_TYPE = "onboarding.person_forgotten"
PORTABLE_NAMES = """
create or replace macro display_name(id) as coalesce(
    (select 'forgotten crew member' from crew_registry_rows r where r.person_id = id and r.stage = 'forgotten'),
    id
);
"""


def snapshot_path(path: Path) -> Path:
    return path.with_name("snapshot.duckdb")


def make_portable(copy: Path) -> None:
    """A snapshot opens in any DuckDB: names live only in the live projector's memory, so here
    display_name() gives the crew id (or "forgotten crew member")."""
    con = duckdb.connect(str(copy))
    try:
        con.execute(PORTABLE_NAMES)
        con.execute("checkpoint")
    finally:
        con.close()


RETRY_MAX_S = 30.0  # a halted projector, or one meeting a passing fault, tries again this often


VersionName = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9-]{1,32}" + END)]


class RebuildRequest(msgspec.Struct, frozen=True, kw_only=True):
    version: VersionName | None = None  # build side by side under this name instead of swapping in
    window_months: Annotated[int, msgspec.Meta(ge=1, le=120)] | None = (
        None  # the new contributions window
    )
    swap: VersionName | None = None  # make this version, built before, the live one


class RebuildProgress(msgspec.Struct, frozen=True):
    applied: int
    target: int
    events_per_s: float
    done: bool = False
    seconds: float = 0.0


async def stream_last_seq(nc: NATS) -> int:
    info = await nc.jetstream().stream_info(subjects.STREAM)
    return int(info.state.last_seq)


async def apply_batch(projection: Projection, batch: list[Recorded], vault: Vault) -> Applied:
    """Fetch the keys this batch needs (forgetting first whoever it forgets), then apply it."""
    for record in batch:
        if record.type == FORGOTTEN_TYPE:
            vault.evict(subjects.aggregate_of(record.subject))
    keys = await keys_for(vault, (record.data for record in batch))
    applying = asyncio.ensure_future(asyncio.to_thread(projection.apply, batch, keys))
    try:
        return await asyncio.shield(applying)
    except asyncio.CancelledError:
        # A thread cannot be cancelled: it goes on using the connection. Whoever cancelled us
        # (stop, a swap) closes the file next, so return only once the thread is done with it.
        await asyncio.wait([applying])
        raise


async def restore_in_memory(nc: NATS, projection: Projection, vault: Vault) -> int:
    """Refill the in-memory views from the log up to the projection's checkpoint."""
    records = [
        r
        for r in await read_matching(nc, "crew.evt.onboarding.>")
        if r.seq <= projection.checkpoint
    ]
    for r in records:
        if r.type == FORGOTTEN_TYPE:
            vault.evict(subjects.aggregate_of(r.subject))
    keys = await keys_for(vault, (r.data for r in records))
    await asyncio.to_thread(projection.restore_in_memory, records, keys)
    return len(records)


async def replay_into(
    nc: NATS,
    projection: Projection,
    target: int,
    vault: Vault,
    report: Callable[[int], Awaitable[None]] | None = None,
    replay: Replay | None = None,
    batch_size: int = DEFAULTS.projector_batch,
) -> Replay:
    """Apply events after the projection's checkpoint until it has reached `target`. The next
    batch is asked for before this one is folded: it arrives while the fold runs in its thread."""
    replay = replay or await Replay(nc, projection.checkpoint + 1).start()
    while projection.checkpoint < target:
        batch = await replay.take(batch_size, timeout=30)
        if not batch:
            raise TimeoutError(f"the log stopped at {projection.checkpoint} before {target}")
        if batch[-1].seq < target:
            await replay.prefetch(batch_size)
        await apply_batch(projection, batch, vault)
        if report:
            await report(projection.checkpoint)
    return replay


def rebuild_path(path: Path) -> Path:
    return path.with_name(path.stem + ".rebuild" + path.suffix)


def version_path(path: Path, version: str) -> Path:
    return path.with_name(f"{path.stem}.{version}{path.suffix}")


def wal_of(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def remove_database(path: Path) -> None:
    for leftover in (path, wal_of(path)):
        leftover.unlink(missing_ok=True)


class Projector:
    def __init__(self, nc: NATS, path: Path, config: ProjectorSettings = DEFAULTS) -> None:
        self._nc = nc
        self.path = path
        self.config = config
        self.projection: Projection | None = None
        self._replay: Replay | None = None
        self._task: asyncio.Task[None] | None = None
        self._snapshots: asyncio.Task[None] | None = None
        self._snapshot_seq = -1
        self._applying = asyncio.Lock()  # held while a batch is applied or the file is swapped
        self._rebuilding = asyncio.Lock()
        self.vault = JetStreamVault(nc)
        self.failing: str | None = None  # why the last batch failed, until one succeeds
        self.halted: FoldFailed | None = None  # the fold that stopped the projector, if one did
        self._unrestored = False  # the in-memory views' refill halted: try it again first
        # Versions built side by side (e.g. another contributions window): they follow the log
        # with the live file until one is swapped in, and can be queried meanwhile.
        self.candidates: dict[str, Projection] = {}

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_database(rebuild_path(self.path))  # a rebuild cut short leaves nothing that matters
        for leftover in self.path.parent.glob(f"{self.path.stem}.v-*{self.path.suffix}"):
            remove_database(leftover)  # candidates live as long as the projector; build again
        projection = await asyncio.to_thread(self._open, self.path)
        await self._restore_or_halt(projection)
        if projection.checkpoint == 0 and (last := await stream_last_seq(self._nc)) > 0:
            # A first start over a log (a restored house, say): the catch-up counts the
            # contributions once, at its end, as a rebuild does.
            projection.count_later(until=last)
        self.projection = projection
        self._replay = await Replay(self._nc, self.projection.checkpoint + 1).start()
        self._task = asyncio.create_task(self._run(), name="projector")
        self._snapshots = asyncio.create_task(self._snapshot_now_and_then(), name="snapshots")
        log.info(
            "projector_started", checkpoint=self.projection.checkpoint, database=str(self.path)
        )

    def _open(self, path: Path) -> Projection:
        projection = Projection(path, config=self.config)
        projection.lock_down()  # writes by the projector still work; queries cannot reach files
        return projection

    async def stop(self) -> None:
        for task in (self._task, self._snapshots):
            if task:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._replay:
            await self._replay.stop()
        async with self._applying:
            for candidate in self.candidates.values():
                await asyncio.to_thread(candidate.close)
            self.candidates.clear()
            if self.projection:
                await asyncio.to_thread(self.projection.close)
                self.projection = None

    async def _run(self) -> None:
        assert self._replay is not None
        while True:
            # A refill that halted at the start is tried again before anything new is applied.
            batch = [] if self._unrestored else await self._replay.take(self.config.projector_batch)
            started = time.perf_counter()
            applied = await self._apply_until_done(batch)
            if applied.events:
                log.info(
                    "batch_applied",
                    events=applied.events,
                    dead_letters=applied.dead,
                    last_seq=applied.last_seq,
                    ms=round((time.perf_counter() - started) * 1000, 2),
                )

    async def snapshot(self) -> dict[str, object]:
        """Publish `snapshot.duckdb`: a consistent copy any SQL client can open read-only while
        the house runs. Taken after a CHECKPOINT with no write in flight, then made portable."""
        target = snapshot_path(self.path)
        copy = target.with_name("snapshot.tmp.duckdb")
        remove_database(copy)
        async with self._applying:
            assert self.projection is not None
            projection = self.projection
            await asyncio.to_thread(projection.con.execute, "checkpoint")
            await asyncio.to_thread(shutil.copyfile, self.path, copy)
            seq = projection.checkpoint
        await asyncio.to_thread(make_portable, copy)
        copy.chmod(0o444)
        os.replace(copy, target)
        self._snapshot_seq = seq
        log.info("snapshot_published", seq=seq, path=str(target))
        return {"path": str(target), "seq": seq, "taken_at": datetime.now(UTC).isoformat()}

    async def _snapshot_now_and_then(self) -> None:
        while True:
            await asyncio.sleep(self.config.snapshot_s)
            if self.projection is not None and self.projection.checkpoint != self._snapshot_seq:
                try:
                    await self.snapshot()
                except Exception as exc:  # a missed snapshot is retried next time
                    log.warning("snapshot_failed", error=applying_failed(exc))

    async def _apply_until_done(self, batch: list[Recorded]) -> Applied:
        """Apply one batch, retrying the same batch after a passing fault (a slow vault, a full
        disk) or a fold that raised: nothing is skipped, and nothing moves on until it is in."""
        delay = min(0.5, RETRY_MAX_S)
        while True:
            try:
                async with self._applying:
                    assert self.projection is not None
                    if self._unrestored:
                        await self._restore(self.projection)
                    applied = await apply_batch(self.projection, batch, self.vault)
                    for candidate in self.candidates.values():
                        await apply_batch(candidate, batch, self.vault)
                self._resumed()
                return applied
            except asyncio.CancelledError:
                raise
            except FoldFailed as failed:
                self._halt(failed, delay, self.projection)
            except Exception as exc:
                # `crew status` shows it: the type and the place, never the message, which
                # may quote a value from an event (a name opened with a person's key).
                self.failing = applying_failed(exc)
                log.error(
                    "batch_failed_retrying",
                    error=type(exc).__name__,
                    events=len(batch),
                    retry_in_s=delay,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)

    def _halt(self, failed: FoldFailed, retry_in_s: float, projection: Projection | None) -> None:
        """Say once (and again if the cause changes) that a fold stopped the projector: an
        alert, since the views stand still until the view is fixed."""
        if self.halted is None or failed.reason != self.halted.reason:
            log.error(
                "projector_halted",
                seq=failed.seq,
                type=failed.type,
                view=failed.view,
                error=type(failed.error).__name__,
                at=places(failed.error),
                checkpoint=projection.checkpoint if projection else None,
                retry_in_s=retry_in_s,
            )
        self.halted = failed
        self.failing = f"{failed.reason}; retrying every {RETRY_MAX_S:g} s at most"

    def _resumed(self) -> None:
        if self.halted is not None:
            log.warning("projector_resumed", seq=self.halted.seq, view=self.halted.view)
        self.halted = None
        self.failing = None

    async def _restore(self, projection: Projection) -> None:
        """Refill the in-memory views up to the file's checkpoint (raises FoldFailed)."""
        restored = await restore_in_memory(self._nc, projection, self.vault)
        self._unrestored = False
        log.info("in_memory_views_restored", events=restored)

    async def _restore_or_halt(self, projection: Projection) -> None:
        """Refill the in-memory views; if a fold raises, the projector is halted and `_run`
        tries again (from where it stopped) before it applies anything new."""
        try:
            await self._restore(projection)
        except FoldFailed as failed:
            self._unrestored = True
            self._halt(failed, min(0.5, RETRY_MAX_S), projection)

    async def rebuild(
        self,
        progress: Callable[[RebuildProgress], Awaitable[None]] | None = None,
        version: str | None = None,
        window_months: int | None = None,
    ) -> RebuildProgress:
        """Rebuild every view from sequence 1 into a new file, then swap it in.

        Queries keep being answered from the old file until the swap, which takes only the time
        to catch the new file up with the live one and rename it."""
        async with self._rebuilding:
            started = time.perf_counter()
            target = await stream_last_seq(self._nc)
            fresh_path = (
                version_path(self.path, f"v-{version}") if version else rebuild_path(self.path)
            )
            remove_database(fresh_path)
            assert self.projection is not None
            months = window_months if window_months is not None else self.projection.window_months
            fresh = await asyncio.to_thread(self._fresh, fresh_path, months, bool(version))
            fresh.count_later(until=target)  # the catch-up after it counts batch by batch
            last_report = 0.0

            async def report(applied: int, done: bool = False) -> None:
                nonlocal last_report
                now = time.perf_counter()
                if progress and (done or now - last_report >= 0.5):
                    last_report = now
                    rate = applied / max(now - started, 1e-9)
                    await progress(
                        RebuildProgress(applied, target, round(rate), done, now - started)
                    )

            size = self.config.projector_rebuild_batch  # its own: more memory for fewer commits
            replay = await replay_into(self._nc, fresh, target, self.vault, report, batch_size=size)
            try:
                async with self._applying:
                    assert self.projection is not None
                    await replay_into(
                        self._nc,
                        fresh,
                        self.projection.checkpoint,
                        self.vault,
                        replay=replay,
                        batch_size=self.config.projector_batch,  # the live tail, as live
                    )
                    if version:  # side by side: it follows the log from here, and answers queries
                        fresh.lock_down()
                        if old := self.candidates.pop(version, None):
                            await asyncio.to_thread(old.close)
                        self.candidates[version] = fresh
                        return await self._report(started, target, fresh, progress, swapped=False)
                    await self._replace_live(fresh)
            finally:
                await replay.stop()
            return await self._report(started, target, fresh, progress, swapped=True)

    def _fresh(self, path: Path, window_months: int, beside: bool) -> Projection:
        """A rebuild's new file. Swapped in, it is opened again and its in-memory views
        refilled then; a version side by side answers queries as it is, names and all, so only
        that one folds them as it goes."""
        return Projection(
            path, VIEWS, 2, window_months, self.config, in_memory=beside, rebuilding=True
        )

    @staticmethod
    async def _report(
        started: float,
        target: int,
        fresh: Projection,
        progress: Callable[[RebuildProgress], Awaitable[None]] | None,
        swapped: bool,
    ) -> RebuildProgress:
        seconds = round(time.perf_counter() - started, 3)
        result = RebuildProgress(
            fresh.checkpoint, target, round(fresh.checkpoint / max(seconds, 1e-9)), True, seconds
        )
        log.info("rebuild_done", events=fresh.checkpoint, seconds=seconds, swapped=swapped)
        if progress:
            await progress(result)
        return result

    async def _replace_live(self, fresh: Projection) -> None:
        """Swap `fresh` in for the live file. Both are closed cleanly first, so neither has a
        WAL left (one could only be stale). The swap itself is one rename: a crash leaves the
        old file or the new one, never no file. Whatever happens, a locked-down file serves."""
        assert self.projection is not None
        await asyncio.to_thread(fresh.close)
        await asyncio.to_thread(self.projection.close)
        self.projection = None
        try:
            wal_of(self.path).unlink(missing_ok=True)
            os.replace(fresh.path, self.path)
        finally:
            self.projection = await self._open_restored()

    async def _open_restored(self) -> Projection:
        """The live file, opened and with its in-memory views (names, restricted details)
        refilled before any query can see it."""
        projection = await asyncio.to_thread(self._open, self.path)
        await self._restore_or_halt(projection)
        return projection

    async def swap(self, version: str) -> dict[str, object]:
        """Make a version built side by side the live one. Queries were answered by the old file
        until now; the old version is discarded."""
        async with self._applying:
            candidate = self.candidates.pop(version, None)
            if candidate is None:
                raise KeyError(
                    f"no version {version!r} was built (crew rebuild --version {version})"
                )
            await self._replace_live(candidate)
            assert self.projection is not None
            log.info("version_swapped_in", version=version)
            return {"version": version, "window_months": self.projection.window_months}
