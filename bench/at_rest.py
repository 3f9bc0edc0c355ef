"""The whole house at rest: `crew up` in a fresh home, left alone a few seconds once it is up,
then the resident memory (RSS) of every process it runs, summed and by component. A house may
run on a Raspberry Pi-class machine, so this is a figure `make bench` reports (issue 18 aims
under 300 MB)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from house.natsserver import free_port

SETTLE_S = 5.0  # after the banner: start-up work (catch-up, first snapshot) is over


def children_of(root: int) -> list[int]:
    """Every process under `root`, from /proc (no psutil: it is not a dependency)."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        found.append(pid)
        frontier.extend(child for child, up in parent.items() if up == pid)
    return found


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def name_of(pid: int) -> str:
    """`services.meals`, `projections`, `nats-server`, `crew up`, ...: what the process runs."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    words = [a.decode(errors="replace") for a in argv if a]
    if "-m" in words:
        return words[words.index("-m") + 1]
    if words and words[0].endswith("nats-server"):
        return "nats-server"
    return "crew up" if "up" in words else Path(words[0]).name if words else str(pid)


def wait_for_banner(process: subprocess.Popen[bytes], timeout: float = 240) -> None:
    assert process.stdout is not None
    output, deadline = b"", time.monotonic() + timeout
    while b"crew is up" not in output:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            output += os.read(process.stdout.fileno(), 65536)
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("crew up did not come up:\n" + output.decode(errors="replace")[-2000:])


def measure(*flags: str) -> dict[str, float]:
    """MB of RSS per component of a house at rest (`crew up` with `flags`), and `total`."""
    with tempfile.TemporaryDirectory(prefix="crew-bench-rest-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CREW_")}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        command = ["crew", "up", "--home", str(Path(tmp) / "home")]
        command += ["--nats-port", str(free_port()), "--http-port", str(free_port()), *flags]
        process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_banner(process)
            time.sleep(SETTLE_S)
            sizes: dict[str, float] = {}
            for pid in children_of(process.pid):
                try:
                    name, size = name_of(pid), rss_mb(pid)
                except OSError:
                    continue  # it ended meanwhile
                sizes[name] = sizes.get(name, 0.0) + size
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
    sizes["total"] = sum(sizes.values())
    return sizes
