"""Talking to a running house over NATS: commands, SQL, status, the log, rebuilds."""

from __future__ import annotations

import asyncio
import getpass
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
import nats
import nats.errors
from nats.aio.client import Client as NATS

from crew import subjects, urls
from crew.eventstore import Recorded
from crew.shell import too_big
from schemas.common import StatusReply

if TYPE_CHECKING:
    from crew.sql import NamedQuery, Param, SqlReply, SqlRequest, SqlResult

R = TypeVar("R", bound=msgspec.Struct)


class NoService(RuntimeError):
    pass


def coordinator() -> str:
    """Who a coordinator at this terminal acts as, by default: coordinator:<login>."""
    try:
        return f"coordinator:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name known (e.g. a container without one)
        return "coordinator:cli"


async def connect(url: str, name: str = "crew-cli") -> NATS:
    try:
        return await nats.connect(
            **urls.connection(url), name=name, connect_timeout=3, max_reconnect_attempts=1
        )
    except (OSError, nats.errors.NoServersError) as exc:
        raise NoService(f"cannot reach NATS at {url}: is the house up? (crew up)") from exc


def new_command_id() -> str:
    return uuid.uuid4().hex


async def send(
    nc: NATS,
    command: str,
    body: bytes,
    *,
    command_id: str | None = None,
    actor: str = "cli",
    source: str = "cli",
    timeout: float = 10.0,
) -> bytes:
    """`command` is `<context>.<command>`; returns the reply JSON as it came."""
    context, _, name = command.partition(".")
    if not context or not name or "." in name:
        raise NoService(
            f"name a command as <context>.<command>, e.g. meals.plan_meal (got {command!r})"
        )
    headers = {
        subjects.COMMAND_ID: command_id or new_command_id(),
        subjects.ACTOR: actor,
        subjects.SOURCE: source,
    }
    try:
        reply = await nc.request(
            subjects.command_subject(context, name), body, headers=headers, timeout=timeout
        )
    except nats.errors.NoRespondersError:
        raise NoService(
            f"no {context} service answers (unknown context, or is it down? crew status)"
        ) from None
    except nats.errors.TimeoutError:
        raise NoService(f"the {context} service did not answer within {timeout:g} s") from None
    except nats.errors.MaxPayloadError:  # NATS itself will not carry it: answer as the shell would
        return msgspec.json.encode(too_big(len(body)))
    return bytes(reply.data)


async def request_json(nc: NATS, subject: str, payload: Any, timeout: float, what: str) -> bytes:
    try:
        reply = await nc.request(subject, msgspec.json.encode(payload), timeout=timeout)
    except nats.errors.NoRespondersError:
        raise NoService(f"no {what} answers; is the house up? (crew status)") from None
    except nats.errors.TimeoutError:
        raise NoService(f"the {what} did not answer within {timeout:g} s") from None
    return bytes(reply.data)


async def sql(
    nc: NATS, request: SqlRequest, *, restricted: bool = False, timeout: float = 120.0
) -> SqlReply:
    """The query service's answer to one read-only query: rows, or why not."""
    from crew.sql import answer_decoder

    subject = subjects.QUERY_RESTRICTED_SQL if restricted else subjects.QUERY_SQL
    raw = await request_json(nc, subject, request, timeout, "query service")
    return answer_decoder.decode(raw)


async def sql_rows(nc: NATS, query: str, timeout: float = 60.0) -> SqlResult:
    """The rows of a query the CLI itself asks; a refusal is raised as NoService."""
    from crew.sql import SqlError, SqlRequest

    reply = await sql(nc, SqlRequest(sql=query), timeout=timeout)
    if isinstance(reply, SqlError):
        raise NoService(f"the query service said: {reply.message}")
    return reply


async def rows_of(nc: NATS, query: NamedQuery[R], *values: Param, timeout: float = 60.0) -> list[R]:
    """The typed rows of a named query (projections/queries.py), its values bound; a refusal is
    raised as NoService."""
    from crew.sql import SqlError

    reply = await sql(nc, query.ask(*values), timeout=timeout)
    if isinstance(reply, SqlError):
        raise NoService(f"the query service said: {reply.message}")
    return query.rows(reply)


async def status(nc: NATS, wait: float = 0.7) -> list[StatusReply]:
    """Every component that answers on crew.status within `wait` seconds."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await nc.publish(subjects.STATUS, b"", reply=inbox)
    answers: list[StatusReply] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while (left := deadline - loop.time()) > 0:
        try:
            msg = await sub.next_msg(timeout=left)
        except nats.errors.TimeoutError:
            break
        if msg.headers and msg.headers.get("Status"):  # 503: nobody subscribed (yet)
            continue
        try:
            answers.append(msgspec.json.decode(msg.data, type=StatusReply))
        except msgspec.MsgspecError:
            continue
    await sub.unsubscribe()
    return answers


async def wait_for_components(url: str, expected: list[str], timeout: float) -> list[str]:
    """Wait until every expected component answers; returns those that never did."""
    nc = await connect(url, name="crew-up-wait")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    missing = list(expected)
    try:
        while missing and loop.time() < deadline:
            seen = {a.component for a in await status(nc, wait=0.3)}
            missing = [name for name in expected if name not in seen]
    finally:
        await nc.close()
    return missing


async def events(nc: NATS, since: int = 1, follow: bool = False) -> AsyncIterator[Recorded]:
    """The log from `since`, in order; stops at the end unless `follow`."""
    from crew.replay import Replay  # the same reader the projector uses

    info = await nc.jetstream().stream_info(subjects.STREAM)
    last = int(info.state.last_seq)
    if not follow and last < since:
        return
    replay = await Replay(nc, since).start()
    try:
        while True:
            for record in await replay.take(1000):
                yield record
                if not follow and record.seq >= last:
                    return
    finally:
        await replay.stop()


async def rebuild(
    nc: NATS,
    progress: Callable[[dict[str, Any]], Awaitable[None]],
    request: dict[str, Any] | None = None,
    timeout: float = 3600,
) -> dict[str, Any]:
    """Ask the projector to rebuild; it answers on our inbox with progress (marked with the
    `Crew-Progress` header), then with the result."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        await nc.publish(
            subjects.PROJECTOR_REBUILD, msgspec.json.encode(request or {}), reply=inbox
        )
        while True:
            try:
                msg = await sub.next_msg(timeout=max(deadline - loop.time(), 0.001))
            except nats.errors.TimeoutError:
                raise NoService("the projector did not finish the rebuild in time") from None
            headers = msg.headers or {}
            if headers.get("Status") == "503":
                raise NoService("no projector answers; is the house up? (crew status)")
            if headers.get(subjects.PROGRESS):
                await progress(msgspec.json.decode(msg.data))
                continue
            break
    finally:
        await sub.unsubscribe()
    result: dict[str, Any] = msgspec.json.decode(msg.data)
    if "error" in result:
        raise NoService(result["error"])
    return result
