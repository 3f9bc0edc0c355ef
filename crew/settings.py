"""Settings, read once at start-up from CREW_* variables into a frozen Struct. Fails loudly."""

from __future__ import annotations

import json
import os
from pathlib import Path

import msgspec

DEFAULT_HOME = "./var"
HOUSE_FILE = "house.json"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    home: Path
    nats_url: str
    query_nats_url: str = ""  # the query service's own user, when the house has users
    log_format: str = "auto"  # auto | json | console
    query_timeout_s: float = 10.0
    workers: int = 16

    @property
    def database(self) -> Path:
        return self.home / "views.duckdb"


class HouseNotFound(RuntimeError):
    pass


def servers(url: str) -> list[str]:
    """A NATS URL, or a cluster's URLs comma-separated (`nats://a:4222,nats://b:4222`)."""
    return [u.strip() for u in url.split(",") if u.strip()]


def home_from_env() -> Path:
    return Path(os.environ.get("CREW_HOME", DEFAULT_HOME)).resolve()


def find_nats_url(home: Path | None = None) -> str:
    """CREW_NATS_URL, else the house that `crew up` runs in CREW_HOME (its house.json)."""
    if url := os.environ.get("CREW_NATS_URL"):
        return url
    home = home or home_from_env()
    try:
        return str(json.loads((home / HOUSE_FILE).read_text())["nats_url"])
    except FileNotFoundError:
        raise HouseNotFound(
            f"no house is running in {home} (no {HOUSE_FILE}); start one with `crew up`, "
            "or set CREW_NATS_URL / CREW_HOME"
        ) from None


def load() -> Settings:
    home = home_from_env()
    try:
        return Settings(
            home=home,
            nats_url=find_nats_url(home),
            query_nats_url=os.environ.get("CREW_QUERY_NATS_URL", ""),
            log_format=os.environ.get("CREW_LOG_FORMAT", "auto"),
            query_timeout_s=float(os.environ.get("CREW_QUERY_TIMEOUT_S", "10")),
            workers=int(os.environ.get("CREW_WORKERS", "16")),
        )
    except ValueError as exc:
        raise SystemExit(f"crew: bad setting: {exc}") from exc
