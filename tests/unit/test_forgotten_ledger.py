"""The forgotten-ids ledger beside the backups: plain ids, appended, owner-only, never lost."""

from __future__ import annotations

import base64
from pathlib import Path

import msgspec
import pytest

from crew.personal import FORGOTTEN_MARKER, KEYS_STREAM
from house.backup import (
    LEDGER,
    BackupError,
    Saved,
    file_of,
    forgotten_in,
    keep_forgotten,
    keep_ledgers,
    ledger_beside,
    read_ledger,
    remember_forgotten,
)


def test_a_ledger_is_appended_owner_only_and_keeps_each_id_once(tmp_path: Path) -> None:
    ledger = tmp_path / LEDGER
    assert read_ledger(ledger) == set()
    assert remember_forgotten(ledger, ["zq", "bo"]) == 2
    assert remember_forgotten(ledger, ["bo", "c-1"]) == 1
    assert ledger.read_text().split() == ["bo", "zq", "c-1"]
    assert oct(ledger.stat().st_mode & 0o777) == "0o600"


def test_a_damaged_line_stops_a_restore_rather_than_bring_someone_back(tmp_path: Path) -> None:
    ledger = tmp_path / LEDGER
    ledger.write_text("# forgotten\nzq\n\nbo Berg\n")
    with pytest.raises(BackupError, match="line 4"):
        read_ledger(ledger)


def test_a_backup_names_whom_it_holds_as_forgotten_and_the_ledger_lies_beside_it(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "backups" / "monday"
    folder.mkdir(parents=True)
    messages = [("zq", b"k" * 32), ("bo", b"k" * 32), ("zq", FORGOTTEN_MARKER), ("al", b"x")]
    file_of(folder, KEYS_STREAM).write_bytes(
        b"".join(
            msgspec.json.encode(
                Saved(
                    seq=n,
                    subject=f"$KV.CREW_PERSONAL_KEYS.{person}",
                    data=base64.b64encode(value).decode(),
                )
            )
            + b"\n"
            for n, (person, value) in enumerate(messages, 1)
        )
    )
    assert forgotten_in(folder) == {"zq"}
    home = tmp_path / "home"
    assert keep_ledgers(folder, home) == {"zq"}
    assert ledger_beside(folder) == tmp_path / "backups" / LEDGER
    assert read_ledger(ledger_beside(folder)) == read_ledger(home / LEDGER) == {"zq"}
    assert (home / "backup-places").read_text().split() == [str(tmp_path / "backups")]


def test_a_backup_place_that_is_not_there_is_skipped_not_made(tmp_path: Path) -> None:
    home, here, gone = tmp_path / "home", tmp_path / "usb", tmp_path / "unplugged"
    here.mkdir()
    (home).mkdir()
    (home / "backup-places").write_text(f"{here}\n{gone}\n")
    assert keep_forgotten(home, ["zq"]) == []
    assert read_ledger(here / LEDGER) == read_ledger(home / LEDGER) == {"zq"}
    assert not gone.exists()
