"""The docs are part of the contract: they must say what the code does."""

from __future__ import annotations

import argparse
import json
import re
import tomllib
from pathlib import Path

import duckdb
import pytest

from house.contract import write_schemas
from house.subcommands.reading import cmd_views
from projections.projection import VIEWS, Projection

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_schemas_are_what_crew_schemas_writes(tmp_path: Path) -> None:
    for written in write_schemas(tmp_path):
        committed = ROOT / "docs" / "schemas" / written.relative_to(tmp_path)
        assert committed.exists(), f"run `make schemas`: {committed} is missing"
        assert json.loads(committed.read_text()) == json.loads(written.read_text()), (
            f"run `make schemas`: {committed} is stale"
        )


def test_the_asyncapi_document_lists_every_command_and_event_subject() -> None:
    doc = json.loads((ROOT / "docs" / "schemas" / "asyncapi.json").read_text())
    addresses = {channel["address"] for channel in doc["channels"].values()}
    assert "crew.cmd.meals.volunteer_to_cook" in addresses
    assert "crew.evt.meals.{aggregate_id}.volunteered_to_cook" in addresses


def documented_columns() -> dict[str, list[tuple[str, str]]]:
    """Per `## name` section of docs/views.md, its column table: (column, type)."""
    views: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in (ROOT / "docs" / "views.md").read_text().splitlines():
        if heading := re.match(r"^## ([\w.]+)", line):
            current = heading[1]
            views[current] = []
        elif current and (cell := re.match(r"^\| `(\w+)` \| ([^|]+?) \|", line)):
            views[current].append((cell[1], cell[2]))
    return views


def documented_type(duckdb_type: str) -> str:
    """How views.md writes a DuckDB type: TIMESTAMPTZ, and STRUCT[] without its fields."""
    short = duckdb_type.replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")
    return re.sub(r"^STRUCT\(.*\)", "STRUCT", short)


def everything_the_projector_creates(
    projection: Projection,
) -> dict[str, duckdb.DuckDBPyConnection]:
    """Every view and table a coordinator can query, by the name they query it with."""
    found: dict[str, duckdb.DuckDBPyConnection] = {}
    for con in (projection.con, projection.restricted):
        rows = con.execute(
            "select database_name, view_name from duckdb_views() where not internal "
            "union all select database_name, table_name from duckdb_tables() where not internal"
        ).fetchall()
        for database, name in rows:
            found[f"{database}.{name}" if database == "personal" else name] = con
    return found


def test_every_column_of_every_view_is_documented_in_order_with_its_type(tmp_path: Path) -> None:
    projection = Projection(tmp_path / "views.duckdb")
    documented = documented_columns()
    created = everything_the_projector_creates(projection)
    assert {view.name for view in VIEWS} <= set(created)
    tables_views_are_made_of = {
        "crew_registry_rows", "meal_plan_rows", "participation_rows", "rota_rows",
        "membership_changes", "occurrence_changes", "occurrence_history",
    }  # fmt: skip
    assert tables_views_are_made_of <= set(created), "`crew sql` reads these: document them"
    for name, con in sorted(created.items()):
        described = [
            (row[0], documented_type(row[1])) for row in con.execute(f"describe {name}").fetchall()
        ]
        assert documented.get(name) == described, f"docs/views.md ## {name}"
    projection.close()


