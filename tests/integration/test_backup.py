"""`crew backup` while the house runs, `crew up --restore` into a new house: the same log with
the same sequence numbers, names still readable (the keys came along), the same views."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import start_house
from tests.integration.cli import crew, eventually, send, sql

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

    restored_env = {**crew_env, "CREW_HOME": str(tmp_path / "restored")}
    with start_house(restored_env, "--restore", str(folder)) as (env2, _):
        for query, rows in before.items():
            eventually(env2, query, rows)
        assert "Bo Berg" not in str(sql(env2, "select * from crew"))  # still forgotten
        send(env2, "meals.volunteer_to_cook", {"meal_id": "m1", "crew_id": "cem", "role": "helper"})
        eventually(env2, "select helpers from meal_plan", [{"helpers": ["anna", "cem"]}])
