"""`crew up` as a user runs it: a real process tree, driven only through the `crew` CLI."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from schemas.common import house_today
from tests.conftest import crew_environment, start_house
from tests.integration.cli import crew, eventually, sql
from tests.polling import eventually as poll

Env = dict[str, str]


def test_a_volunteer_shows_up_in_meal_plan_and_a_retry_changes_nothing(
    house: tuple[dict[str, str], subprocess.Popen[str]],
) -> None:
    env, _ = house
    crew(env, "send", "meals.plan_meal", '{"meal_id":"mon","date":"2030-01-07","helper_slots":2}')
    body = '{"meal_id":"mon","crew_id":"anna","role":"head_cook"}'
    first = crew(env, "send", "--command-id", "k1", "meals.volunteer_to_cook", body).stdout
    assert json.loads(first)["status"] == "accepted"
    eventually(
        env, "select head_cook from meal_plan where meal_id = 'mon'", [{"head_cook": "anna"}]
    )
    events_before = crew(env, "events").stdout
    assert crew(env, "send", "--command-id", "k1", "meals.volunteer_to_cook", body).stdout == first
    assert crew(env, "events").stdout == events_before
    assert "meals.volunteered_to_cook" in events_before and "cause=k1" in events_before


def test_rebuild_shows_progress_and_sigterm_stops_every_process(
    house: tuple[dict[str, str], subprocess.Popen[str]],
) -> None:
    env, process = house
    crew(env, "send", "meals.plan_meal", '{"meal_id":"tue","date":"2030-01-08","helper_slots":1}')
    rebuilt = crew(env, "rebuild")
    lines = rebuilt.stderr.splitlines()  # piped: a line per update, the summary on its own
    assert "rebuilding:         1 / 1 events (100.0%), " in lines[0], "progress is shown"
    assert lines[-1].startswith("rebuilt every view from 1 events"), lines
    assert "\r" not in rebuilt.stderr
    assert sql(env, "select meal_id from meal_plan") == [{"meal_id": "tue"}]
    house_file = json.loads((Path(env["CREW_HOME"]) / "house.json").read_text())
    assert house_file["components"] == [
        "meals",
        "rota",
        "onboarding",
        "notices",
        "activities",
        "projector",
        "query",
        "kiosk",
    ]
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(30) == 0
    leftovers = subprocess.run(
        ["pgrep", "-g", str(process.pid)], capture_output=True, text=True
    ).stdout
    assert leftovers.strip() == ""
    assert not (Path(env["CREW_HOME"]) / "house.json").exists()


def test_a_query_needing_too_much_memory_fails_alone_and_the_projector_folds_on(
    house: tuple[dict[str, str], subprocess.Popen[str]],
) -> None:
    """A string is allocated outside DuckDB's memory_limit: without the projector process's
    memory cap this query took 2.9 GB, in the process that folds the log."""
    env, _ = house
    runaway = crew(env, "sql", "select length(repeat('x', 1500000000)) as n", check=False)
    assert runaway.returncode == 1, runaway.stdout
    assert "the query needs more memory than a query may have" in runaway.stderr, runaway.stderr
    status = crew(env, "status", check=False)
    assert status.returncode == 0, status.stdout + status.stderr
    pid = re.search(r"^projector\s+ok \(pid (\d+)\)", status.stdout, re.MULTILINE)
    assert pid, status.stdout
    peak_kb = int(re.findall(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid[1]}/status").read_text())[0])
    assert peak_kb < 1024 * 1024, f"the projector peaked at {peak_kb // 1024} MB"
    body = {"crew_id": "after-runaway", "display_name": "Afterwards"}
    crew(env, "send", "onboarding.register_crew_member", json.dumps(body))
    eventually(  # the projector folds on, names (in its memory) included
        env,
        "select display_name from crew_contributions where crew_id = 'after-runaway'",
        [{"display_name": "Afterwards"}],
    )


def test_export_view_pages_on_when_an_answer_is_cut_at_its_byte_budget(
    crew_env: dict[str, str], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    crew_env["CREW_QUERY_ANSWER_BYTES"] = "1500"  # a page is a few event_log rows, not 100,000
    env, _ = request.getfixturevalue("house")
    for n in range(6):
        body = {"meal_id": f"b{n}", "date": "2030-01-07", "helper_slots": 2}
        crew(env, "send", "meals.plan_meal", json.dumps(body))
    eventually(env, "select count(*) as n from event_log", [{"n": 6}])
    out = tmp_path / "log.json"
    export = crew(env, "export-view", "event_log", "--format", "json", "--out", str(out))
    exported = json.loads(out.read_text())
    assert sorted(row["seq"] for row in exported) == [1, 2, 3, 4, 5, 6], "every row, once"
    pages = export.stderr.count(" rows ...")  # a progress line per page
    assert pages >= 2, export.stderr


def test_crew_views_prints_the_documentation_of_a_view(crew_env: dict[str, str]) -> None:
    out = crew(crew_env, "views", "load_balance").stdout
    assert out.startswith("## load_balance") and "gini" in out


def test_the_snapshot_opens_in_another_process_while_sign_ups_go_on(
    house: tuple[dict[str, str], subprocess.Popen[str]],
) -> None:
    env, _ = house
    crew(
        env,
        "send",
        "onboarding.register_crew_member",
        '{"crew_id":"anna","display_name":"Anna Holm"}',
    )
    crew(env, "send", "meals.plan_meal", '{"meal_id":"snap","date":"2030-01-07","helper_slots":3}')
    crew(
        env,
        "send",
        "meals.volunteer_to_cook",
        '{"meal_id":"snap","crew_id":"anna","role":"helper"}',
    )
    # the snapshot must hold anna's sign-up: wait until the views have it, not a fixed time
    eventually(env, "select helpers from meal_plan where meal_id = 'snap'", [{"helpers": ["anna"]}])
    path = crew(env, "snapshot").stdout.split()[0]
    crew(
        env, "send", "meals.volunteer_to_cook", '{"meal_id":"snap","crew_id":"bo","role":"helper"}'
    )
    reader = (
        "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
        "print(con.execute(\"select helpers, helper_names from meal_plan where meal_id = 'snap'\").fetchall())"
    )
    import sys as _sys

    out = subprocess.run(
        [_sys.executable, "-c", reader, path], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[(['anna'], ['anna'])]", (
        "as of the snapshot, with ids and no names"
    )
    assert b"Anna Holm" not in Path(path).read_bytes()
    crew(
        env,
        "send",
        "meals.volunteer_to_cook",
        '{"meal_id":"snap","crew_id":"carla","role":"helper"}',
    )


def test_a_view_exports_to_csv_json_and_parquet(
    house: tuple[dict[str, str], subprocess.Popen[str]], tmp_path: Path
) -> None:
    import duckdb

    env, _ = house
    for n in range(3):
        crew(
            env,
            "send",
            "meals.plan_meal",
            json.dumps({"meal_id": f"x{n}", "date": "2030-01-07", "helper_slots": 2}),
        )
    eventually(env, "select count(*) as n from meal_plan", [{"n": 3}])
    for fmt in ("csv", "json", "parquet"):
        out = tmp_path / f"meals.{fmt}"
        crew(env, "export-view", "meal_plan", "--format", fmt, "--out", str(out))
        assert out.exists()
    assert (tmp_path / "meals.csv").read_text().splitlines()[0].startswith("meal_id,date,")
    assert len(json.loads((tmp_path / "meals.json").read_text())) == 3
    parquet = (
        duckdb.connect()
        .execute(f"select meal_id, date from '{tmp_path / 'meals.parquet'}' order by 1")
        .fetchall()
    )
    assert [m for m, _ in parquet] == ["x0", "x1", "x2"]
    assert crew(env, "export-view", "meal_plan; drop", check=False).returncode == 2

    def live_types(view: str) -> list[tuple[str, str]]:
        described = sql(env, f"select column_name, column_type from (describe {view})")
        return [(row["column_name"], row["column_type"]) for row in described]

    def parquet_types(path: Path) -> list[tuple[str, str]]:
        con = duckdb.connect()
        return [(n, t) for n, t, *_ in con.execute(f"describe select * from '{path}'").fetchall()]

    # head_cook, seats, cancel_reason... are NULL in every row: their types stay all the same
    assert parquet_types(tmp_path / "meals.parquet") == live_types("meal_plan")
    nulls = duckdb.connect().execute(
        f"select count(*) from '{tmp_path / 'meals.parquet'}' where head_cook is null and seats is null"
    )
    assert nulls.fetchall() == [(3,)]
    for view in ("drifting_away", "dead_letters", "onboarding_funnel"):  # empty in this house
        empty = tmp_path / f"{view}.parquet"
        crew(env, "export-view", view, "--format", "parquet", "--out", str(empty))
        assert parquet_types(empty) == live_types(view), view
        assert duckdb.connect().execute(f"select count(*) from '{empty}'").fetchall() == [(0,)]


def test_export_view_pages_in_a_stable_order_and_reads_again_when_the_views_move_on(
    house: tuple[dict[str, str], subprocess.Popen[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import argparse
    import asyncio

    from crew import sql
    from house import client
    from house.subcommands import reading

    env, _ = house

    def plan(meal_id: str) -> None:
        body = {"meal_id": meal_id, "date": "2030-01-07", "helper_slots": 2}
        crew(env, "send", "meals.plan_meal", json.dumps(body))

    for n in range(5):
        plan(f"p{n}")
    eventually(env, "select count(*) as n from meal_plan", [{"n": 5}])
    monkeypatch.setattr(sql, "MAX_ROWS", 2)  # pages of 2 rows, read by this process
    real = client.request_json
    pages: list[str] = []

    async def a_meal_between_the_first_two_pages(nc: Any, subject: str, *args: Any) -> bytes:
        raw = await real(nc, subject, *args)
        pages.append(subject)
        if len(pages) == 1:  # the house goes on while the view is read
            await asyncio.to_thread(plan, "a-first")  # sorts first: later pages would shift
            await asyncio.to_thread(
                eventually, env, "select count(*) as n from meal_plan", [{"n": 6}]
            )
        return raw

    monkeypatch.setattr(client, "request_json", a_meal_between_the_first_two_pages)
    monkeypatch.setenv("CREW_HOME", env["CREW_HOME"])
    monkeypatch.delenv("CREW_NATS_URL", raising=False)
    out = tmp_path / "meals.json"
    export = argparse.Namespace(view="meal_plan", format="json", out=str(out))
    assert reading.cmd_export_view(export) == 0
    assert "the view changed while it was read; reading it again" in capsys.readouterr().err
    assert len(pages) == 2 + 4, "2 pages, then all 6 rows again: 3 pages of 2 and an empty one"
    exported = [row["meal_id"] for row in json.loads(out.read_text())]
    assert exported == ["a-first", "p0", "p1", "p2", "p3", "p4"], "each row once, in order"

    # 6 rows in pages of 2: the last page is empty, and it carries the checkpoint all the same
    # (a view that shrank before it would show as a changed checkpoint, not as the end)
    monkeypatch.setattr(client, "request_json", real)
    real_sql = client.sql
    answers: list[Any] = []

    async def seen(*args: Any, **kwargs: Any) -> Any:
        answers.append(await real_sql(*args, **kwargs))
        return answers[-1]

    monkeypatch.setattr(client, "sql", seen)
    assert reading.cmd_export_view(export) == 0
    assert [len(a.rows) for a in answers] == [2, 2, 2, 0]
    assert len({a.checkpoint for a in answers}) == 1 and answers[-1].checkpoint is not None


def test_a_version_built_side_by_side_is_queryable_beside_the_live_one_until_the_swap(
    house: tuple[dict[str, str], subprocess.Popen[str]],
) -> None:
    import datetime

    env, _ = house
    for meal, days_ago in (("two-months-ago", 60), ("ten-days-ago", 10)):
        day = (house_today() - datetime.timedelta(days=days_ago)).isoformat()
        crew(
            env,
            "send",
            "meals.plan_meal",
            json.dumps({"meal_id": meal, "date": day, "helper_slots": 2}),
        )
    crew(
        env,
        "send",
        "meals.volunteer_to_cook",
        '{"meal_id":"two-months-ago","crew_id":"anna","role":"head_cook"}',
    )
    query = "select window_months, contributions_in_window as n from crew_contributions where crew_id = 'anna'"
    eventually(env, query, [{"window_months": 6, "n": 1}])
    built = crew(env, "rebuild", "--version", "short", "--window-months", "1")
    assert "built beside the live views" in built.stderr

    def version(q: str) -> list[dict]:
        return json.loads(crew(env, "sql", "--version", "short", "--format", "json", q).stdout)

    assert sql(env, query) == [{"window_months": 6, "n": 1}], "the live views are untouched"
    assert version(query) == [{"window_months": 1, "n": 0}]
    crew(
        env,
        "send",
        "meals.volunteer_to_cook",
        '{"meal_id":"ten-days-ago","crew_id":"anna","role":"head_cook"}',
    )
    poll(  # the version follows the log too
        lambda: version(query),
        until=lambda rows: rows == [{"window_months": 1, "n": 1}],
        what=f"{query} in version short",
    )
    assert sql(env, query) == [{"window_months": 6, "n": 2}]
    crew(env, "rebuild", "--swap", "short")
    assert sql(env, query) == [{"window_months": 1, "n": 1}]
    assert crew(env, "sql", "--version", "short", "select 1", check=False).returncode == 1
    bad = crew(env, "rebuild", "--version", "../x", check=False)
    assert bad.returncode != 0


def test_the_demo_house_fills_every_view_and_shows_carriers_and_drifters(
    crew_env: dict[str, str],
) -> None:
    with start_house(crew_env, "--demo") as (env, _):
        views = ["meal_plan", "rota", "participation", "crew", "crew_contributions", "load_balance",
                 "drifting_away", "meal_stats", "onboarding_funnel", "event_log", "membership_history",
                 "activities", "initiatives"]  # fmt: skip
        for view in views:
            assert sql(env, f"select count(*) > 0 as some from {view}") == [{"some": True}], view
        drifters = {r["crew_id"] for r in sql(env, "select crew_id from drifting_away")}
        assert drifters == {"gustav", "hanne", "ib"}
        busiest = sql(
            env,
            "select max(top_10pct_share) as top, max(gini) as gini from load_balance where period = 'month'",
        )
        assert busiest[0]["top"] > 0.3 and busiest[0]["gini"] > 0.3
        rising = sql(
            env,
            "select list_contains(flatten(list(rising_load)), 'dorte') as seen from load_balance",
        )
        assert rising == [{"seen": True}]
        stages = {r["stage"] for r in sql(env, "select stage from onboarding_funnel")}
        assert stages == {"newcomer", "crew", "redirected"}
        full = sql(env, "select len(waitlist) + guests_waiting as waiting, guests from activities "
                        "where open_places = 0 and guests > 0")  # fmt: skip
        assert full and full[0]["waiting"] > 0, "one activity is full, with a waitlist and guests"
        kinds = sql(env, "select count(distinct role) as n from participation "
                         "where kind = 'contribution'")  # fmt: skip
        assert kinds[0]["n"] >= 4
        assert sql(env, "select count(*) as n from initiatives") == [{"n": 2}]
        lunch = sql(env, "select distinct time from meal_plan where meal_id like 'meal-days%'")
        assert lunch == [{"time": "12:00"}], "the daily joint meal is lunch"


# The tests below share one house that nothing is written to; last, so that it stops early.


@pytest.fixture(scope="module")
def quiet_house(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """One house for the tests that append nothing: how the CLI answers and prints."""
    with start_house(crew_environment(tmp_path_factory.mktemp("quiet") / "home")) as (env, _):
        yield env


def test_the_cli_answers_bad_input_and_refusals_with_clear_exit_codes(quiet_house: Env) -> None:
    env = quiet_house
    bad = crew(env, "send", "meals.volunteer_to_cook", '{"meal_id":"m","crew_id":7}', check=False)
    assert bad.returncode == 2 and '"$.crew_id"' in bad.stdout
    refused = crew(env, "send", "meals.withdraw", '{"meal_id":"nope","crew_id":"x"}', check=False)
    assert refused.returncode == 3 and "meal_not_planned" in refused.stdout
    unknown = crew(env, "send", "bakery.bake", "{}", check=False)
    assert unknown.returncode == 4 and "no bakery service" in unknown.stderr


def test_the_cli_prints_answers_as_a_table_or_csv_and_a_refusal_on_stderr(
    quiet_house: Env,
) -> None:
    """What the query service answers is in tests/scenarios/test_queries.py; here, how."""
    env = quiet_house
    refused = crew(env, "sql", "drop table event_log", check=False)
    assert refused.returncode == 1
    assert "read-only: only SELECT queries are answered (got DROP)" in refused.stderr
    plan = crew(env, "sql", "explain analyze select count(*) from event_log").stdout
    assert "analyzed_plan" in plan, "EXPLAIN (ANALYZE) of a SELECT is answered"
    table = crew(env, "sql", "select 1 as one, 'x' as two").stdout
    assert "one" in table and "(1 row)" in table
    assert crew(env, "sql", "--format", "csv", "select 1 as one").stdout == "one\n1\n"
    assert sql(env, "select count(*) as n from event_log") == [{"n": 0}], "nothing was written"


def test_an_answer_bigger_than_nats_carries_is_cut_or_refused_never_a_timeout(
    quiet_house: Env,
) -> None:
    env = quiet_house
    # 10,000 rows of 1,000 characters: 10 MB of JSON, more than a NATS message (8 MB)
    big = crew(
        env,
        "sql",
        "--format",
        "csv",
        "--max-rows",
        "100000",
        "select i, repeat('x', 1000) as x from range(10000) t(i)",
        check=False,
    )
    assert big.returncode == 0, big.stderr
    lines = big.stdout.splitlines()
    assert 1 < len(lines) < 10_001 and lines[-1].startswith(f"{len(lines) - 2},x")
    one = crew(env, "sql", "select repeat('x', 9000000) as x", check=False)
    assert one.returncode == 1 and "a single row is 9,000,005 bytes" in one.stderr, one.stderr
    assert crew(env, "sql", "select 1 as ok").returncode == 0, "the house answers on"
