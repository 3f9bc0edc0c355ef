"""One log format: our lines and the libraries' (nats-py, FastStream, uvicorn) are alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = """
import logging, sys, structlog, uvicorn
import faststream  # it sets up a logger of its own when imported, as in every component
from crew import logs, settings

logs.configure("kiosk", settings.load().log_format)
structlog.get_logger("crew.kiosk").info("kiosk_started", port=8080)
logging.getLogger("nats.aio.client").warning("nats: encountered error")
try:
    raise ConnectionRefusedError("no server at 127.0.0.1:1")
except OSError:
    logging.getLogger("nats.aio.client").error("nats: encountered error", exc_info=True)
logging.getLogger("faststream").info("quiet: below a warning")
logging.getLogger("faststream").warning("faststream: something to say")
# as services/kiosk/__main__.py has uvicorn set up its loggers
uvicorn.Config(lambda: None, log_config=None, log_level="warning")
logging.getLogger("uvicorn.error").warning("Invalid HTTP request received.")
logging.getLogger("uvicorn.error").info("Started server process")
"""


def lines_of(log_format: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREW_")}
    env |= {"CREW_LOG_FORMAT": log_format, "CREW_NATS_URL": "nats://127.0.0.1:1"}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout == ""
    return done.stderr.splitlines()


def test_library_warnings_are_json_lines_with_their_logger_and_level_like_ours() -> None:
    lines = [json.loads(line) for line in lines_of("json")]  # every line is one JSON object
    assert [(line["logger"], line["level"], line["event"]) for line in lines] == [
        ("crew.kiosk", "info", "kiosk_started"),
        ("nats.aio.client", "warning", "nats: encountered error"),
        ("nats.aio.client", "error", "nats: encountered error"),
        ("faststream", "warning", "faststream: something to say"),
        ("uvicorn.error", "warning", "Invalid HTTP request received."),
    ]
    assert all(line["component"] == "kiosk" and "timestamp" in line for line in lines)
    assert "ConnectionRefusedError" in lines[2]["exception"], "the traceback, inside its line"


def test_in_the_console_format_library_lines_name_their_logger_too() -> None:
    found = "\n".join(lines_of("console"))
    assert "nats.aio.client" in found and "uvicorn.error" in found and "faststream" in found
    assert "WARNING:nats" not in found
