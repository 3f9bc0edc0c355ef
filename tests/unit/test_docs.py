"""The docs are part of the contract: they must say what the code does."""

from __future__ import annotations

import json
import re
from pathlib import Path

from crew.contract import write_schemas
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


def documented_columns() -> dict[str, list[str]]:
    views: dict[str, list[str]] = {}
    current = None
    for line in (ROOT / "docs" / "views.md").read_text().splitlines():
        if heading := re.match(r"^## ([\w.]+)", line):
            current = heading[1]
            views[current] = []
        elif current and (cell := re.match(r"^\| `(\w+)` \|", line)):
            views[current].append(cell[1])
    return views


def test_every_column_of_every_view_is_documented_in_order(tmp_path: Path) -> None:
    projection = Projection(tmp_path / "views.duckdb")
    documented = documented_columns()
    public = [view.name for view in VIEWS] + ["dead_letters", "projector_checkpoint"]
    restricted = {view.name for view in VIEWS if view.where == "restricted"}
    for view in public:
        con = projection.restricted if view in restricted else projection.con
        columns = [row[0] for row in con.execute(f"describe {view}").fetchall()]
        assert documented.get(view) == columns, view
    projection.close()
