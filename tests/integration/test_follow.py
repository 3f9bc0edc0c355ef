"""The followers' loop (crew/follow.py) on a real nats-server: its position in CREW_FOLLOWERS,
the lease between instances, and the move off the durable consumers of older houses."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import msgspec
import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from crew import follow, subjects, urls
from crew.eventstore import JetStreamEventStore, Recorded, ensure_event_store
from crew.follow import Follower, Position, follow_in_order
from crew.shell import CommandMeta, CommandShell
from house import auth
from house.natsserver import NatsServer
from house.runner import prepare
from schemas import rota as r
from schemas.common import Accepted, Reply
from services.meals import follows_rota
from services.meals.decider import MEALS
from tests.polling import eventually_async
from tests.ports import free_port

FOLLOWER = Follower("meals-follows-rota", "a test follower", ["crew.evt.rota.*.wanted"])


async def append(nc: NATS, n: int, kind: str = "wanted") -> list[int]:
    js = nc.jetstream()
    return [(await js.publish(f"crew.evt.rota.o{i}.{kind}", b"{}")).seq for i in range(n)]


async def position(nc: NATS, key: str = FOLLOWER.name) -> Position:
    entry = await (await nc.jetstream().key_value(follow.BUCKET)).get(key)
    assert entry.value is not None
    return msgspec.json.decode(entry.value, type=Position)


@contextlib.asynccontextmanager
async def following(
    nc: NATS, seen: list[int], instance: str = follow.INSTANCE
) -> AsyncIterator[asyncio.Task[None]]:
    async def react(event: Recorded, attempt: int) -> bool:
        seen.append(event.seq)
        return True

    task = asyncio.create_task(follow_in_order(nc, FOLLOWER, react, instance))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(check: Callable[[], bool], timeout: float = 10) -> None:
    await eventually_async(check, seconds=timeout, every=0.05)


# Until the follower has made its key (and the bucket), there is no position to read yet.
NO_POSITION_YET = (nats.js.errors.BucketNotFoundError, nats.js.errors.KeyNotFoundError)


async def revision(nc: NATS, key: str = FOLLOWER.name) -> int:
    entry = await (await nc.jetstream().key_value(follow.BUCKET)).get(key)
    return int(entry.revision or 0)


async def test_a_follower_goes_on_after_its_position_and_only_with_its_filter(nc: NATS) -> None:
    wanted = await append(nc, 3)
    await append(nc, 2, kind="other")
    seen: list[int] = []
    async with following(nc, seen):
        await until(lambda: len(seen) == 3)
    assert seen == wanted
    assert await position(nc) == Position(seq=wanted[-1], holder=""), "freed when stopped"
    more = await append(nc, 2)
    async with following(nc, seen):
        await until(lambda: len(seen) == 5)
        # once the position is past the last event, each one was handled before it moved on
        await eventually_async(lambda: position(nc), until=lambda p: p.seq == more[-1])
    assert seen == wanted + more, "nothing handled twice, nothing skipped"


async def test_an_event_the_reactor_cannot_handle_yet_is_tried_again_before_the_next(
    nc: NATS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(follow, "RETRY_S", 0.05)
    wanted = await append(nc, 2)
    tries: list[tuple[int, int]] = []

    async def react(event: Recorded, attempt: int) -> bool:
        tries.append((event.seq, attempt))
        return attempt >= 3 or event.seq != wanted[0]

    task = asyncio.create_task(follow_in_order(nc, FOLLOWER, react))
    await until(lambda: len(tries) == 4)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert tries == [(wanted[0], 1), (wanted[0], 2), (wanted[0], 3), (wanted[1], 1)]


async def test_two_instances_one_follows_and_the_other_takes_over_when_it_is_gone(
    nc: NATS, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As with the durable the instances shared: one handles the events, one at a time."""
    monkeypatch.setattr(follow, "RENEW_S", 0.2)
    monkeypatch.setattr(follow, "LEASE_S", 1.0)
    first = await append(nc, 3)
    one: list[int] = []
    two: list[int] = []
    async with following(nc, one, "one"):
        await until(lambda: len(one) == 3)
        async with following(nc, two, "two"):
            # one renews its lease meanwhile, more often than two would wait for it: two waits
            renewals = int(follow.LEASE_S / follow.RENEW_S) + 2
            since = await revision(nc)
            await eventually_async(lambda: revision(nc), until=lambda r: r >= since + renewals)
            assert two == []
            assert (await position(nc)).holder == "one"

        async def crashed(self: follow.Lease) -> None:
            return None  # one is killed: it frees nothing

        monkeypatch.setattr(follow.Lease, "release", crashed)
    assert (await position(nc)).holder == "one"
    second = await append(nc, 2)
    async with following(nc, two, "two"):
        await until(lambda: len(two) == 2, timeout=5)  # once one's lease ran out
        assert (await position(nc)).holder == "two"
    assert one == first
    assert two == second, "two goes on from one's position: nothing twice, nothing skipped"


