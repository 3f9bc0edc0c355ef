"""`crew up`: the whole house on this machine, supervised, stopped cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nats
import nats.errors
import nats.js.errors

from crew import follow, links, urls
from crew.eventstore import ensure_event_store
from crew.personal import FORGOTTEN_MARKER, KEYS_BUCKET
from crew.settings import HOUSE_FILE
from crew.urls import url_variable
from house import auth, client
from house.backup import (
    LEDGER,
    BackupError,
    apply_forgotten,
    keep_forgotten,
    ledger_beside,
    read_ledger,
    restore,
)
from house.natsserver import NatsServer, free_port, nodes
from schemas.common import Accepted, Reply, Unavailable, reply_decoder
from services.kiosk import tokens


@dataclass
class Component:
    name: str
    module: str
    answers_as: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)


COMPONENTS = (
    Component("meals", "services.meals", ("meals",)),
    Component("rota", "services.rota", ("rota",)),
    Component("onboarding", "services.onboarding", ("onboarding",)),
    Component("notices", "services.notices", ("notices",)),
    Component("activities", "services.activities", ("activities",)),
    Component("projector", "projections", ("projector", "query")),
    Component("kiosk", "services.kiosk", ("kiosk",)),
)


async def prepare(nc: nats.NATS, replicas: int = 1) -> None:
    """Create what the components only read or write: the event stream, the command outcomes,
    the personal keys, the token buckets and the followers' positions. Done by an admin user,
    before they start."""
    await ensure_event_store(nc, replicas, admin=True)
    for bucket in (tokens.BUCKET, tokens.ICAL_BUCKET, tokens.PAGE_BUCKET):  # the kiosk reads
        await tokens.bucket(nc, bucket, replicas)
    await links.bucket(nc, replicas)  # the key of one-tap links: made once, read by two
    await follow.bucket(nc, replicas)  # each follower may only use its own key


async def prepare_when_ready(nc: nats.NATS, replicas: int = 1, timeout: float = 60) -> None:
    """`prepare`, once JetStream can take it: a new cluster elects its meta leader first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await prepare(nc, replicas)
            return
        except (nats.errors.Error, nats.js.errors.Error):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.25)


POLL_S = 0.5  # how often the supervisor looks at what it runs
RAN_A_WHILE_S = 30.0  # a component that ran this long restarts at once; a crash loop backs off
MAX_BACKOFF_S = 30


# `crew up --one-process`: the contexts and the kiosk in one process (house/together.py), for a
# small machine.
TOGETHER = Component(
    "contexts", "house.together", ("meals", "rota", "onboarding", "notices", "activities", "kiosk")
)


def expected_answers() -> list[str]:
    return [name for c in COMPONENTS for name in c.answers_as]


