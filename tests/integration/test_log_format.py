"""The kiosk's log is JSON lines only, nats-py's and uvicorn's included (Litestar and uvicorn
set up no logging of their own)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.polling import eventually
from tests.ports import free_port


def garbage_to(port: int) -> bool:
    """Send the kiosk a request that is not HTTP (uvicorn warns about it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        conn.sendall(b"NOT HTTP \x00\r\n\r\n")
        conn.recv(100)
    return True


def test_the_kiosk_logs_nats_and_uvicorn_lines_as_json_with_logger_and_level(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREW_")}
    env |= {
        "CREW_HOME": str(tmp_path),
        "CREW_NATS_URL": f"nats://127.0.0.1:{free_port()}",  # nobody there: nats-py complains
        "CREW_HTTP_PORT": str(port),
        "CREW_LOG_FORMAT": "json",
    }
    log = tmp_path / "kiosk.log"
    with log.open("wb") as out:
        kiosk = subprocess.Popen(
            [sys.executable, "-m", "services.kiosk"], env=env, stdout=out, stderr=out
        )
    try:
        eventually(lambda: garbage_to(port), ignoring=(OSError,), seconds=30, what="the kiosk")
        eventually(
            log.read_text,
            until=lambda text: (
                '"logger":"nats.aio.client"' in text and '"logger":"uvicorn.error"' in text
            ),
            seconds=30,
            what="both loggers in the log",
        )
    finally:
        kiosk.terminate()
        kiosk.wait(10)
    lines = [json.loads(line) for line in log.read_text().splitlines()]  # JSON, every one
    assert {"nats.aio.client", "uvicorn.error"} <= {line["logger"] for line in lines}
    assert all(
        line["level"] in ("warning", "error") for line in lines if line["logger"] != "crew.kiosk"
    )
    assert all(line["component"] == "kiosk" for line in lines)
