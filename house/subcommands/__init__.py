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


ANSWER_WITHIN_S = 10.0  # how long a command waits for its service's answer, by default


def seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text}: a number of seconds above 0")
    return value


def add_wait(p: argparse.ArgumentParser) -> None:
    """`--wait`: how long to wait for an answer before saying there was none."""
    p.add_argument(
        "--wait",
        type=seconds,
        default=ANSWER_WITHIN_S,
        metavar="SECONDS",
        help="how long to wait for the service's answer before saying there was none "
        f"(default {ANSWER_WITHIN_S:g}); a command that got no answer may or may not have "
        "been carried out: send it again with the same command id",
    )


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
