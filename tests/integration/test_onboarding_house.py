"""Onboarding and erasure on a running house, through the `crew` command only."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.integration.cli import crew, eventually, send, sql

Env = dict[str, str]
House = tuple[Env, subprocess.Popen[str]]
NAME = "Zebulon Quixtwhistle"
VIEWS = [
    "meal_plan",
    "rota",
    "participation",
    "crew",
    "crew_contributions",
    "onboarding_funnel",
    "event_log",
]


def accepted(reply: dict) -> list[str]:
    assert reply["status"] == "accepted", reply
    return [e["type"] for e in reply["events"]]


def test_a_welcomed_newcomer_can_cook_and_a_redirected_one_shows_where_they_went(
    house: House,
) -> None:
    env, _ = house
    accepted(
        send(env, "onboarding.register_crew_member", {"crew_id": "anna", "display_name": "Anna"})
    )
    accepted(
        send(
            env,
            "onboarding.register_newcomer",
            {
                "newcomer_id": "nora",
                "display_name": "Nora",
                "brought_by": "the meal",
                "interests": ["cooking"],
            },
        )
    )
    refused = send(env, "onboarding.onboard_newcomer", {"newcomer_id": "nora"})
    assert (refused["status"], refused["code"]) == ("refused", "no_conversation_yet")
    accepted(
        send(
            env,
            "onboarding.schedule_conversation",
            {"newcomer_id": "nora", "host_crew_id": "anna", "when": "2030-01-07T16:00:00+01:00"},
        )
    )
    accepted(
        send(
            env,
            "onboarding.record_conversation",
            {"newcomer_id": "nora", "host_crew_id": "anna", "notes": "wants to cook on Mondays"},
        )
    )
    assert accepted(
        send(env, "onboarding.onboard_newcomer", {"newcomer_id": "nora", "buddy_crew_id": "anna"})
    ) == [
        "onboarding.newcomer_onboarded",
        "onboarding.buddy_assigned",
    ]
    again = send(env, "onboarding.onboard_newcomer", {"newcomer_id": "nora"})
    assert again["code"] == "already_onboarded"
    accepted(
        send(env, "meals.plan_meal", {"meal_id": "mon", "date": "2030-01-07", "helper_slots": 2})
    )
    accepted(
        send(
            env,
            "meals.volunteer_to_cook",
            {"meal_id": "mon", "crew_id": "nora", "role": "head_cook"},
        )
    )
    eventually(
        env,
        "select head_cook, head_cook_name from meal_plan",
        [{"head_cook": "nora", "head_cook_name": "Nora"}],
    )
    eventually(
        env,
        "select crew_id, display_name, joined_via, buddy_crew_id from crew order by crew_id",
        [
            {
                "crew_id": "anna",
                "display_name": "Anna",
                "joined_via": "registered",
                "buddy_crew_id": None,
            },
            {
                "crew_id": "nora",
                "display_name": "Nora",
                "joined_via": "onboarding",
                "buddy_crew_id": "anna",
            },
        ],
    )
    accepted(
        send(env, "onboarding.register_newcomer", {"newcomer_id": "otto", "display_name": "Otto"})
    )
    accepted(
        send(env, "onboarding.record_conversation", {"newcomer_id": "otto", "host_crew_id": "anna"})
    )
    accepted(
        send(
            env,
            "onboarding.redirect_newcomer",
            {"newcomer_id": "otto", "to": "the climbing club", "why": "looking for sport"},
        )
    )
    eventually(
        env,
        "select newcomer_id, outcome, redirected_to, conversation_host from onboarding_funnel "
        "order by newcomer_id",
        [
            {
                "newcomer_id": "nora",
                "outcome": "onboarded",
                "redirected_to": None,
                "conversation_host": "anna",
            },
            {
                "newcomer_id": "otto",
                "outcome": "redirected",
                "redirected_to": "the climbing club",
                "conversation_host": "anna",
            },
        ],
    )
    eventually(
        env,
        "select kind, occurrence_id, status from participation where crew_id = 'anna' "
        "order by kind, occurrence_id",
        [
            {"kind": "buddy", "occurrence_id": "nora", "status": "buddy"},
            {"kind": "conversation_host", "occurrence_id": "nora", "status": "hosted"},
            {"kind": "conversation_host", "occurrence_id": "otto", "status": "hosted"},
        ],
    )
    eventually(
        env,
        "select conversations_hosted, buddy_for from crew_contributions where crew_id = 'anna'",
        [{"conversations_hosted": 2, "buddy_for": 1}],
    )
    notes = json.loads(
        crew(
            env,
            "sql",
            "--restricted",
            "--format",
            "json",
            "select person_id, conversations[1].notes as notes from conversation_notes "
            "order by person_id",
        ).stdout
    )
    assert notes[0] == {"person_id": "nora", "notes": "wants to cook on Mondays"}
    everyday = crew(env, "sql", "select * from conversation_notes", check=False)
    assert everyday.returncode == 1 and "conversation_notes" in everyday.stderr


def test_a_forgotten_person_is_in_no_view_no_event_no_file_and_no_rebuild_but_counts_stay(
    house: House,
) -> None:
    env, _ = house
    accepted(
        send(
            env,
            "onboarding.register_crew_member",
            {"crew_id": "zq", "display_name": NAME, "contact": "zq@example.org"},
        )
    )
    accepted(
        send(env, "meals.plan_meal", {"meal_id": "tue", "date": "2030-01-08", "helper_slots": 2})
    )
    accepted(
        send(env, "meals.volunteer_to_cook", {"meal_id": "tue", "crew_id": "zq", "role": "helper"})
    )
    accepted(
        send(
            env,
            "meals.sign_up_to_eat",
            {"meal_id": "tue", "crew_id": "zq", "diet_note": f"{NAME} is vegan"},
        )
    )
    eventually(
        env,
        "select display_name, meals_helped from crew_contributions",
        [{"display_name": NAME, "meals_helped": 1}],
    )
    exported = json.loads(crew(env, "export", "zq").stdout)
    assert exported["personal_data"]["display_name"] == NAME
    assert exported["personal_data"]["contact"] == "zq@example.org"
    assert any(e["payload"].get("diet_note") == f"{NAME} is vegan" for e in exported["events"])
    assert [p["kind"] for p in exported["participation"]] == ["meal_helper"]

    assert "forgotten" in crew(env, "forget", "zq").stdout
    eventually(
        env,
        "select display_name, meals_helped from crew_contributions",
        [{"display_name": "forgotten crew member", "meals_helped": 1}],
    )

    def nowhere() -> None:
        for view in VIEWS:
            assert (
                "Quixtwhistle"
                not in crew(env, "sql", "--format", "csv", f"select * from {view}").stdout
            ), view
        for table in ("people_details", "conversation_notes"):
            assert (
                "Quixtwhistle"
                not in crew(
                    env, "sql", "--restricted", "--format", "csv", f"select * from {table}"
                ).stdout
            )
        assert "Quixtwhistle" not in crew(env, "events").stdout
        assert "zq@example.org" not in crew(env, "events").stdout
        for path in Path(env["CREW_HOME"]).rglob("*"):
            if path.is_file():
                assert b"Quixtwhistle" not in path.read_bytes(), path

    nowhere()
    assert "rebuilt every view" in crew(env, "rebuild").stderr
    nowhere()
    eventually(
        env,
        "select display_name, meals_helped from crew_contributions",
        [{"display_name": "forgotten crew member", "meals_helped": 1}],
    )
    after = json.loads(crew(env, "export", "zq").stdout)
    assert isinstance(after["personal_data"], str) and "forgotten" in after["personal_data"]
    assert "Quixtwhistle" not in json.dumps(after)


def test_import_crew_reports_each_row_and_imports_the_good_ones(
    house: House, tmp_path: Path
) -> None:
    env, _ = house
    members = tmp_path / "members.csv"
    members.write_text(
        "crew_id,display_name,contact\n"
        "anna,Anna Andersen,anna@example.org\n"
        "has space,Bad Id,\n"
        "bo,,\n"
        "carla,Carla Christensen,\n"
    )
    first = crew(env, "import-crew", str(members), check=False)
    assert first.returncode == 1
    lines = first.stdout.splitlines()
    assert lines[0] == "row 2 (anna): registered"
    assert lines[1].startswith("row 3 (has space): not imported: crew_id")
    assert lines[2].startswith("row 4 (bo): not imported: display_name")
    assert lines[3] == "row 5 (carla): registered"
    assert lines[4] == "2 registered, 0 already crew, 2 not imported, of 4 rows"
    again = crew(env, "import-crew", str(members), check=False)
    assert "0 registered, 2 already crew, 2 not imported" in again.stdout
    eventually(
        env,
        "select crew_id, display_name from crew order by crew_id",
        [
            {"crew_id": "anna", "display_name": "Anna Andersen"},
            {"crew_id": "carla", "display_name": "Carla Christensen"},
        ],
    )
    assert sql(
        env, "select count(*) as n from event_log where type = 'onboarding.crew_member_registered'"
    ) == [{"n": 2}]
