"""The kiosk's HTTP server: alone (`python -m services.kiosk`), or beside the contexts in one
process (`crew up --one-process`, house/together.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn

from crew.settings import Settings
from services.kiosk.app import build_app


def server(config: Settings, kind: type[uvicorn.Server] = uvicorn.Server) -> uvicorn.Server:
    # X-Forwarded-For is believed only from these peers (comma-separated addresses of the TLS
    # proxy in front, docs/operations.md); from anyone else it is ignored, so a guesser cannot
    # pick a new address per try to dodge the rate limit. None by default (uvicorn's own
    # default trusts 127.0.0.1, i.e. any local process).
    trusted = config.kiosk_trusted_proxies.strip()
    return kind(
        uvicorn.Config(
            build_app(config),
            host=config.http_host,
            port=config.http_port,
            proxy_headers=bool(trusted),
            forwarded_allow_ips=trusted or None,
            log_config=None,  # uvicorn's own loggers go through crew.logs: JSON lines
            log_level="warning",
            access_log=False,  # URLs and bodies stay out of the logs
            timeout_keep_alive=30,  # tablets keep their connection; fewer close-while-reused
        )
    )


class _Beside(uvicorn.Server):
    """A server that leaves SIGINT and SIGTERM to the process it runs in."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class KioskBeside:
    """The kiosk started and stopped like a context's app (crew.service.serve_together)."""

    def __init__(self, config: Settings) -> None:
        self._server = server(config, _Beside)
        self._serving: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._serving = asyncio.create_task(self._server.serve())
        while not self._server.started:  # listening, or given up (the port taken, say)
            if self._serving.done():
                self._serving.result()  # its error, if it has one
                raise RuntimeError("the kiosk's server stopped as it started")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._serving is not None:
            await self._serving