class House:
    def __init__(
        self,
        home: Path,
        nats_port: int,
        http_port: int,
        demo: bool,
        say: Callable[[str], None],
        cluster: int = 1,
        restore: Path | None = None,
        forgotten: Sequence[Path] = (),
        nats_url: str = "",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        one_process: bool = False,
    ) -> None:
        self.say = say  # progress for whoever started the house (the CLI prints it)
        self.restore = restore
        self.forgotten = list(forgotten)  # more ledgers of forgotten ids for the restore
        self._to_record: list[str] = []  # forgotten ids the restored log may not know yet
        self._ledgers: asyncio.Task[None] | None = None
        self.home = home
        self.nats_port = nats_port
        self.http_port = http_port
        self.demo = demo
        self.cluster = cluster
        self.servers: list[NatsServer] = []
        self.nats_url = nats_url  # CREW_NATS_URL: join that NATS instead of starting one
        self.public_url = urls.without_credentials(self.nats_url) if self.nats_url else ""
        self.passwords: dict[str, str] = {}
        self.components = [Component(c.name, c.module, c.answers_as) for c in COMPONENTS]
        if one_process:
            alone = [c for c in self.components if c.name not in TOGETHER.answers_as]
            self.components = [
                *alone,
                Component(TOGETHER.name, TOGETHER.module, TOGETHER.answers_as),
            ]
        for component in self.components:
            if component.name in ("kiosk", "notices", "contexts"):  # notices: its links' address
                component.env["CREW_HTTP_PORT"] = str(http_port)
        self.kiosk_token = ""
        self._stopping = asyncio.Event()
        # a nats-server being started again: a thread, which a cancel does not stop (_stop)
        self._restarting: asyncio.Future[None] | None = None
        self._clock, self._sleep = clock, sleep  # the supervisor's, injectable for its tests

    def url_of(self, user: str) -> str:
        """The NATS URL(s) for one of the house's users; as given when joining a NATS."""
        if not self.passwords:
            return self.nats_url
        return urls.with_credentials(self.public_url, user, self.passwords[user])

    def env_of(self, component: Component) -> dict[str, str]:
        """The component's environment: its own NATS user's URL. In one process (--one-process)
        each context still connects as its own user, from CREW_NATS_URL_<CONTEXT>."""
        users = component.answers_as if component.name == TOGETHER.name else (component.name,)
        env = {
            **os.environ,
            "CREW_NATS_URL": self.url_of(auth.COMPONENT_USERS[users[0]]),
            "CREW_HOME": str(self.home),
            **component.env,
        }
        for context in TOGETHER.answers_as:  # only the one process gets the contexts' URLs
            env.pop(url_variable(context), None)
            if component.name == TOGETHER.name:
                env[url_variable(context)] = self.url_of(auth.COMPONENT_USERS[context])
        # Only the projector's process holds the query service, so only it gets that password.
        env.pop("CREW_QUERY_NATS_URL", None)
        if component.name == "projector":
            env["CREW_QUERY_NATS_URL"] = self.url_of("query")
        env.setdefault("CREW_LOG_FORMAT", "json")
        return env

    def _spawn(self, component: Component) -> None:
        env = self.env_of(component)
        log = (self.home / "logs" / f"{component.name}.log").open("ab")
        component.process = subprocess.Popen(
            [sys.executable, "-m", component.module], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        component.started_at = self._clock()
        log.close()

    async def run(self) -> int:
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stopping.set)
        try:
            await self._start()
            await self._supervise()
        finally:
            await self._stop()
        return 0

    async def _start(self) -> None:
        if self.nats_url:
            self.say(f"joining NATS at {self.public_url} (CREW_NATS_URL)")
        else:
            await self._start_nats()
        replicas = min(self.cluster, 3)
        nc = await nats.connect(
            **urls.connection(self.url_of("house")), name="crew-up", connect_timeout=5
        )
        await prepare_when_ready(nc, replicas)
        if self.restore:
            try:
                await self._restore(nc, self.restore)
            except BackupError as exc:
                await nc.close()
                raise SystemExit(f"crew up: {exc}") from None
        self._ledgers = asyncio.create_task(self._keep_ledgers())
        self.kiosk_token = await tokens.add(nc, "house")  # a fresh token for this run's kiosk URL
        await nc.close()
        for component in self.components:
            self._spawn(component)
        house = {
            "nats_url": self.url_of("coordinator"),  # the `crew` CLI's user
            "observer_url": self.url_of("observer"),  # for other services: read the log
            "pid": os.getpid(),
            "http_port": self.http_port,
            "components": expected_answers(),
        }
        house_file = self.home / HOUSE_FILE
        house_file.touch(mode=0o600)
        house_file.chmod(0o600)  # it holds the coordinator's password
        house_file.write_text(json.dumps(house, indent=2))
        missing = await client.wait_for_components(
            self.url_of("coordinator"), expected_answers(), timeout=60
        )
        if missing:
            raise SystemExit(
                f"crew up: no answer from {', '.join(missing)}; see {self.home / 'logs'}"
            )
        await self._record_forgotten()
        if self.demo:
            from house.demo import seed

            self.say("seeding a demo house ...")
            await seed(self.url_of("coordinator"), self.say)
        self.say(self._banner())

    async def _restore(self, nc: nats.NATS, folder: Path) -> None:
        """The backup, then everyone forgotten since (or ever) forgotten again, before any
        component can read a key: the ledgers beside the backup, in this home, and given."""
        ledgers = [ledger_beside(folder), self.home / LEDGER, *self.forgotten]
        for given in self.forgotten:
            if not given.is_file():
                raise BackupError(f"--forgotten {given}: no such file")
        ids = set().union(*(read_ledger(ledger) for ledger in ledgers))
        self.say(f"restoring the backup in {folder} ...")
        await restore(nc, folder, self.say)
        self._to_record = await apply_forgotten(nc, ids)
        read = ", ".join(str(ledger) for ledger in ledgers if ledger.exists()) or "no ledger found"
        self.say(
            f"applied {len(ids)} forgotten ids ({read}); "
            f"{len(self._to_record)} of them were in the backup"
        )

    async def _record_forgotten(self) -> None:
        """The restored log learns who was forgotten after the backup (onboarding appends
        `person_forgotten` unless it is there already), so the views say "forgotten crew
        member"; their key is gone already."""
        if not self._to_record:
            return
        nc = await client.connect(self.url_of("coordinator"), name="crew-up-restore")
        try:
            for person in self._to_record:
                body = json.dumps({"person_id": person}).encode()
                try:
                    reply: Reply = reply_decoder.decode(
                        await client.send(
                            nc,
                            "onboarding.forget_person",
                            body,
                            actor="coordinator:restore",
                            source="crew-up",
                            timeout=30,
                        )
                    )
                except client.NoService as exc:
                    reply = Unavailable(message=str(exc))
                if not isinstance(reply, Accepted):  # their key is gone all the same
                    self.say(
                        f"the log does not say yet that {person} is forgotten ({reply}); "
                        f"run: crew forget {person}"
                    )
        finally:
            await nc.close()

    async def _nats_trouble(self, error: Exception) -> None:
        """What nats-py reports on crew up's own connection, where its default prints a
        traceback: one line, and nothing while the house stops (nats-server may go first)."""
        if not self._stopping.is_set() and not isinstance(error, nats.errors.ConnectionClosedError):
            self.say(f"NATS reported {type(error).__name__} to crew up; it goes on")

    async def _keep_ledgers(self) -> None:
        """Every forget (a marker in the keys bucket), as it happens, into the home's ledger
        and every backup place's. The watch first hands over every key, so a forget made
        while `crew up` was down is caught at the next start."""
        while True:
            try:
                nc = await nats.connect(
                    **urls.connection(self.url_of("house")),
                    name="crew-up-ledgers",
                    error_cb=self._nats_trouble,
                )
                try:
                    kv = await nc.jetstream().key_value(KEYS_BUCKET)
                    current: list[str] | None = []  # handed over first: written at once
                    async for entry in await kv.watchall():
                        if entry is None:  # the end of what was there
                            ids, current = current or [], None
                        elif entry.value != FORGOTTEN_MARKER:
                            continue
                        elif current is not None:
                            current.append(entry.key)
                            continue
                        else:
                            ids = [entry.key]
                        for problem in keep_forgotten(self.home, ids):
                            self.say(f"could not keep a forgotten-ids ledger: {problem}")
                finally:
                    await nc.close()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a disk or NATS hiccup: say so, and try again
                self.say(f"keeping the forgotten-ids ledgers failed ({type(exc).__name__})")
            await asyncio.sleep(2)  # the watch ended or failed: watch again, a moment later

    async def _start_nats(self) -> None:
        """The embedded NATS: one node, or a cluster of nodes on loopback; either way with a
        fresh least-privilege user per component (house/auth.py) and no anonymous access."""
        self.passwords = auth.passwords()
        block = auth.authorization_block(self.passwords)
        ports = [self.nats_port] + [free_port() for _ in range(self.cluster - 1)]
        routes = auth.route_login() if self.cluster > 1 else None  # a stranger gets no route
        self.servers = nodes(self.home, ports, authorization=block, route_login=routes)
        shape = "" if self.cluster == 1 else f"a cluster of {self.cluster}, "
        self.say(
            f"starting nats-server on 127.0.0.1:{', '.join(str(s.port) for s in self.servers)} "
            f"({shape}JetStream, sync_interval: always, a user per component)"
        )
        await asyncio.gather(*(asyncio.to_thread(s.start) for s in self.servers))
        self.public_url = ",".join(s.url for s in self.servers)

    def _nats_note(self) -> str:
        if not self.passwords:
            return ""
        return f"\n              (a user per component; the crew CLI's credentials are in {self.home / HOUSE_FILE})"

    def _mail_note(self) -> str:
        smtp = os.environ.get("CREW_SMTP", "")
        if smtp:
            return f"notices go to the mail server at {smtp} (docs/notices.md)"
        return (
            "no mail server (crew up --smtp HOST:PORT): notices wait in the outbox (crew notices)"
        )

    def _banner(self) -> str:
        return f"""
crew is up. The house lives in {self.home}
  kiosk       http://127.0.0.1:{self.http_port}/kiosk#token={self.kiosk_token}
              (a tablet opens http://<this machine>:{self.http_port}/kiosk#token=...; more: crew kiosk add <name>)
  kiosk token {self.kiosk_token}
  NATS        {self.public_url}{self._nats_note()}
  components  {", ".join(expected_answers())} (crew status)
  mail        {self._mail_note()}
  logs        {self.home / "logs"}

Try it:
  crew send meals.plan_meal '{{"meal_id":"mon","date":"2030-01-07","helper_slots":2}}'
  crew send meals.volunteer_to_cook '{{"meal_id":"mon","crew_id":"c-1042","role":"head_cook"}}'
  crew sql "select * from meal_plan"
  crew events --follow

Stop with Ctrl-C.
""".rstrip()

    async def _supervise(self) -> None:
        """Restart what stops, each on its own watch: a crash loop's back-off holds up neither
        another component's restart nor the stop. A watch that fails stops the house."""
        stopping = asyncio.create_task(self._stopping.wait())
        watches = [asyncio.create_task(self._keep_running(c)) for c in self.components]
        watches.append(asyncio.create_task(self._keep_nats_running()))
        try:
            done, _ = await asyncio.wait([stopping, *watches], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in (stopping, *watches):
                task.cancel()
            await asyncio.gather(stopping, *watches, return_exceptions=True)

    async def _keep_nats_running(self) -> None:
        while True:
            await self._sleep(POLL_S)
            for server in self.servers:
                if self._stopping.is_set():  # it stopped with the house (a signal to the group)
                    return
                if server.process and server.process.poll() is not None:
                    self.say(f"nats-server {server.name} stopped unexpectedly; restarting it")
                    self._restarting = asyncio.ensure_future(asyncio.to_thread(server.start))
                    await asyncio.shield(self._restarting)

    async def _keep_running(self, component: Component) -> None:
        while True:
            await self._sleep(POLL_S)
            process = component.process
            if process is None or process.poll() is None:
                continue
            if self._stopping.is_set():  # it stopped with the house (a signal to the group)
                return
            # A crash loop backs off; a component that ran a while restarts at once.
            ran = self._clock() - component.started_at
            component.restarts = 0 if ran > RAN_A_WHILE_S else component.restarts + 1
            delay = min(2**component.restarts, MAX_BACKOFF_S) if component.restarts else 0
            self.say(f"{component.name} exited with {process.returncode}; restarting in {delay} s")
            await self._sleep(delay)
            if self._stopping.is_set():
                return
            self._spawn(component)

    async def _stop(self) -> None:
        self.say("stopping the house ...")
        if self._ledgers is not None:
            self._ledgers.cancel()
            await asyncio.gather(self._ledgers, return_exceptions=True)
        (self.home / HOUSE_FILE).unlink(missing_ok=True)
        running = [c.process for c in self.components if c.process and c.process.poll() is None]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + 10
        for process in running:
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()  # gone before crew up is: nothing of the house outlives it
        if self._restarting is not None:  # a nats-server started again while the house stopped
            await asyncio.gather(self._restarting, return_exceptions=True)
        for server in self.servers:
            await asyncio.to_thread(server.stop)
        self.say("stopped.")
