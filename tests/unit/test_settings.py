"""Settings are read once, at start-up: a bad value stops a component with a line naming it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from crew import settings
from services.notices.at_work import smtp_of
from services.notices.rules import QuietHours

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_read_typed_from_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in settings.variables():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CREW_NATS_URL", "nats://127.0.0.1:1")
    assert settings.load().projector.projector_batch == 5000, "the default"
    monkeypatch.setenv("CREW_PROJECTOR_BATCH", "100")
    monkeypatch.setenv("CREW_KIOSK_RATE", "0.016")
    monkeypatch.setenv("CREW_FAULT_EXIT_AFTER_FORGET_MARKER", "1")
    monkeypatch.setenv("CREW_LOG_FORMAT", "json")
    config = settings.load()
    assert config.projector.projector_batch == 100 and config.kiosk_rate == 0.016
    assert config.fault_exit_after_forget_marker is True and config.log_format == "json"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("CREW_PROJECTOR_BATCH", "abc", "a whole number, at least 1"),
        ("CREW_QUERY_TIMEOUT_S", "0", "a number, above 0"),
        ("CREW_LOG_FORMAT", "pretty", "one of auto, console, json"),
        ("CREW_QUIET_HOURS", "21-21", "two different hours HH-HH (e.g. 21-08), or none"),
        ("CREW_QUIET_HOURS", "8-08", "two different hours HH-HH (e.g. 21-08), or none"),
    ],
)
def test_a_bad_value_is_named_with_what_it_should_be(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv("CREW_NATS_URL", "nats://127.0.0.1:1")
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as stopped:
        settings.load()
    assert str(stopped.value) == f"crew: bad setting {variable}={value}: expected {expected}"


@pytest.mark.parametrize(
    ("command", "variable"),
    [
        (["-m", "projections"], "CREW_PROJECTOR_BATCH"),
        (["-m", "services.kiosk"], "CREW_HTTP_PORT"),
        (["-c", "from house.cli import main; main()", "up"], "CREW_SNAPSHOT_S"),  # starts nothing
    ],
)
def test_a_component_with_a_bad_setting_stops_at_once_with_one_line(
    tmp_path: Path, command: list[str], variable: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREW_")}
    env |= {"CREW_HOME": str(tmp_path), "CREW_NATS_URL": "nats://127.0.0.1:1", variable: "abc"}
    done = subprocess.run(
        [sys.executable, *command], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"crew: bad setting {variable}=abc: expected a")
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    assert not list(tmp_path.iterdir()), "nothing was started"


def test_quiet_hours_the_settings_take_are_quiet_hours_the_notices_service_can_keep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What passes at start-up never stops the notices service later (QuietHours.parse)."""
    monkeypatch.setenv("CREW_NATS_URL", "nats://127.0.0.1:1")
    hours = [f"{h}" for h in range(24)] + [f"{h:02d}" for h in range(10)]
    for text in ["none", *(f"{a}-{b}" for a in hours for b in hours)]:
        monkeypatch.setenv("CREW_QUIET_HOURS", text)
        try:
            taken = settings.load().quiet_hours
        except SystemExit:
            with pytest.raises(ValueError):
                QuietHours.parse(text)
            continue
        QuietHours.parse(taken)


@pytest.mark.parametrize(
    ("given", "server"),
    [
        ("mail.example.org:587", ("mail.example.org", 587)),
        ("127.0.0.1:25", ("127.0.0.1", 25)),
        ("[::1]:25", ("::1", 25)),
        ("[2001:db8::5]:2525", ("2001:db8::5", 2525)),
    ],
)
def test_a_mail_server_the_settings_take_is_the_one_the_notices_service_reaches(
    monkeypatch: pytest.MonkeyPatch, given: str, server: tuple[str, int]
) -> None:
    monkeypatch.setenv("CREW_NATS_URL", "nats://127.0.0.1:1")
    monkeypatch.setenv("CREW_SMTP", given)
    smtp = smtp_of(settings.load())
    assert smtp is not None and (smtp.host, smtp.port) == server


@pytest.mark.parametrize("given", ["::1:25", "mail.example.org", "[::1]", "[mail]:25", "a b:25"])
def test_a_mail_server_without_a_port_or_with_a_bare_ipv6_address_is_refused(
    monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    monkeypatch.setenv("CREW_NATS_URL", "nats://127.0.0.1:1")
    monkeypatch.setenv("CREW_SMTP", given)
    with pytest.raises(SystemExit, match="crew: bad setting CREW_SMTP="):
        settings.load()


def documented() -> dict[str, str]:
    """The settings table of docs/operations.md: variable -> its documented default."""
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| `(CREW_\w+)` \| ([^|]+?) \|", section, re.MULTILINE))


def test_docs_list_every_setting_with_its_default() -> None:
    table = documented()
    assert list(table) == settings.variables()
    for kind in (settings.Settings, settings.ProjectorSettings):
        for field in msgspec.structs.fields(kind):
            if field.default is msgspec.NODEFAULT or isinstance(field.default, msgspec.Struct):
                continue
            default = field.default
            shown = (
                str(int(default))
                if isinstance(default, bool | int | float) and default == int(default)
                else str(default)
            )
            name = settings.variable(field.name)
            written = table[name].split()[0].strip("`")
            assert written == ("none" if default == "" else shown), name
