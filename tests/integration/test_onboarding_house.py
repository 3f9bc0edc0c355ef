"""Onboarding and erasure on a running house, through the `crew` command only."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import msgspec
import nats
from nats.aio.client import Client as NATS

from crew import settings
from crew.personal import (
    FORGOTTEN_MARKER,
    KEYS_BUCKET,
    JetStreamVault,
    ensure_vault,
    seal_event,
)
from house import client
from house.natsserver import NatsServer
from schemas import meals as m
from tests.conftest import start_house
from tests.integration.cli import crew, eventually, send, sql

Env = dict[str, str]
House = tuple[Env, subprocess.Popen[str]]
NAME = "Zebulon Quixtwhistle"


def sql_restricted(env: Env, query: str) -> list[dict]:
    rows: list[dict] = json.loads(
        crew(env, "sql", "--restricted", "--format", "json", query).stdout
    )
    return rows


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
    # Redirected is redirected: crew only by coming back as a new arrival.
    direct = send(env, "onboarding.register_crew_member", {"crew_id": "otto", "display_name": "O"})
    assert (direct["status"], direct["code"]) == ("refused", "already_redirected")
    # An id the house never saw is not forgotten (and so blocked for good) by a slip.
    typo = crew(env, "forget", "nroa", check=False)
    assert typo.returncode == 1 and "never seen nroa" in typo.stderr
    forgotten = "select count(*) as n from event_log where type = 'onboarding.person_forgotten'"
    assert sql(env, forgotten) == [{"n": 0}]


# Every personal thing the person typed or was told about them, each findable on its own.
SECRETS = {
    "display_name": NAME,
    "contact": "zq@example.org",
    "brought_by": "Plumtreeaunt",
    "interest": "Marzipanmaking",
    "notes": "Gloxiniatalk",
    "diet_note": "Vermilionbeans",
    "withdraw_reason": "Sneezewortcold",
    "redirected_to": "Quagmirecollective",  # where a newcomer, zr, was pointed
}
LEAKS = [s.encode() for s in SECRETS.values()] + [b"Quixtwhistle"]
FORGOTTEN = "forgotten crew member"
PARTY = {
    "series_id": "cleaning",
    "kind": "cleaning_party",
    "title": "Cleaning party",
    "weekdays": [3],
    "start": "17:00",
    "end": "19:00",
    "starts_on": "2030-01-07",
    "weeks_ahead": 1,
    "tasks": [{"task": "kitchen", "capacity": 2}],
    "at": "2030-01-07T09:00:00+01:00",
}
NAMES_SHOWN = (
    "select (select display_name from crew where crew_id = 'zq') as crew, "
    "(select helper_names from meal_plan where meal_id = 'tue') as meal_helpers, "
    "(select people_names from rota where occurrence_id = 'cleaning-20300110') as party, "
    "(select display_name from crew_contributions where crew_id = 'zq') as contributions"
)
COUNTS = (
    "select * exclude (display_name, days_since_last) from crew_contributions "
    "where crew_id in ('zq', 'anna') order by crew_id"
)


def everything_readable(env: Env) -> dict[str, bytes]:
    """Every table and view either `crew sql` can reach (as information_schema lists them),
    the log as `crew events` prints it (text and JSON), and every file of the house: the DuckDB
    file, its WAL and snapshot, the NATS store, the logs."""
    found: dict[str, bytes] = {}
    for flags in ([], ["--restricted"]):
        tables = json.loads(
            crew(
                env,
                "sql",
                *flags,
                "--format",
                "json",
                "select table_catalog, table_schema, table_name from information_schema.tables",
            ).stdout
        )
        assert len(tables) >= (2 if flags else 20), tables
        for t in tables:
            name = f"{t['table_catalog']}.{t['table_schema']}.{t['table_name']}"
            rows = crew(env, "sql", *flags, "--format", "csv", f"select * from {name}").stdout
            found[f"sql {' '.join(flags)} {name}"] = rows.encode()
    found["crew events"] = crew(env, "events").stdout.encode()
    found["crew events --format json"] = crew(env, "events", "--format", "json").stdout.encode()
    for path in Path(env["CREW_HOME"]).rglob("*"):
        if path.is_file():
            found[str(path)] = path.read_bytes()
    assert any(p.endswith(".duckdb") for p in found) and any(p.endswith(".log") for p in found)
    return found


def assert_nowhere(env: Env) -> None:
    for where, content in everything_readable(env).items():
        for secret in LEAKS:
            assert secret not in content, f"{secret!r} in {where}"


def test_a_forgotten_person_is_in_no_view_no_event_no_file_and_no_rebuild_but_counts_stay(
    house: House, tmp_path: Path
) -> None:
    env, _ = house
    # A newcomer's whole way in: arrival, the conversation, the welcome, then contributions.
    accepted(
        send(env, "onboarding.register_crew_member", {"crew_id": "anna", "display_name": "Anna"})
    )
    accepted(
        send(
            env,
            "onboarding.register_newcomer",
            {
                "newcomer_id": "zq",
                "display_name": NAME,
                "brought_by": SECRETS["brought_by"],
                "interests": [SECRETS["interest"]],
                "contact": SECRETS["contact"],
            },
        )
    )
    accepted(
        send(
            env,
            "onboarding.schedule_conversation",
            {"newcomer_id": "zq", "host_crew_id": "anna", "when": "2030-01-07T16:00:00+01:00"},
        )
    )
    accepted(
        send(
            env,
            "onboarding.record_conversation",
            {"newcomer_id": "zq", "host_crew_id": "anna", "notes": SECRETS["notes"]},
        )
    )
    accepted(
        send(env, "onboarding.onboard_newcomer", {"newcomer_id": "zq", "buddy_crew_id": "anna"})
    )
    accepted(send(env, "onboarding.register_newcomer", {"newcomer_id": "zr", "display_name": "R"}))
    accepted(
        send(env, "onboarding.record_conversation", {"newcomer_id": "zr", "host_crew_id": "anna"})
    )
    accepted(
        send(
            env,
            "onboarding.redirect_newcomer",
            {"newcomer_id": "zr", "to": SECRETS["redirected_to"]},
        )
    )
    for meal, date in (("tue", "2030-01-08"), ("wed", "2030-01-09")):
        accepted(send(env, "meals.plan_meal", {"meal_id": meal, "date": date, "helper_slots": 2}))
        accepted(
            send(
                env, "meals.volunteer_to_cook", {"meal_id": meal, "crew_id": "zq", "role": "helper"}
            )
        )
    accepted(
        send(
            env,
            "meals.volunteer_to_cook",
            {"meal_id": "tue", "crew_id": "anna", "role": "head_cook"},
        )
    )
    accepted(
        send(
            env,
            "meals.withdraw",
            {"meal_id": "wed", "crew_id": "zq", "reason": SECRETS["withdraw_reason"]},
        )
    )
    accepted(
        send(
            env,
            "meals.sign_up_to_eat",
            {"meal_id": "tue", "crew_id": "zq", "diet_note": SECRETS["diet_note"]},
        )
    )
    accepted(send(env, "rota.schedule_series", PARTY))
    eventually(
        env, "select count(*) as n from rota where occurrence_id = 'cleaning-20300110'", [{"n": 1}]
    )
    accepted(
        send(
            env,
            "rota.join_cleaning_party",
            {"occurrence_id": "cleaning-20300110", "crew_id": "zq", "at": PARTY["at"]},
        )
    )

    # Before: the name is where everyday views show names, the rest only where it belongs.
    eventually(
        env,
        NAMES_SHOWN,
        [{"crew": NAME, "meal_helpers": [NAME], "party": [NAME], "contributions": NAME}],
    )
    details = sql_restricted(env, "select * from people_details where person_id = 'zq'")
    assert details[0]["contact"] == SECRETS["contact"]
    assert details[0]["brought_by"] == SECRETS["brought_by"]
    assert details[0]["interests"] == [SECRETS["interest"]]
    notes = sql_restricted(
        env, "select conversations[1].notes as n from conversation_notes where person_id = 'zq'"
    )
    assert notes == [{"n": SECRETS["notes"]}]
    log = crew(env, "events", "--format", "json").stdout
    assert "sealed:v1:zq:display_name:" in log and "sealed:v1:zq:reason:" in log
    assert not any(secret.encode() in log.encode() for secret in SECRETS.values()), (
        "the log holds personal data only sealed, even before anyone is forgotten"
    )
    counts = sql(env, COUNTS)
    assert counts[1]["crew_id"] == "zq", counts  # their meal and party are still to come

    # The right of access: everything, readable, in a file only its owner can read.
    exported_file = tmp_path / "zq.json"
    crew(env, "export", "zq", "--out", str(exported_file))
    assert oct(exported_file.stat().st_mode & 0o777) == "0o600"
    exported = json.loads(exported_file.read_text())
    printed = json.loads(crew(env, "export", "zq").stdout)
    assert {**printed, "exported_at": None} == {**exported, "exported_at": None}
    person = exported["personal_data"]
    assert (person["display_name"], person["contact"]) == (NAME, SECRETS["contact"])
    assert (person["brought_by"], person["interests"]) == (
        SECRETS["brought_by"],
        [SECRETS["interest"]],
    )
    assert person["conversation_notes"][0]["notes"] == SECRETS["notes"]
    payloads = [e["payload"] for e in exported["events"]]
    assert {"diet_note": SECRETS["diet_note"]}.items() <= next(
        p for p in payloads if p["type"] == "meals.signed_up_to_eat"
    ).items()
    assert any(p.get("reason") == SECRETS["withdraw_reason"] for p in payloads)
    assert {"meal_helper", "cleaning_party"} <= {p["kind"] for p in exported["participation"]}

    funnel = "select redirected_to from onboarding_funnel where newcomer_id = 'zr'"
    assert sql(env, funnel) == [{"redirected_to": SECRETS["redirected_to"]}]

    assert "forgotten" in crew(env, "forget", "zq").stdout
    assert "forgotten" in crew(env, "forget", "zr").stdout
    eventually(
        env,
        NAMES_SHOWN,
        [
            {
                "crew": FORGOTTEN,
                "meal_helpers": [FORGOTTEN],
                "party": [FORGOTTEN],
                "contributions": FORGOTTEN,
            }
        ],
    )
    assert sql(env, "select forgotten from crew where crew_id = 'zq'") == [{"forgotten": True}]
    assert sql(env, COUNTS) == counts, "what they did still counts"
    assert sql_restricted(
        env, "select count(*) as n from people_details where person_id = 'zq'"
    ) == [{"n": 0}]
    assert_nowhere(env)

    assert "rebuilt every view" in crew(env, "rebuild").stderr
    eventually(
        env,
        NAMES_SHOWN,
        [
            {
                "crew": FORGOTTEN,
                "meal_helpers": [FORGOTTEN],
                "party": [FORGOTTEN],
                "contributions": FORGOTTEN,
            }
        ],
    )
    assert sql(env, COUNTS) == counts
    assert_nowhere(env)
    after = json.loads(crew(env, "export", "zq").stdout)
    assert isinstance(after["personal_data"], str) and "forgotten" in after["personal_data"]
    assert not any(secret in json.dumps(after) for secret in SECRETS.values())


def test_import_crew_reports_each_row_by_its_lines_and_imports_the_good_ones(
    house: House, tmp_path: Path
) -> None:
    env, _ = house
    members = tmp_path / "members.csv"
    members.write_bytes(
        b"crew_id,display_name,contact\n"
        b"anna,Anna Andersen,anna@example.org\n"
        b"has space,Bad Id,\n"
        b"bo,,\n"
        b'carla,Carla Christensen,"phone:\n12 34 56 78"\n'  # one row on two lines
        b'dora,"Dora "the" Dane",\n'
        b"eve,Ev\xe9 Eriksen,\n"  # Latin-1, not UTF-8
        b"anna,Anna Other,\n"
        b",Frida Fjord,\n"
    )
    first = crew(env, "import-crew", str(members), check=False)
    assert first.returncode == 1, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0] == "row 2 (anna): registered"
    assert lines[1].startswith("row 3 (has space): not imported: crew_id")
    assert lines[2].startswith("row 4 (bo): not imported: display_name")
    assert lines[3] == "row 5-6 (carla): registered"
    assert lines[4].startswith("row 7: not imported: broken quoting")
    assert lines[5].startswith("row 8: not imported: byte 0xe9 is not UTF-8 text")
    assert lines[6] == (
        "row 9 (anna): not imported: crew already, under another name; the name was not changed"
    )
    made = re.fullmatch(r"row 10 \((c-[a-z2-7]{8})\): registered, with this new crew id", lines[7])
    assert made, lines[7]
    assert lines[8] == "3 registered, 0 already crew, 5 not imported, of 8 rows"
    frida = made[1]
    eventually(
        env,
        "select crew_id, display_name from crew order by display_name",
        [
            {"crew_id": "anna", "display_name": "Anna Andersen"},
            {"crew_id": "carla", "display_name": "Carla Christensen"},
            {"crew_id": frida, "display_name": "Frida Fjord"},
        ],
    )
    again = crew(env, "import-crew", str(members), check=False).stdout.splitlines()
    assert again[0] == "row 2 (anna): already crew, nothing to do"
    assert again[7].startswith(f"row 10 ({frida}): already crew, by the same name")
    assert again[8] == "0 registered, 3 already crew, 5 not imported, of 8 rows"
    assert sql(
        env, "select count(*) as n from event_log where type = 'onboarding.crew_member_registered'"
    ) == [{"n": 3}]

    names_only = tmp_path / "names.csv"
    names_only.write_text("display_name\nGus Gran\n")
    gus = crew(env, "import-crew", str(names_only)).stdout.splitlines()
    assert re.fullmatch(r"row 2 \(c-[a-z2-7]{8}\): registered, with this new crew id", gus[0])

    # The onboarding service stops answering midway: what was done so far, then stop.
    status = crew(env, "status").stdout
    answering = re.search(r"^onboarding\s.*\(pid (\d+)\)", status, re.M)
    assert answering, status
    onboarding_pid = int(answering[1])
    midway = tmp_path / "midway.csv"
    midway.write_text(
        'crew_id,display_name\nida,"Ida "I" Isaksen"\njon,Jon Jensen\nkim,Kim Kofoed\n'
    )
    os.kill(onboarding_pid, signal.SIGSTOP)
    try:
        stopped = crew(env, "import-crew", str(midway), check=False)
    finally:
        os.kill(onboarding_pid, signal.SIGCONT)
    assert stopped.returncode == 4
    out = stopped.stdout.splitlines()
    assert out[0].startswith("row 2: not imported: broken quoting")
    assert out[1].startswith("row 3 (jon): no answer, it may or may not be registered")
    assert out[2].startswith("stopped at row 3: 0 registered, 0 already crew, 1 not imported")
    assert len(out) == 3, "kim's row was not sent"


async def test_a_person_forgotten_through_one_process_is_never_sealed_again_by_another(
    nc: NATS, nats_server: NatsServer
) -> None:
    """Two processes, each with its own vault (say meals, and the onboarding instance that
    handles `crew forget`): the one that did not forget must notice, not seal with its copy."""
    meals_nc = await nats.connect(nats_server.url)
    try:
        meals, onboarding = JetStreamVault(meals_nc), JetStreamVault(nc)
        vegan = m.SignedUpToEat(meal_id="mon", crew_id="anna", diet_note="vegan")
        assert msgspec.json.decode(await seal_event(vegan, meals))["diet_note"].startswith(
            "sealed:v1:anna:"
        )
        old_key = await meals.key("anna")  # reading keeps it in memory, as a projector would
        assert old_key is not None and old_key == await onboarding.key("anna")

        await onboarding.forget("anna")

        later = m.SignedUpToEat(meal_id="tue", crew_id="anna", diet_note="still vegan")
        assert msgspec.json.decode(await seal_event(later, meals))["diet_note"] == ""
        assert await meals.key("anna") is None, "the copy it held is dropped too"
        assert await meals.key("anna", create=True) is None, "and no new key is ever made"
    finally:
        await meals_nc.close()


async def test_a_key_made_while_a_person_is_being_forgotten_is_erased_too(
    nc: NATS, nats_server: NatsServer
) -> None:
    """`crew forget` racing sealers in other processes: whatever keys they were handed, none
    survives, not in the bucket and not on disk."""
    sealers = [JetStreamVault(await nats.connect(nats_server.url)) for _ in range(4)]
    handed: list[bytes] = []

    async def seal_for_a_while() -> None:
        for sealer in sealers * 25:
            if (key := await sealer.key("anna", create=True)) is not None:
                handed.append(key)

    first = await sealers[0].key("anna", create=True)
    assert first is not None
    await asyncio.gather(seal_for_a_while(), JetStreamVault(nc).forget("anna"), seal_for_a_while())
    assert await sealers[1].key("anna", create=True) is None
    for sealer in sealers:
        await sealer._nc.close()
    nats_server.stop()  # everything on disk
    stored = b"".join(f.read_bytes() for f in nats_server.store.rglob("*") if f.is_file())
    assert handed, "the sealers ran"
    assert not any(key in stored for key in {first, *handed})


async def test_a_forget_stopped_before_the_erase_is_finished_by_its_retry_or_the_next_start(
    nc: NATS, nats_server: NatsServer
) -> None:
    """A forget that left the marker but not yet erased the key (it crashed in between): the
    retry erases it, and so does the sweep onboarding runs at every start."""
    vault = JetStreamVault(nc)
    keys = {person: await vault.key(person, create=True) for person in ("anna", "bo")}
    kv = await nc.jetstream().key_value(KEYS_BUCKET)
    for person in keys:
        await kv.put(person, FORGOTTEN_MARKER)  # the first step only, as a crash leaves it
    await vault.forget("anna")  # the retry
    assert await vault.erase_forgotten() == 1, "bo's key was left"
    assert await vault.erase_forgotten() == 0
    assert await vault.key("bo", create=True) is None
    nats_server.stop()
    stored = b"".join(f.read_bytes() for f in nats_server.store.rglob("*") if f.is_file())
    assert not any(key is None or key in stored for key in keys.values())


def stored_in(home: Path) -> bytes:
    return b"".join(f.read_bytes() for f in home.rglob("*") if f.is_file())


async def key_of(env: Env, person: str) -> bytes | None:
    nc = await client.connect(settings.find_nats_url(Path(env["CREW_HOME"])))
    try:
        return await JetStreamVault(nc).key(person)
    finally:
        await nc.close()


def test_a_forget_killed_between_marker_and_erase_is_finished_at_restart_and_by_its_retry(
    crew_env: Env,
) -> None:
    faulty = {**crew_env, "CREW_FAULT_EXIT_AFTER_FORGET_MARKER": "1"}
    with start_house(faulty) as (env, _):
        home = Path(env["CREW_HOME"])
        accepted(
            send(env, "onboarding.register_crew_member", {"crew_id": "zq", "display_name": NAME})
        )
        key = asyncio.run(key_of(env, "zq"))
        assert key is not None and key in stored_in(home)
        cut = crew(env, "forget", "zq", check=False)
        assert cut.returncode != 0, "onboarding died after the marker, before answering"
        deadline = time.monotonic() + 60
        while crew(env, "status", check=False).returncode != 0:  # `crew up` restarts it
            assert time.monotonic() < deadline, "onboarding did not come back"
            time.sleep(0.5)
        assert key not in stored_in(home), "the restart's sweep erased the key"
        assert "forgotten" in crew(env, "forget", "zq").stdout  # the retry finishes the rest
        eventually(
            env,
            "select display_name, forgotten from crew where crew_id = 'zq'",
            [{"display_name": FORGOTTEN, "forgotten": True}],
        )
        assert key not in stored_in(home) and NAME.encode() not in stored_in(home)


async def test_an_older_keys_bucket_is_widened_by_an_admin_only(nats_server: NatsServer) -> None:
    client = await nats.connect(nats_server.url)
    js = client.jetstream()
    await ensure_vault(client)
    info = await js.stream_info(f"KV_{KEYS_BUCKET}")
    info.config.max_msgs_per_subject = 1  # as crew made it before
    await js.update_stream(info.config)
    await ensure_vault(client)
    assert (await js.stream_info(f"KV_{KEYS_BUCKET}")).config.max_msgs_per_subject == 1
    await ensure_vault(client, admin=True)
    assert (await js.stream_info(f"KV_{KEYS_BUCKET}")).config.max_msgs_per_subject == 2
    await client.close()
