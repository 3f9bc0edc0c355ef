"""`crew up`'s supervisor, on a clock of its own: a crash loop's back-off holds up neither another
component's restart nor Ctrl-C."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats.errors

from house.runner import Component, House


class Clock:
    """Time that passes only when the test says so; sleepers wake in order."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        woken = asyncio.get_running_loop().create_future()
        self.sleepers.append((self.now + seconds, woken))
        await woken

    async def advance_to(self, until: float) -> None:
        while True:
            for _ in range(5):  # let whoever was woken run up to its next sleep
                await asyncio.sleep(0)
            waiting = [s for s in self.sleepers if not s[1].done()]
            self.sleepers = waiting
            due = min(waiting, key=lambda s: s[0], default=None)
            if due is None or due[0] > until:
                break
            self.now = max(self.now, due[0])
            due[1].set_result(None)
        self.now = until


class Process:
    def __init__(self, returncode: int | None) -> None:
        self.returncode = returncode

    def poll(self) -> int | None:
        return self.returncode


class Supervised(House):
    """Two components that are only pretended: meals dies as soon as it starts, rota runs."""

    def __init__(self, clock: Clock) -> None:
        self.said: list[str] = []
        super().__init__(
            Path("unused"), 0, 0, False, say=self.said.append, clock=clock, sleep=clock.sleep
        )
        self.components = [Component("meals", "m", ()), Component("rota", "r", ())]
        self.started: list[tuple[str, float]] = []

    def _spawn(self, component: Component) -> None:
        component.process = Process(1 if component.name == "meals" else None)  # type: ignore[assignment]
        component.started_at = self._clock()
        self.started.append((component.name, self._clock()))

    def starts_of(self, name: str) -> list[float]:
        return [at for who, at in self.started if who == name]


async def test_a_crash_loop_backs_off_alone_and_ctrl_c_does_not_wait_for_it() -> None:
    clock = Clock()
    house = Supervised(clock)
    rota = house.components[1]
    for component in house.components:
        house._spawn(component)
    supervising = asyncio.create_task(house._supervise())

    await clock.advance_to(40)
    # found dead within a poll, then back after 2, 4, 8 and 16 s; now waiting 30 s more
    assert house.starts_of("meals") == [0, 2.5, 7, 15.5, 32], house.said

    assert rota.process is not None
    rota.process.returncode = 1  # type: ignore[misc]  # it ran a while: back at once
    await clock.advance_to(41)
    assert house.starts_of("rota") == [0, 40.5], "not held up by meals' back-off"
    assert house.starts_of("meals")[-1] == 32

    house._stopping.set()  # Ctrl-C, in the middle of meals' back-off
    await asyncio.wait_for(supervising, timeout=5)  # at once: the clock did not move
    assert clock.now == 41 and house.starts_of("meals")[-1] == 32


class Server:
    """A nats-server that is only pretended: it has stopped."""

    name = "n1"

    def __init__(self) -> None:
        self.process = Process(0)
        self.starts = 0

    def start(self) -> None:
        self.starts += 1


async def test_what_stops_with_the_house_is_not_started_again() -> None:
    """A signal to the process group reaches crew up and its components at once: a watch that
    finds one of them gone after that must not start it again (it would outlive the house)."""
    clock = Clock()
    house = Supervised(clock)
    rota = house.components[1]
    for component in house.components:
        house._spawn(component)
    server = Server()
    house.servers = [server]  # type: ignore[list-item]
    watches = [
        asyncio.create_task(house._keep_running(rota)),
        asyncio.create_task(house._keep_nats_running()),
    ]
    house._stopping.set()  # the signal reached crew up...
    assert rota.process is not None
    rota.process.returncode = 0  # type: ignore[misc]  # ...and rota, which stopped
    await clock.advance_to(10)
    assert house.starts_of("rota") == [0] and server.starts == 0, house.said
    assert all(watch.done() for watch in watches)


async def test_what_nats_py_reports_to_crew_up_is_a_line_and_nothing_once_stopping() -> None:
    """nats-py's default error callback prints a traceback: on Ctrl-C, nats-server goes with the
    group and crew up's own watch could not be made again (ConnectionClosedError)."""
    house = Supervised(Clock())
    await house._nats_trouble(nats.errors.ConnectionClosedError())
    await house._nats_trouble(nats.errors.SlowConsumerError("s", None, 1, None))
    house._stopping.set()
    await house._nats_trouble(nats.errors.SlowConsumerError("s", None, 1, None))
    assert house.said == ["NATS reported SlowConsumerError to crew up; it goes on"]
