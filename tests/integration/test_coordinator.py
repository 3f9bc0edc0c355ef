"""The coordinators' dashboard and the funders' report on the demo house: every figure agrees
with the views, counted again here in Python from their plain rows; the dashboard is for the
coordinator role only; the SQL box downloads CSV and Parquet through the read-only sandbox; the
report holds no name and no id, and its PDF renders to PNG with pdftoppm."""

from __future__ import annotations

import csv
import datetime
import io
import re
import shutil
import statistics
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from schemas.common import house_today
from tests.conftest import crew_environment, start_house
from tests.integration.cli import crew, sql
from tests.integration.test_kiosk_http import base, kiosk_token
from tests.polling import eventually as poll

House = tuple[dict[str, str], subprocess.Popen[bytes]]
START, END = datetime.date(2026, 1, 1), datetime.date(2026, 12, 31)
COUNTS = ("crew_id", "kind", "occurrence_id", "at")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[House]:
    with start_house(crew_environment(tmp_path_factory.mktemp("demo") / "home"), "--demo") as up:
        yield up


def hidden(n: int) -> int | None:
    """The report's rule, written again: 1 to 4 people are not shown."""
    return None if 0 < n < 5 else n


def day_of(value: str) -> datetime.date:
    return datetime.date.fromisoformat(value[:10])


def expected_report(env: dict[str, str]) -> dict[str, Any]:
    """Every figure of the report for 2026, counted here from the views' plain rows."""
    today = house_today()
    done = sql(env, 'select crew_id, kind, occurrence_id, "at", minutes from contributions')
    inside = [c for c in done if START <= day_of(c["at"]) <= END]
    length = (END - START).days + 1
    before = {
        c["crew_id"]
        for c in done
        if START - datetime.timedelta(days=length) <= day_of(c["at"]) < START
    }
    meals = [
        m
        for m in sql(env, "select status, date, served_diners, portions from meal_plan")
        if m["status"] != "cancelled" and START <= day_of(m["date"]) <= min(END, today)
    ]
    rota = sql(env, "select occurrence_id, kind, status, date, start_time, end_time from rota_rows")
    held = Counter(
        r["kind"]
        for r in rota
        if r["status"] == "scheduled" and START <= day_of(r["date"]) <= min(END, today)
    )
    # Minutes where start and end are known: a rota day from its times, an activity, a meal
    # with an end, or what a recorded contribution says; computed here from the rota's times
    # where the contribution is a rota day, and taken as recorded otherwise.
    times = {r["occurrence_id"]: r for r in rota if r["start_time"] and r["end_time"]}
    minutes = sum(
        (
            datetime.datetime.strptime(times[c["occurrence_id"]]["end_time"], "%H:%M")
            - datetime.datetime.strptime(times[c["occurrence_id"]]["start_time"], "%H:%M")
        ).seconds
        // 60
        if c["occurrence_id"] in times
        else c["minutes"] or 0
        for c in inside
    )
    who = lambda kind: {c["crew_id"] for c in inside if c["kind"] == kind}  # noqa: E731
    funnel = [
        f
        for f in sql(env, "select * from onboarding_funnel")
        if f["arrived_at"] and START <= day_of(f["arrived_at"]) <= END
    ]
    firsts = [f["days_to_first_contribution"] for f in funnel if f["first_contribution_at"]]
    months = [
        m
        for m in sql(env, "select * from load_balance where period = 'month'")
        if START <= day_of(m["period_start"]) <= END and m["crew"] >= 5
    ]
    contributors = hidden(len({c["crew_id"] for c in inside}))
    return {
        "meals_held": len(meals),
        "meals_served": sum(m["status"] == "served" for m in meals),
        "diners_served": sum(m["served_diners"] or 0 for m in meals),
        "portions": sum(m["portions"] or 0 for m in meals),
        "cooks": hidden(len(who("meal_head_cook"))),
        "helpers": hidden(len(who("meal_helper"))),
        "cleaning_parties_held": held["cleaning_party"],
        "cleaning_attendance": sum(c["kind"] == "cleaning_party" for c in inside),
        "cleaning_people": hidden(len(who("cleaning_party"))),
        "shifts_held": held["shift"],
        "contributions": len(inside),
        "contributors": contributors,
        "contributors_before": hidden(len(before)),
        "contributors_change": None
        if contributors is None or hidden(len(before)) is None
        else contributors - len(before),
        "newcomers": hidden(len(funnel)),
        "days_to_first_contribution": round(statistics.median(firsts), 1)
        if len(firsts) >= 5
        else None,
        "top_10pct_share": round(statistics.fmean(m["top_10pct_share"] for m in months), 3),
        "gini": round(statistics.fmean(m["gini"] for m in months), 3),
        "hours": round(minutes / 60, 1),
    }


