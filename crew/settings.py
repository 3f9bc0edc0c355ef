"""Settings, read once at start-up from CREW_* variables into a frozen Struct. Fails loudly.

Each field is the variable of its name: `workers` is CREW_WORKERS, `projector.projector_batch` is
CREW_PROJECTOR_BATCH. A bad value stops the process at once with a line that names the
variable and what it expects. docs/operations.md ("Settings") lists every one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import msgspec.inspect as mi

DEFAULT_HOME = "./var"
HOUSE_FILE = "house.json"

Positive = Annotated[float, msgspec.Meta(gt=0)]
AtLeastOne = Annotated[int, msgspec.Meta(ge=1)]
NotNegative = Annotated[int, msgspec.Meta(ge=0)]


class ProjectorSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The projector process's: how it builds and keeps the views, and answers queries."""

    projector_batch: AtLeastOne = 5000  # events applied in one transaction, at most
    # A rebuild's. 10,000 folds the log 10-15 % faster, for some 15 MB more at its peak: past
    # 256 MB at a million events (docs/performance.md, "A rebuild's batches").
    projector_rebuild_batch: AtLeastOne = 5000
    snapshot_s: Positive = 60.0  # how often snapshot.duckdb is published, when anything changed
    duckdb_memory_limit: str = "128MB"  # DuckDB's buffer pool, per instance
    # A file being rebuilt answers no query until it has folded the log: a smaller pool then
    # (the counting at its end, and whatever it serves after, get duckdb_memory_limit).
    duckdb_rebuild_memory_limit: str = "64MB"
    duckdb_max_temp_size: str = "1GB"  # what a query may spill to disk
    # The contributions window of a file that has none of its own (`crew rebuild` stores one).
    contribution_window_months: Annotated[int, msgspec.Meta(ge=1, le=120)] = 6
    query_timeout_s: Positive = 10.0
    query_answer_bytes: AtLeastOne = 6 * 1024 * 1024  # JSON rows in one answer, at most
    projector_memory_cap_mb: NotNegative = 1024  # the process's data segment; 0: no cap


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    home: Path
    nats_url: str
    query_nats_url: str = ""  # the query service's own user, when the house has users
    log_format: Literal["auto", "json", "console"] = "auto"  # auto: JSON unless on a terminal
    workers: AtLeastOne = 64  # commands a service handles at once (the rest wait, in order)
    calendar_tick_s: Positive = 3600.0  # how often the rota's calendar advances every series
    http_host: str = "0.0.0.0"  # where the kiosk listens
    http_port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8080
    kiosk_trusted_proxies: str = ""  # comma-separated; X-Forwarded-For is believed from these
    kiosk_rate: Positive = 10.0  # taps a second per kiosk, after the burst
    kiosk_burst: Annotated[float, msgspec.Meta(ge=1)] = 30.0
    # Wrong tokens and calendar fetches per client address and minute; 0 would refuse forever.
    # A calendar app polls every few minutes at most; each fetch is 2 queries.
    kiosk_guesses_per_minute: Annotated[float, msgspec.Meta(ge=1)] = 10.0
    kiosk_ical_per_minute: Annotated[float, msgspec.Meta(ge=1)] = 30.0
    # Notices: the mail server (host:port; "": mail stays in the outbox, see `crew notices`),
    # its login, the sender, the house hours no mail goes out ("21-08", or "none"), and how
    # often the rules are asked when nothing new happened.
    # (an IPv6 address in brackets: [::1]:25)
    smtp: Annotated[
        str, msgspec.Meta(pattern=r"^$|^[^:\s\[\]]+:[0-9]{1,5}$|^\[[0-9A-Fa-f:.]+\]:[0-9]{1,5}$")
    ] = ""
    smtp_user: str = ""
    smtp_password_file: str = ""
    mail_from: str = "crew@localhost"
    # Where the kiosk server is reached from a phone: the base of one-tap links in mail
    # ("": http://127.0.0.1:<CREW_HTTP_PORT>, which only works on the house's own machine).
    public_url: str = ""
    quiet_hours: Annotated[
        str, msgspec.Meta(pattern=r"^(none|([01]?[0-9]|2[0-3])-([01]?[0-9]|2[0-3]))$")
    ] = "21-08"
    notices_tick_s: Positive = 30.0
    # Fault injection for tests/faults, off by default: exit hard after the N-th append was
    # acknowledged, before the reply; or between a forget's marker and erasing the old key; or
    # (the notices service) after the N-th mail was taken by the mail server, before its mark.
    fault_exit_after_appends: NotNegative = 0
    fault_exit_after_forget_marker: bool = False
    fault_exit_after_mails: NotNegative = 0
    projector: ProjectorSettings = msgspec.field(default_factory=ProjectorSettings)

    @property
    def database(self) -> Path:
        return self.home / "views.duckdb"


