"""The kiosk beside the contexts (`crew up --one-process`): a port it cannot take makes it wait
and try again, never stop the process the contexts answer from."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest

from crew.settings import Settings
from services.kiosk.server import KioskBeside
from tests.polling import eventually_async


async def test_a_taken_port_makes_it_try_again_until_the_port_is_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(KioskBeside, "RETRY_S", 0.2)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    config = Settings(home=tmp_path, nats_url="nats://127.0.0.1:1", http_host="127.0.0.1", http_port=port)  # fmt: skip
    kiosk = KioskBeside(config)
    await kiosk.start()  # the first try failed: said so, and nothing raised
    taken.close()

    async def page() -> int:
        async with httpx.AsyncClient() as client:
            try:
                return (await client.get(f"http://127.0.0.1:{port}/kiosk", timeout=2)).status_code
            except httpx.TransportError:
                return 0

    try:
        await eventually_async(page, until=lambda status: status == 200, seconds=20)
    finally:
        await asyncio.wait_for(kiosk.stop(), 10)
    assert await page() == 0, "stopped: nothing listens any more"
