"""Onboarding and erasure in a running house: forgetting end to end (files, log, exports,
rebuilds), importing members through `crew import-crew`, and the personal-data vault on a real
nats-server. (What forgetting leaves in the views is in tests/scenarios/test_onboarding.py.)"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
from pathlib import Path

import httpx
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
from tests.integration.cli import connected, crew, eventually, send, send_over, sql, sql_over
from tests.polling import eventually as poll
from tests.scenarios.test_onboarding import (
    COUNTS,
    FORGOTTEN,
    LEAKS,
    NAME,
    NAMES_SHOWN,
    SECRETS,
    a_newcomers_way_in,
)

Env = dict[str, str]
House = tuple[Env, subprocess.Popen[str]]


def accepted(reply: dict) -> list[str]:
    assert reply["status"] == "accepted", reply
    return [e["type"] for e in reply["events"]]


async def the_way_in(env: Env) -> None:
    async with connected(env) as nc:
        for command in a_newcomers_way_in():
            body = msgspec.to_builtins(command)
            accepted(await send_over(nc, body.pop("type"), body))


async def every_table(env: Env) -> dict[str, bytes]:
    """Every table and view either query path answers (as information_schema lists them)."""
    found: dict[str, bytes] = {}
    async with connected(env) as nc:
        for restricted in (False, True):
            listing = (
                "select table_catalog, table_schema, table_name from information_schema.tables"
            )
            tables = await sql_over(nc, listing, restricted)
            assert len(tables) >= (2 if restricted else 20), tables
            for t in tables:
                name = f"{t['table_catalog']}.{t['table_schema']}.{t['table_name']}"
                rows = await sql_over(nc, f"select * from {name}", restricted)
                found[f"sql {'--restricted ' if restricted else ''}{name}"] = msgspec.json.encode(
                    rows
                )
    return found


def everything_readable(env: Env) -> dict[str, bytes]:
    """Every table and view the query service answers, the log as `crew events` prints it
    (text and JSON), and every file of the house: the DuckDB file, its WAL and snapshot, the
    NATS store, the logs."""
    found = asyncio.run(every_table(env))
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


def test_a_forgotten_person_is_in_no_file_no_log_no_export_and_no_rebuild_but_counts_stay(
    house: House, tmp_path: Path
) -> None:
    env, _ = house
    asyncio.run(the_way_in(env))
    eventually(
        env,
        NAMES_SHOWN,
        [{"crew": NAME, "meal_helpers": [NAME], "party": [NAME], "contributions": NAME}],
    )
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

    # An id the house never saw is not forgotten (and so blocked for good) by a slip.
    typo = crew(env, "forget", "nroa", check=False)
    assert typo.returncode == 1 and "never seen nroa" in typo.stderr
    assert "forgotten" in crew(env, "forget", "zq").stdout
    assert "forgotten" in crew(env, "forget", "zr").stdout
    forgotten = [
        {
            "crew": FORGOTTEN,
            "meal_helpers": [FORGOTTEN],
            "party": [FORGOTTEN],
            "contributions": FORGOTTEN,
        }
    ]
    eventually(env, NAMES_SHOWN, forgotten)
    assert sql(env, COUNTS) == counts, "what they did still counts"
    assert sql(
        env, "select count(*) as n from event_log where type = 'onboarding.person_forgotten'"
    ) == [{"n": 2}], "the slip forgot nobody"
    assert_nowhere(env)

    assert "rebuilt every view" in crew(env, "rebuild").stderr
    eventually(env, NAMES_SHOWN, forgotten)
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
        stopped = crew(env, "import-crew", str(midway), "--wait", "2", check=False)
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
        cut = crew(env, "forget", "zq", "--wait", "2", check=False)  # the answer never comes
        assert cut.returncode != 0, "onboarding died after the marker, before answering"
        poll(  # `crew up` restarts it
            lambda: crew(env, "status", check=False).returncode == 0,
            seconds=60,
            every=0.5,
            what="onboarding came back",
        )
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


def test_a_forget_sent_by_hand_ends_the_persons_page_and_calendar_links(house: House) -> None:
    """`onboarding.forget_person` sent without `crew forget` (which ends the links itself): the
    onboarding service hears the forget and ends the person's page and calendar tokens."""
    env, _ = house
    body = {"crew_id": "lo", "display_name": "Lo"}
    assert send(env, "onboarding.register_crew_member", body)["status"] == "accepted"
    page = crew(env, "link", "lo").stdout.split("#token=")[1].split()[0]
    feed = re.search(r"http://\S+", crew(env, "ical", "lo").stdout)
    assert feed, "crew ical printed no address"
    port = json.loads((Path(env["CREW_HOME"]) / "house.json").read_text())["http_port"]
    me = f"http://127.0.0.1:{port}/api/v1/me"

    def answers() -> tuple[int, int]:
        with httpx.Client(timeout=20) as http:
            shown = http.get(me, headers={"Authorization": f"Bearer {page}"}).status_code
            return shown, http.get(feed[0]).status_code

    poll(answers, until=lambda got: got == (200, 200), what="lo's page and feed answer")
    assert send(env, "onboarding.forget_person", {"person_id": "lo"})["status"] == "accepted"
    poll(answers, until=lambda got: got == (401, 404), what="the forget ends both links")