async def test_an_instance_whose_key_was_taken_over_stops_handling(
    nc: NATS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(follow, "RENEW_S", 0.2)
    seen: list[int] = []
    lost = asyncio.Event()
    real_warning = follow.log.warning

    def warning(event: str, **fields: object) -> None:
        if event == "follower_lease_lost":
            lost.set()
        real_warning(event, **fields)

    monkeypatch.setattr(follow.log, "warning", warning)
    async with following(nc, seen, "one"):
        await eventually_async(
            lambda: position(nc), until=lambda p: p.holder == "one", ignoring=NO_POSITION_YET
        )
        kv = await nc.jetstream().key_value(follow.BUCKET)
        entry = await kv.get(FOLLOWER.name)
        await kv.update(FOLLOWER.name, b'{"seq":0,"holder":"two"}', last=entry.revision)
        await asyncio.wait_for(lost.wait(), 10)  # one's renewal fails: it stops, waits for the key
        await append(nc, 2)
        await asyncio.sleep(follow.RENEW_S * 3)  # time enough to handle them, were it following
        assert seen == [], "the instance that lost the key handles nothing"
        assert (await position(nc)).holder == "two"


async def test_a_house_with_the_old_durable_goes_on_from_its_ack_floor_and_deletes_it(
    tmp_path: Path,
) -> None:
    """The meals user of a `crew up` moves its own follower off the durable (its rights)."""
    passwords = auth.passwords()
    server = NatsServer(tmp_path, free_port(), authorization=auth.authorization_block(passwords))
    server.start()
    try:
        house = await nats.connect(server.url, user="house", password=passwords["house"])
        await prepare(house)
        js = house.jetstream()
        wanted = await append(house, 5)
        old = ConsumerConfig(
            durable_name=FOLLOWER.name,
            filter_subjects=FOLLOWER.filter_subjects,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            max_ack_pending=1,
        )
        await js.add_consumer(subjects.STREAM, old)
        sub = await js.pull_subscribe_bind(durable=FOLLOWER.name, stream=subjects.STREAM)
        for _ in range(3):  # the old follower handled three events
            for msg in await sub.fetch(1, timeout=5):
                await msg.ack_sync()
        await sub.unsubscribe()

        meals = await nats.connect(
            server.url,
            user="meals",
            password=passwords["meals"],
            inbox_prefix=urls.inbox_prefix_of("meals"),
        )
        seen: list[int] = []
        async with following(meals, seen):
            await until(lambda: len(seen) == 2)
        assert seen == wanted[3:], "from the durable's ack floor on"
        assert await position(house) == Position(seq=wanted[-1], holder="")
        with pytest.raises(nats.js.errors.NotFoundError):
            await js.consumer_info(subjects.STREAM, FOLLOWER.name)
        await meals.close()
        await house.close()
    finally:
        server.stop()


async def test_a_position_past_the_end_of_the_log_starts_at_its_end(nc: NATS) -> None:
    """A house restored from a backup whose positions were saved after its log."""
    kv = await follow.bucket(nc)
    await kv.put(FOLLOWER.name, msgspec.json.encode(Position(seq=1000)))
    await append(nc, 2, kind="other")
    seen: list[int] = []
    async with following(nc, seen):
        # the follower has started, at the log's end: the next event is one for it
        await eventually_async(
            lambda: position(nc),
            until=lambda p: p.seq == 2 and p.holder != "",
            ignoring=NO_POSITION_YET,
        )
        new = await append(nc, 1)
        await until(lambda: len(seen) == 1)
    assert seen == new


def recording(shell: CommandShell[object]) -> list[Reply]:
    """The replies the shell gives, in order."""
    original, answers = shell.execute, []

    async def execute(command: msgspec.Struct, meta: CommandMeta) -> Reply:
        answers.append(await original(command, meta))
        return answers[-1]

    shell.execute = execute  # type: ignore[method-assign]
    return answers


async def test_a_rota_event_handled_again_after_a_crash_changes_nothing_in_meals(
    nc: NATS,
) -> None:
    """A crash between handling an event and writing the position handles it again, in a new
    process (an empty cache): the command id comes from the event's sequence, so meals answers
    as the first time and appends nothing, from the events (their causation is the command
    id; an accepted command keeps nothing in the outcomes bucket)."""
    day = r.OccurrenceScheduled(
        series_id="dinners", occurrence_id="dinners-20300107", kind="meal", title="Dinner",
        date=datetime.date(2030, 1, 7), start="18:00", end="20:00",
    )  # fmt: skip
    ack = await nc.jetstream().publish(
        "crew.evt.rota.dinners-20300107.occurrence_scheduled", msgspec.json.encode(day)
    )
    subject = "crew.evt.rota.dinners-20300107.occurrence_scheduled"
    headers = {subjects.EVENT_TYPE: "rota.occurrence_scheduled"}  # as the log gives it
    event = Recorded(ack.seq, subject, msgspec.json.encode(day), headers)
    replies = []
    for _ in range(2):
        shell = CommandShell(MEALS, JetStreamEventStore(nc))
        answers = recording(shell)
        assert await follows_rota._react(event, 1, shell, nc)
        assert await shell.store.outcome(f"rota-{ack.seq}") is None
        replies.append(answers)
    last = (await nc.jetstream().stream_info(subjects.STREAM)).state.last_seq
    assert last == ack.seq + 1, "one meal planned, once"
    assert replies[0] == replies[1] and isinstance(replies[0][0], Accepted)


async def test_a_follower_goes_on_from_its_position_after_nats_restarts(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    """Its consumer lives in the server's memory and is gone after a restart: the follower
    makes a new one from the next event it has not handled."""
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    await ensure_event_store(nc)
    first = await append(nc, 2)
    seen: list[int] = []
    async with following(nc, seen):
        await until(lambda: len(seen) == 2)
        nats_server.kill()
        nats_server.start()
        await until(lambda: nc.is_connected, timeout=20)
        await eventually_async(  # JetStream takes a moment to come back
            lambda: nc.jetstream(timeout=1).stream_info(subjects.STREAM),
            ignoring=(nats.errors.Error,),
            every=0.2,
        )
        second = await append(nc, 2)
        await until(lambda: len(seen) == 4, timeout=30)
    assert seen == first + second
    await nc.close()
