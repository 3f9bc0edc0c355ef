"""The projector process: the projector (only writer) and the query service on its instance."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import duckdb
import msgspec
import nats
import structlog
from faststream import FastStream
from faststream.nats import NatsMessage

from crew import heap, logs, settings, subjects, urls
from crew.eventstore import ensure_event_store
from crew.service import close_quickly, raw_broker, status_responder
from crew.shell import where, without_values
from projections.projector import Projector, RebuildProgress, RebuildRequest
from projections.query import OUT_OF_MEMORY, SqlError, SqlReply, SqlRequest, encode_reply, run_query

log = structlog.get_logger("crew.projections")
sql_decoder = msgspec.json.Decoder(SqlRequest)
# The projector and the query service share one process (the query service reads the
# projector's instance). DuckDB's memory_limit bounds its buffer pool only: a string, such as
# repeat('x', 1500000000), is allocated outside it (2.9 GB measured). A cap on the process's data
# segment (RLIMIT_DATA: heap and private writable mappings, thread stacks included) makes such
# an allocation fail inside DuckDB, which answers the asker "out of memory" and goes on; the
# projector goes on folding. Figures in docs/performance.md. CREW_PROJECTOR_MEMORY_CAP_MB=0
# switches the cap off.
SWAP_WAIT_S = 30.0  # a swap closes the old file and opens the new one: a moment, not longer
T = TypeVar("T")


def serving(current: Callable[[], T | None], wait_s: float = SWAP_WAIT_S) -> T:
    """What answers queries now. While a rebuilt file is being swapped in there is none for a
    moment: wait for the new one rather than fail the query. Blocking: call from a worker thread."""
    deadline = time.monotonic() + wait_s
    while (found := current()) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the views are being swapped for more than {wait_s:g} s")
        time.sleep(0.02)
    return found


class Turns:
    """Queries run side by side and share DuckDB's memory limit; one that ran out of it while
    others ran is asked again alone: new queries wait until it is answered, and it waits until
    those running are done. Only a query too big on its own is answered "out of memory"."""

    def __init__(self) -> None:
        self._running = 0
        self._alone = False
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def side_by_side(self) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: not self._alone)
            self._running += 1
        try:
            yield
        finally:
            async with self._changed:
                self._running -= 1
                self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def alone(self) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: not self._alone)
            self._alone = True
            await self._changed.wait_for(lambda: self._running == 0)
        try:
            yield
        finally:
            async with self._changed:
                self._alone = False
                self._changed.notify_all()


def out_of_memory(reply: SqlReply) -> bool:
    return isinstance(reply, SqlError) and reply.message.startswith(OUT_OF_MEMORY)


class Running:
    """The process's running parts, once started: the projector and its NATS connection."""

    def __init__(self, config: settings.Settings) -> None:
        self.config = config
        self.tuning = config.projector
        self.projector: Projector | None = None
        self.nc: Any = None
        self.turns = Turns()

    def live(self) -> Any:
        return serving(lambda: self.projector.projection if self.projector else None).con

    def restricted(self) -> Any:
        return serving(lambda: self.projector.projection if self.projector else None).restricted

    def version(self, version: str) -> Any:
        candidate = self.projector.candidates.get(version) if self.projector else None
        if candidate is None:
            raise RuntimeError(
                f"no version {version!r} is built (crew rebuild --version {version})"
            )
        return candidate.con

    async def start(self) -> None:
        nc = await nats.connect(
            **urls.connection(self.config.nats_url), name="crew-projector-replay"
        )
        await ensure_event_store(nc)
        projector = Projector(nc, self.config.database, self.tuning)
        await projector.start()
        self.nc, self.projector = nc, projector

    async def stop(self) -> None:
        if self.projector is not None:
            await self.projector.stop()
        if self.nc is not None:
            await close_quickly(self.nc)


async def answer(body: bytes, connection: Callable[[], Any], path: str, running: Running) -> bytes:
    """One SQL request, answered from `connection` (the everyday views, or the restricted ones):
    rows, or an error that says what went wrong; never a hang."""
    try:
        request = sql_decoder.decode(body)
    except msgspec.MsgspecError as exc:
        return encode_reply(SqlError(message=f"bad request: {exc}"))
    except RecursionError:  # raised, it left the asker waiting for a timeout
        return encode_reply(SqlError(message="bad request: nested too deeply"))
    if request.version and path == "everyday":
        version = request.version
        connection = lambda: running.version(version)  # noqa: E731
    tuning = running.tuning

    def ask() -> SqlReply:
        return run_query(connection, request, tuning.query_timeout_s, tuning.query_answer_bytes)

    for attempt in range(2):
        try:
            async with running.turns.side_by_side():
                reply = await asyncio.to_thread(ask)
            if out_of_memory(reply):  # others may have held the memory: once more, alone
                async with running.turns.alone():
                    reply = await asyncio.to_thread(ask)
        except duckdb.ConnectionException as exc:  # a swap closed the file under the query
            if attempt == 0:
                continue  # ask the new file, once (serving() waits for it)
            reply = SqlError(message=f"the views were swapped under the query ({exc}); retry")
        except Exception as exc:  # say so, do not hang
            reply = SqlError(message=f"{exc}; please retry")
        break
    log.info("query_answered", path=path, status=type(reply).__name__, sql_bytes=len(request.sql))
    return encode_reply(reply)


