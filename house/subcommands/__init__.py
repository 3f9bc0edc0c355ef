"""The subcommands of `crew`, one module per kind of work; each subcommand is a `cmd_<verb>`
that does it and an `add_<verb>` that adds its parser (house/cli.py lists them in order).
Here: what they share, their exit codes and the way to the running house."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

import msgspec

from crew import settings
from house import client
from house.client import NoService
from schemas.common import Accepted, Invalid, Refused, Reply, reply_decoder

Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


EXIT_REFUSED, EXIT_INVALID, EXIT_UNREACHABLE = 3, 2, 4
EXIT_OF_REPLY: dict[type[Reply], int] = {Accepted: 0, Refused: EXIT_REFUSED, Invalid: EXIT_INVALID}


def nats_url() -> str:
    try:
        return settings.find_nats_url()
    except settings.HouseNotFound as exc:
        raise NoService(str(exc)) from None


async def with_house(work: Callable[[Any], Awaitable[int]]) -> int:
    nc = await client.connect(nats_url())
    try:
        return await work(nc)
    finally:
        await nc.close()


def reply_code(reply: bytes) -> int:
    try:
        answer = reply_decoder.decode(reply)
    except msgspec.DecodeError:  # not a reply of the house's
        return 1
    return EXIT_OF_REPLY.get(type(answer), 1)