def number(text: str) -> int | float | None:
    if text == "under 5":
        return None
    return float(text) if "." in text else int(text)


def test_every_figure_of_the_report_agrees_with_the_views(demo: House, tmp_path: Path) -> None:
    env, _ = demo
    out = tmp_path / "report.csv"
    crew(
        env, "report", "--from", str(START), "--to", str(END), "--format", "csv", "--out", str(out)
    )
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    figures = {r["figure"]: number(r["value"]) for r in rows if r["section"] != "months"}
    expected = expected_report(env)
    assert {k: figures[k] for k in expected} == expected
    assert expected["meals_held"] and expected["cleaning_parties_held"] and expected["hours"]
    assert all(r["view"] for r in rows), "every figure names its view"
    people = {r["figure"]: number(r["value"]) for r in rows if r["figure"].startswith("people:")}
    done = sql(env, 'select crew_id, "at" from contributions')
    by_month: dict[str, set[str]] = {}
    for c in done:
        if START <= day_of(c["at"]) <= END:
            by_month.setdefault(f"people:{c['at'][:7]}-01", set()).add(c["crew_id"])
    assert people == {month: hidden(len(ids)) for month, ids in by_month.items()}


def test_the_dashboard_shows_what_the_views_hold(demo: House) -> None:
    env, _ = demo
    token = coordinator_link(env, "anna")
    shown = dashboard(env, token).json()
    since = datetime.date.fromisoformat(shown["since"])
    months = sql(
        env,
        "select period_start, contributions, contributors, crew, top_10pct_share, gini, "
        f"rising_load_names from load_balance where period = 'month' and period_start >= "
        f"'{since}' order by period_start",
    )
    assert shown["months"] == months
    window = sql(env, "select contributions_in_window as n from crew_contributions")
    assert sorted(p["contributions"] for p in shown["people"]) == sorted(r["n"] for r in window)
    assert len(shown["people"]) >= 20 and 0 in [p["contributions"] for p in shown["people"]]
    done = [c for c in sql(env, 'select crew_id, kind, "at" from contributions')
            if day_of(c["at"]) >= since]  # fmt: skip
    kinds = Counter((f"{c['at'][:7]}-01", c["kind"]) for c in done)
    assert {(k["month"], k["kind"]): k["contributions"] for k in shown["kinds"]} == kinds
    per_month = Counter(month for month, _ in {(f"{c['at'][:7]}-01", c["crew_id"]) for c in done})
    assert {p["month"]: p["people"] for p in shown["people_months"]} == per_month
    newcomers = [f for f in sql(env, "select * from onboarding_funnel")
                 if day_of(f["arrived_at"]) >= since]  # fmt: skip
    assert_the_funnel(shown["funnel"], newcomers)
    drifting = sql(env, "select display_name from drifting_away order by display_name")
    assert sorted(d["display_name"] for d in shown["drifting"]) == [
        d["display_name"] for d in drifting
    ]
    assert_the_next_14_days(env, shown)
    assert set(shown["charts"]) == {"load", "people", "kinds", "people_months", "funnel"}
    assert all(svg.startswith("<svg") for svg in shown["charts"].values())


def assert_the_funnel(funnel: dict[str, Any], newcomers: list[dict[str, Any]]) -> None:
    def median(column: str, rows: list[dict[str, Any]]) -> float | None:
        values = [f[column] for f in rows if f[column] is not None]
        return statistics.median(values) if values else None

    welcomed = [f for f in newcomers if f["outcome"] == "onboarded"]
    assert funnel == {
        "registered": len(newcomers),
        "conversation": sum(f["conversation_held_at"] is not None for f in newcomers),
        "welcomed": len(welcomed),
        "redirected": sum(f["outcome"] == "redirected" for f in newcomers),
        "first_contribution": sum(f["first_contribution_at"] is not None for f in newcomers),
        "regular": sum(bool(f["regular"]) for f in newcomers),
        "days_to_conversation": median("days_to_conversation", newcomers),
        "days_conversation_to_welcome": median("days_conversation_to_outcome", welcomed),
        "days_welcome_to_first_contribution": median(
            "days_outcome_to_first_contribution", newcomers
        ),
        "days_first_contribution_to_regular": median(
            "days_first_contribution_to_regular", newcomers
        ),
        "days_to_first_contribution": median("days_to_first_contribution", newcomers),
    }
    assert funnel["regular"] > 0 and funnel["days_to_first_contribution"]