async def rebuild(broker: Any, msg: NatsMessage, projector: Projector | None) -> bytes:
    """A rebuild (or a swap) asked for by `crew rebuild`.

    Progress goes out as responses to the request itself, on the connection that got it: the
    projector's NATS user may answer a request (a bounded number of times), but may not publish
    into anyone's inbox. The last answer, the result, is kept free."""
    left = subjects.REBUILD_ANSWERS - 1

    async def progress(update: RebuildProgress) -> None:
        nonlocal left
        if msg.reply_to and left > 0:
            left -= 1
            await broker.publish(
                msgspec.json.encode(update), msg.reply_to, headers={subjects.PROGRESS: "1"}
            )

    try:
        if projector is None:
            raise RuntimeError("the projector has not started yet")
        ask = msgspec.json.decode(msg.body or b"{}", type=RebuildRequest)
        if ask.swap:
            return msgspec.json.encode(await projector.swap(ask.swap))
        result = await projector.rebuild(progress, ask.version, ask.window_months)
    except Exception as exc:  # never leave `crew rebuild` waiting
        log.error("rebuild_failed", error=type(exc).__name__, at=where(exc))
        return msgspec.json.encode(
            {"error": f"the rebuild failed: {type(exc).__name__}: {without_values(str(exc))}"}
        )
    return msgspec.json.encode(result)


async def snapshot(projector: Projector | None) -> bytes:
    try:
        if projector is None:
            raise RuntimeError("the projector has not started yet")
        return msgspec.json.encode(await projector.snapshot())
    except Exception as exc:
        log.error("snapshot_failed", error=type(exc).__name__, at=where(exc))
        return msgspec.json.encode({"error": f"the snapshot failed: {type(exc).__name__}"})


def build_app(config: settings.Settings) -> FastStream:
    broker = raw_broker(config.nats_url, "crew-projector")
    # The query service shares the projector's DuckDB instance, so it lives in this process,
    # but it talks to NATS as its own user: it can answer SQL and nothing else.
    queries = raw_broker(config.query_nats_url or config.nats_url, "crew-query")
    running = Running(config)

    @queries.subscriber(subjects.QUERY_SQL, queue="query", max_workers=4)
    async def on_sql(msg: NatsMessage) -> bytes:
        return await answer(msg.body, running.live, "everyday", running)

    @queries.subscriber(subjects.QUERY_RESTRICTED_SQL, queue="query", max_workers=2)
    async def on_restricted_sql(msg: NatsMessage) -> bytes:
        """Contact details and conversation notes: a separate in-memory instance. Of the NATS
        users `crew up` makes, only coordinators may ask it (house/auth.py)."""
        return await answer(msg.body, running.restricted, "restricted", running)

    @broker.subscriber(subjects.PROJECTOR_REBUILD, queue="projector")
    async def on_rebuild(msg: NatsMessage) -> bytes:
        return await rebuild(broker, msg, running.projector)

    @broker.subscriber(subjects.PROJECTOR_SNAPSHOT, queue="projector")
    async def on_snapshot(msg: NatsMessage) -> bytes:
        return await snapshot(running.projector)

    status_responder(broker, "projector", lambda: p.failing if (p := running.projector) else None)
    status_responder(queries, "query")
    app = FastStream(broker, logger=None)

    @app.on_startup
    async def start_projector() -> None:
        await running.start()
        await queries.start()

    @app.on_shutdown
    async def stop_projector() -> None:
        await queries.stop()
        await running.stop()

    return app


def cap_memory(megabytes: int) -> None:
    """Cap this process's data segment (never above a hard limit set from outside)."""
    if megabytes <= 0:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    cap = megabytes * 2**20
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (cap, hard))


def run() -> None:
    config = settings.load()
    logs.configure("projector", config.log_format)
    cap_memory(config.projector.projector_memory_cap_mb)
    log.info("memory_capped", data_mb=config.projector.projector_memory_cap_mb)
    app = build_app(config)
    app.after_startup(heap.freeze_startup)  # the process's own choice: not in-process tests
    asyncio.run(app.run())