def test_crew_views_prints_the_section_of_every_view(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    projection = Projection(tmp_path / "views.duckdb")
    created = everything_the_projector_creates(projection)
    projection.close()
    for name in created:
        assert cmd_views(argparse.Namespace(view=name)) == 0, name
        assert capsys.readouterr().out.startswith(f"## {name}\n"), name
    assert cmd_views(argparse.Namespace(view="no_such_view")) == 1


def test_an_installed_crew_views_reads_the_copy_the_wheel_ships(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (ROOT / "pyproject.toml").open("rb") as pyproject:
        data_files = tomllib.load(pyproject)["tool"]["setuptools"]["data-files"]
    assert data_files == {"share/crew": ["docs/views.md"]}, "the wheel ships docs/views.md"
    no_source = tmp_path / "site-packages" / "docs" / "views.md"
    shipped = tmp_path / "share" / "crew" / "views.md"
    shipped.parent.mkdir(parents=True)
    shipped.write_text((ROOT / "docs" / "views.md").read_text())
    assert cmd_views(argparse.Namespace(view="meal_stats"), places=[no_source, shipped]) == 0
    assert capsys.readouterr().out.startswith("## meal_stats\n")
    assert cmd_views(argparse.Namespace(view=None), places=[no_source]) == 1
    assert "read docs/views.md in the crew source" in capsys.readouterr().err


def test_every_command_that_acts_defaults_to_the_same_coordinator() -> None:
    from house import client
    from house.cli import parser

    acting = (["send", "meals.plan_meal", "{}"], ["forget", "anna"], ["import-crew", "x.csv"])
    actors = {parser().parse_args(args).actor for args in acting}
    assert actors == {client.coordinator()}
    assert client.coordinator().startswith("coordinator:")


def test_the_nats_rights_table_says_what_the_auth_matrix_checks_against_the_server() -> None:
    """docs/operations.md's table per NATS user against the matrix's own table of rights
    (tests/faults/test_auth.py), which the real server is checked against."""
    from tests.faults import test_auth as matrix

    def allowed(action: str, subject: str) -> set[str]:
        return next(who for a, s, who in matrix.MATRIX if (a, s) == (action, subject))

    text = (ROOT / "docs" / "operations.md").read_text()
    lines = text[text.index("| NATS user |") :].splitlines()
    rows = {}
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[re.findall(r"`([^`]+)`", cells[0])[0]] = cells[1:]
    assert set(rows) == set(matrix.USERS)
    commands = {c: allowed("publish", f"crew.cmd.{c}") for c in matrix.COMMAND_TYPES}

    def named(cell: str, pattern: str) -> set[str]:
        return {n for n in re.findall(r"`([^`]+)`", cell) if re.fullmatch(pattern, n)}

    for user, (log, reads, writes, sends, consumers, inboxes) in rows.items():
        if user == "house":
            assert "everything" in log
            continue
        buckets = matrix.BUCKET_RIGHTS
        assert ("reads" in log) == (user in matrix.LOG_READERS), user
        # a follower reads and writes its own key of CREW_FOLLOWERS, and says so
        own = {"CREW_FOLLOWERS"} if user in matrix.FOLLOWERS.values() else set()
        for cell in (reads, writes):
            assert ("its own key only" in cell) == bool(own), user
        readable = {b for b, r in buckets.items() if user in r[0]}
        assert named(reads, "CREW_[A-Z_]+") == readable | own, user
        assert (
            named(writes, "CREW_[A-Z_]+") == {b for b, r in buckets.items() if user in r[1]} | own
        )
        erases = user in buckets["CREW_PERSONAL_KEYS"][2]
        assert ("erases" in writes) == erases, user
        sent = {c for c, who in commands.items() if user in who}
        assert (sent == set(commands)) == sends.startswith("all"), user
        if not sends.startswith("all"):
            assert named(sends, r"[a-z]+\.[a-z_]+") == sent, user
        followers = {d for d, owner in matrix.FOLLOWERS.items() if owner == user}
        assert named(consumers, r"[a-z]+-follows-[a-z]+") == followers, user
        assert ("replays" in consumers) == (user in matrix.REPLAYERS), user
        ordered = user in allowed("publish", "$JS.API.CONSUMER.CREATE.CREW_EVENTS")
        assert ("ordered" in consumers) == ordered, user
        follows = user in allowed("subscribe", "crew.evt.>")
        assert ("the events as they happen" in inboxes) == follows, user
