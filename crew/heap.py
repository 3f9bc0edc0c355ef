"""Python's cyclic garbage collector in a service that runs for months.

Every full collection walks every object the collector tracks: the modules, classes and
FastStream's and nats-py's own objects made while starting count as much as what serving
made, and every command in flight waits for it. In the meals service under 64 concurrent
commands the longest full collection took 75 ms. `gc.freeze()` once the service has started
moves the objects starting made out of the collector's sight (they live as long as the
process anyway): the longest fell to 40 ms, and the slowest commands were faster (p99.9
inside the service 45-61 ms against 76-79 ms, two alternating pairs). The rate did not move
beyond this machine's noise (docs/performance.md, "A full collection stops every command").
The projector freezes its own the same way: its full collections, 23 of them while it folded
120,000 sign-ups and then 64 concurrent commands, took 737 ms together (the longest 50 ms),
holding up its batches and the queries it answers; frozen, 40 ms together (the longest 4 ms).
The kiosk, alone, freezes once it has reached the bus (`python -m services.kiosk`); in one
process with the contexts, `serve_together` freezes once for all of them. What serving keeps
for good is kept out of the collector's sight where it is made: the record a command shell
keeps per command (`crew.shell.Caused`) is never tracked."""

from __future__ import annotations

import gc

import structlog

log = structlog.get_logger("crew.heap")


def freeze_startup() -> None:
    """Leave what exists now (all that starting made) out of every later collection."""
    gc.freeze()
    log.info("heap_frozen", objects=gc.get_freeze_count())
