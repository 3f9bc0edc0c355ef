"""structlog, configured once per process: JSON when not a TTY, ids and sizes, never payloads.

Our own lines and those of the libraries that log through the standard library (nats-py,
FastStream, uvicorn) come out the same way: one line each, with `level`, `logger` (the
logger's name), `timestamp` and the component, so that an alert rule reads every line alike.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from types import MappingProxyType
from typing import Any, TextIO

import msgspec
import structlog

# What every line logged while a command is carried out also says (its ids): one context
# variable holding them all, set once per command. structlog's `bound_contextvars` copies the
# whole context and sets a variable per key, twice: 4 % of a command's time at 64 in flight.
_BOUND: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "crew_bound", default=MappingProxyType({})
)


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add `fields` to every line logged inside (in this task, and tasks and threads it starts)."""
    token = _BOUND.set({**_BOUND.get(), **fields})
    try:
        yield
    finally:
        _BOUND.reset(token)


def merge_bound(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in _BOUND.get().items():
        event_dict.setdefault(key, value)
    return event_dict


def _json(event: object, **_: object) -> str:
    return msgspec.json.encode(event, enc_hook=str).decode()


class NamedPrintLogger(structlog.PrintLogger):
    """structlog's fast PrintLogger, with the name it was asked for (`get_logger("crew.x")`)."""

    def __init__(self, file: TextIO, name: str) -> None:
        super().__init__(file)
        self.name = name


class NamedPrintLoggerFactory:
    def __init__(self, file: TextIO) -> None:
        self._file = file

    def __call__(self, *args: Any) -> NamedPrintLogger:
        return NamedPrintLogger(self._file, str(args[0]) if args else "crew")


def configure(component: str, fmt: str = "auto") -> None:
    json_lines = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(serializer=_json)
        if json_lines
        else structlog.dev.ConsoleRenderer()
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        merge_bound,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=NamedPrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(component=component)
    # nats-py, FastStream and uvicorn log through the standard library: keep them quiet
    # (warnings and worse) but visible, rendered as our own lines.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    # FastStream gives its own logger a plain handler, kept from the root's: hand it back.
    # (Our brokers and apps are built with logger=None, so it should have little to say.)
    faststream = logging.getLogger("faststream")
    for old in faststream.handlers[:]:
        faststream.removeHandler(old)
    faststream.propagate = True
    faststream.setLevel(logging.NOTSET)
