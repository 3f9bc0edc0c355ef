"""Ports for the servers a test starts, safe when pytest-xdist runs tests side by side.

The kernel's `bind(port 0)` hands out ports from the ephemeral range, which every outgoing
connection of every worker also draws from, and a port is only reserved once the server that
was told it binds it. Two workers, or a worker and a client socket, could then be handed the same
port in that moment. So each worker takes its ports from its own block below the ephemeral
range (Linux: 32768 and up), in turn, checking that nothing listens there now."""

from __future__ import annotations

import os
import random
import socket

FIRST, BLOCK = 10_000, 2_500  # eight blocks fit below 32768: -n 8 at most

# Ports Chromium refuses to load a page from (net::ERR_UNSAFE_PORT; its kRestrictedPorts above
# 1024): a browser test handed 10080 failed a fresh clone's `make test` once. Never handed out.
UNSAFE_IN_A_BROWSER = frozenset({1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000})
UNSAFE_IN_A_BROWSER |= {6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080}


def _worker() -> int:
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # gw0, gw1, …; absent when run alone
    return int(name.removeprefix("gw") or 0) % 8


_start = FIRST + _worker() * BLOCK
_next = random.randrange(BLOCK)  # a rerun soon after does not reuse the last run's ports


def free_port() -> int:
    """The next port of this worker's block that nothing on loopback listens on."""
    global _next
    for _ in range(BLOCK):
        port = _start + _next % BLOCK
        _next += 1
        if port in UNSAFE_IN_A_BROWSER:
            continue
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {_start}..{_start + BLOCK - 1}")
