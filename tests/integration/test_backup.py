"""`crew backup` while the house runs, `crew up --restore` into a new house: the same log with
the same sequence numbers, names still readable (the keys came along), the same views."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from tests.conftest import start_house
from tests.integration.cli import crew, eventually, send, sql
from tests.integration.test_onboarding_house import key_of, stored_in
from tests.polling import eventually as poll

House = tuple[dict[str, str], subprocess.Popen[bytes]]
VIEWS = (
    "select seq, type, subject, event_id, causation_id from event_log order by seq",
    "select meal_id, helpers, helper_names from meal_plan order by meal_id",
    "select crew_id, display_name from crew order by crew_id",
)


def test_a_backup_restores_into_a_new_house_with_the_same_log_and_views(
    house: House, crew_env: dict[str, str], tmp_path: Path
) -> None:
    env, _ = house
    send(env, "onboarding.register_crew_member", {"crew_id": "anna", "display_name": "Anna Holm"})
    send(env, "onboarding.register_crew_member", {"crew_id": "bo", "display_name": "Bo Berg"})
    send(env, "meals.plan_meal", {"meal_id": "m1", "date": "2030-01-07", "helper_slots": 2})
    send(env, "meals.volunteer_to_cook", {"meal_id": "m1", "crew_id": "anna", "role": "helper"})
    send(env, "onboarding.forget_person", {"person_id": "bo"})
    eventually(env, "select count(*) as n from meal_plan where helpers = ['anna']", [{"n": 1}])
    eventually(env, "select count(*) as n from crew where display_name = 'Anna Holm'", [{"n": 1}])
    before = {q: sql(env, q) for q in VIEWS}
    folder = tmp_path / "backup"
    out = crew(env, "backup", str(folder)).stdout
    assert "CREW_EVENTS" in out and (folder / "CREW_EVENTS.jsonl").exists()
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    positions = (folder / "KV_CREW_FOLLOWERS.jsonl").read_text()
    assert "meals-follows-rota" in positions and "rota-follows-meals" in positions

    restored_env = {**crew_env, "CREW_HOME": str(tmp_path / "restored")}
    with start_house(restored_env, "--restore", str(folder)) as (env2, _):
        # the positions came back without their holders, the old house's instances: the new
        # ones follow at once, not after the lease of the old ones ran out (15 s)
        meals_log = Path(restored_env["CREW_HOME"]) / "logs" / "meals.log"
        poll(
            lambda: "follower_started" in (meals_log.read_text() if meals_log.exists() else ""),
            seconds=8,
            every=0.2,
            what="the restored follower started without waiting for a lease",
        )
        for query, rows in before.items():
            eventually(env2, query, rows)
        assert "Bo Berg" not in str(sql(env2, "select * from crew"))  # still forgotten
        send(env2, "meals.volunteer_to_cook", {"meal_id": "m1", "crew_id": "cem", "role": "helper"})
        eventually(env2, "select helpers from meal_plan", [{"helpers": ["anna", "cem"]}])


NAME = "Zebulon Quixtwhistle"
FORGOTTEN = "forgotten crew member"


def test_a_person_forgotten_after_a_backup_stays_forgotten_in_a_house_restored_from_it(
    house: House, crew_env: dict[str, str], tmp_path: Path
) -> None:
    env, _ = house
    for person, name in (("anna", "Anna Holm"), ("zq", NAME), ("bo", "Bo Berg")):
        send(env, "onboarding.register_crew_member", {"crew_id": person, "display_name": name})
    send(env, "meals.plan_meal", {"meal_id": "m1", "date": "2030-01-07", "helper_slots": 2})
    send(env, "meals.volunteer_to_cook", {"meal_id": "m1", "crew_id": "zq", "role": "helper"})
    eventually(env, "select display_name from crew where crew_id = 'zq'", [{"display_name": NAME}])
    keys = {person: asyncio.run(key_of(env, person)) for person in ("zq", "bo")}
    folder = tmp_path / "backups" / "monday"
    assert "0 forgotten ids kept" in crew(env, "backup", str(folder)).stdout
    ledger = tmp_path / "backups" / "forgotten-ids"

    crew(env, "forget", "zq")  # after the backup: the running house writes it down beside it
    poll(
        lambda: "zq" in (ledger.read_text() if ledger.exists() else ""),
        every=0.2,
        what="the ledger beside the backups learnt zq",
    )
    assert ledger.read_text().split() == ["zq"] and oct(ledger.stat().st_mode & 0o777) == "0o600"
    given = tmp_path / "also-forgotten"  # another ledger, say from a second backup place
    given.write_text("bo\n")

    # a backup from before the followers kept positions: restored all the same
    (folder / "KV_CREW_FOLLOWERS.jsonl").unlink()
    restored = {**crew_env, "CREW_HOME": str(tmp_path / "restored")}
    flags = ("--restore", str(folder), "--forgotten", str(given))
    with start_house(restored, *flags) as (env2, process):
        assert "applied 2 forgotten ids" in process.banner  # type: ignore[attr-defined]
        eventually(
            env2,
            "select crew_id, display_name, forgotten from crew order by crew_id",
            [
                {"crew_id": "anna", "display_name": "Anna Holm", "forgotten": False},
                {"crew_id": "bo", "display_name": FORGOTTEN, "forgotten": True},
                {"crew_id": "zq", "display_name": FORGOTTEN, "forgotten": True},
            ],
        )
        assert sql(env2, "select display_name from crew_contributions where crew_id = 'zq'") == [
            {"display_name": FORGOTTEN}
        ]
        exported = crew(env2, "export", "zq").stdout
        assert "forgotten" in exported and "Quixtwhistle" not in exported
        assert "Quixtwhistle" not in crew(env2, "sql", "select * from crew_contributions").stdout
        assert "Bo Berg" not in crew(env2, "sql", "select * from crew").stdout
        files = stored_in(Path(restored["CREW_HOME"]))
        assert b"Quixtwhistle" not in files and b"Bo Berg" not in files
        assert not any(key is None or key in files for key in keys.values())