class HouseNotFound(RuntimeError):
    pass


def servers(url: str) -> list[str]:
    """A NATS URL, or a cluster's URLs comma-separated (`nats://a:4222,nats://b:4222`)."""
    return [u.strip() for u in url.split(",") if u.strip()]


def home_from_env() -> Path:
    return Path(os.environ.get("CREW_HOME") or DEFAULT_HOME).resolve()


def given_nats_url() -> str:
    """CREW_NATS_URL: a NATS to join; "" when the house is to be found or started here."""
    return os.environ.get("CREW_NATS_URL", "")


def find_nats_url(home: Path | None = None) -> str:
    """CREW_NATS_URL, else the house that `crew up` runs in CREW_HOME (its house.json)."""
    if url := given_nats_url():
        return url
    home = home or home_from_env()
    try:
        return str(json.loads((home / HOUSE_FILE).read_text())["nats_url"])
    except FileNotFoundError:
        raise HouseNotFound(
            f"no house is running in {home} (no {HOUSE_FILE}); start one with `crew up`, "
            "or set CREW_NATS_URL / CREW_HOME"
        ) from None


def variable(field: str) -> str:
    return f"CREW_{field.upper()}"


def variables() -> list[str]:
    """Every CREW_* variable a component reads, in the order of the fields."""
    found = [variable(f.name) for f in msgspec.structs.fields(Settings) if f.name != "projector"]
    return found + [variable(f.name) for f in msgspec.structs.fields(ProjectorSettings)]


def load(find_house: bool = True) -> Settings:
    """Every setting, read and checked once. `find_house=False` (for `crew up`, which starts
    the house): no house need be running, and `nats_url` is CREW_NATS_URL or ""."""
    home = home_from_env()
    given = _read(Settings, skip={"home", "nats_url", "projector"})
    return Settings(
        home=home,
        nats_url=find_nats_url(home) if find_house else given_nats_url(),
        projector=ProjectorSettings(**_read(ProjectorSettings)),
        **given,
    )


def _read(kind: type[msgspec.Struct], skip: Collection[str] = ()) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in msgspec.structs.fields(kind):
        name = variable(field.name)
        if field.name in skip or (raw := os.environ.get(name)) is None:
            continue
        try:
            values[field.name] = msgspec.convert(raw, field.type, strict=False)
        except msgspec.ValidationError:
            raise SystemExit(
                f"crew: bad setting {name}={raw[:80]}: expected {expected(field.type)}"
            ) from None
        if (check := CHECKS.get(field.name)) is not None and (wanted := check(raw)):
            raise SystemExit(f"crew: bad setting {name}={raw[:80]}: expected {wanted}")
    return values


def _two_different_hours(text: str) -> str:
    """What quiet hours must be, if `text` (matching the pattern) is not that; else ""."""
    start, _, end = text.partition("-")
    if end and int(start) == int(end):
        return "two different hours HH-HH (e.g. 21-08), or none"
    return ""


# Checks a pattern cannot say: the field -> what the value must be, or "" when it is that.
CHECKS = {"quiet_hours": _two_different_hours}


def expected(kind: Any) -> str:
    """What a setting of this type must be, in words."""
    info = mi.type_info(kind)
    if isinstance(info, mi.LiteralType):
        return "one of " + ", ".join(str(v) for v in info.values)
    if isinstance(info, mi.BoolType):
        return "1 or 0 (true or false)"
    if isinstance(info, mi.StrType) and info.pattern:
        return f"text matching {info.pattern}"
    if not isinstance(info, mi.IntType | mi.FloatType):
        return str(kind)
    words = ["a whole number" if isinstance(info, mi.IntType) else "a number"]
    for bound, word in (("gt", "above"), ("ge", "at least"), ("lt", "below"), ("le", "at most")):
        if (limit := getattr(info, bound)) is not None:
            words.append(f"{word} {limit:g}")
    return ", ".join(words)
