"""The kiosk's HTTP server: alone (`python -m services.kiosk`), or beside the contexts in one
process (`crew up --one-process`, house/together.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

import structlog
import uvicorn

from crew.settings import Settings
from services.kiosk.app import build_app

log = structlog.get_logger("crew.kiosk")


def server(
    config: Settings,
    kind: type[uvicorn.Server] = uvicorn.Server,
    after_started: Callable[[], None] = lambda: None,
) -> uvicorn.Server:
    # X-Forwarded-For is believed only from these peers (comma-separated addresses of the TLS
    # proxy in front, docs/operations.md); from anyone else it is ignored, so a guesser cannot
    # pick a new address per try to dodge the rate limit. None by default (uvicorn's own
    # default trusts 127.0.0.1, i.e. any local process).
    trusted = config.kiosk_trusted_proxies.strip()
    return kind(
        uvicorn.Config(
            build_app(config, after_started),
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
    """The kiosk started and stopped like a context's app (crew.service.serve_together).

    Alone, a kiosk that cannot listen (its port taken) exits and the supervisor starts it
    again. Beside the contexts it must not take them down with it: it says so in the log and
    tries again every RETRY_S, while the contexts go on answering."""

    RETRY_S = 5.0

    def __init__(self, config: Settings) -> None:
        self._config = config
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Task[None] | None = None
        self._tried = asyncio.Event()  # the first attempt is listening, or has failed
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        self._serving = asyncio.create_task(self._serve(), name="kiosk")
        await self._tried.wait()

    async def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._serving is not None:
            await self._serving

    async def _serve(self) -> None:
        while not self._stopping.is_set():
            self._server = server(self._config, _Beside)
            listening = asyncio.create_task(self._note_listening(self._server))
            try:
                await self._server.serve()
            except SystemExit:  # uvicorn's way of saying it could not start
                log.error(
                    "kiosk_not_listening", port=self._config.http_port, retry_in_s=self.RETRY_S
                )
            finally:
                listening.cancel()
                self._tried.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.RETRY_S)

    async def _note_listening(self, serving: uvicorn.Server) -> None:
        while not serving.started:
            await asyncio.sleep(0.05)
        self._tried.set()