def assert_the_next_14_days(env: dict[str, str], shown: dict[str, Any]) -> None:
    # From the house's today, as the dashboard counted it: the machine's date (current_date)
    # is a day behind in the hour after the house's midnight.
    today = f"cast('{datetime.date.fromisoformat(shown['today'])}' as date)"
    meals = sql(
        env,
        "select meal_id, head_cook from meal_plan where status in ('open', 'closed') "
        f"and date >= {today} and date < {today} + 14",
    )
    rota = sql(
        env,
        "select occurrence_id from rota where kind in ('cleaning_party', 'shift') "
        f"and status = 'scheduled' and date < {today} + 14",
    )
    coming = {c["occurrence_id"]: c for c in shown["coming"]}
    assert set(coming) == {m["meal_id"] for m in meals} | {r["occurrence_id"] for r in rota}
    assert {m["meal_id"] for m in meals if m["head_cook"] is None} == {
        c["occurrence_id"] for c in shown["coming"] if c["needs_cook"]
    }
    asked = sql(env, "select distinct about from notices where rule = 'meal_needs_cook'")
    assert {a["about"] for a in shown["asked"] if a["rule"] == "meal_needs_cook"} == {
        a["about"] for a in asked
    }


def coordinator_link(env: dict[str, str], crew_id: str) -> str:
    found = re.search(
        r"/coordinator#token=(\S+)", crew(env, "link", "--coordinator", crew_id).stdout
    )
    assert found, "crew link --coordinator printed no /coordinator link"
    return found[1]


def dashboard(env: dict[str, str], token: str | None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{base(env)}/api/v1/coordinator", headers=headers, timeout=60)


def ask(env: dict[str, str], token: str, body: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{base(env)}/api/v1/coordinator/sql",
        json=body,
        headers={"authorization": f"Bearer {token}"},
        timeout=60,
    )


def test_only_the_coordinator_role_sees_the_dashboard_and_its_sql_box(demo: House) -> None:
    env, _ = demo
    assert httpx.get(f"{base(env)}/coordinator", timeout=20).status_code == 200
    assert dashboard(env, None).status_code == 401
    assert dashboard(env, kiosk_token(env, "hall")).status_code == 403
    bo = re.search(r"/me#token=(\S+)", crew(env, "link", "bo").stdout)
    assert bo
    assert dashboard(env, bo[1]).status_code == 403
    assert ask(env, bo[1], {"sql": "select 1"}).status_code == 403
    token = coordinator_link(env, "carla")
    assert dashboard(env, token).status_code == 200
    got = ask(env, token, {"sql": "select display_name from crew order by 1 limit 2"})
    assert got.status_code == 200 and got.text.startswith("display_name\n")
    assert "attachment" in got.headers["content-disposition"]
    parquet = ask(env, token, {"sql": "select * from load_balance", "format": "parquet"})
    assert parquet.status_code == 200 and parquet.content[:4] == b"PAR1"
    refused = ask(env, token, {"sql": "delete from crew"})
    assert refused.status_code == 400 and "read-only" in refused.json()["message"]
    no_files = ask(env, token, {"sql": "select * from read_csv('/etc/passwd')"})
    assert no_files.status_code == 400
    crew(env, "link", "--coordinator", "--revoke", "carla")
    poll(  # the role ends once the views have it; the link still opens /me
        lambda: dashboard(env, token).status_code,
        until=lambda status: status == 403,
        seconds=15,
        what="the dashboard after the role was taken back",
    )


def test_the_report_holds_no_name_and_no_id_and_its_pdf_renders(
    demo: House, tmp_path: Path
) -> None:
    env, _ = demo
    assert shutil.which("pdftoppm"), "poppler-utils is missing: `make debian-packages`"
    written = {}
    for fmt, lang in (("html", "da"), ("csv", "en"), ("pdf", "da")):
        out = tmp_path / f"report-{lang}.{fmt}"
        crew(env, "report", "--from", str(START), "--to", str(END), "--format", fmt,
             "--lang", lang, "--out", str(out))  # fmt: skip
        written[fmt] = out
    pages = subprocess.run(
        ["pdftoppm", "-png", "-r", "60", str(written["pdf"]), str(tmp_path / "page")],
        capture_output=True,
        check=True,
    )
    assert pages.returncode == 0
    pngs = sorted(tmp_path.glob("page*.png"))
    assert len(pngs) >= 2 and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    pdf_text = subprocess.run(
        ["pdftotext", str(written["pdf"]), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Måltider holdt" in pdf_text
    people = sql(env, "select crew_id, display_name from crew")
    texts = [written["html"].read_text(), written["csv"].read_text(), pdf_text]
    assert "<svg" in texts[0]
    for text in texts:
        for person in people:
            assert person["display_name"] not in text
            if len(person["crew_id"]) >= 4:  # shorter ids are parts of ordinary words
                assert not re.search(rf"\b{re.escape(person['crew_id'])}\b", text), person
