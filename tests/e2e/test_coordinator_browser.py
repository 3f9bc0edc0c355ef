"""The coordinators' dashboard in a real browser, on the demo house: Debian's chromium, driven
headless by Playwright, on a laptop and on a tablet, in Danish and in English. Every chart is
drawn and has its table beside it; a gap links to the notice asking for help; the SQL box
downloads CSV; axe-core finds no serious violation. Screenshots land in tests/artifacts/
(coordinator-*.png)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.conftest import crew_environment, start_house
from tests.e2e.browsing import axe_problems, shot
from tests.integration.cli import crew

House = tuple[dict[str, str], subprocess.Popen[bytes]]
LAPTOP = {"width": 1366, "height": 900}
TABLET = {"width": 800, "height": 1280}
CHARTS = ("load", "people", "kinds", "people_months", "funnel")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[House]:
    with start_house(crew_environment(tmp_path_factory.mktemp("demo") / "home"), "--demo") as up:
        yield up


def opened(browser: Browser, url: str, viewport: dict[str, int]) -> Page:
    """The dashboard, loaded; its CSP bypassed only so that axe can be injected."""
    context = browser.new_context(viewport=viewport, bypass_csp=True, accept_downloads=True)
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("body[data-loaded=yes]", timeout=60000)
    return page


def test_the_dashboard_shows_every_chart_with_data_on_a_laptop_and_a_tablet(
    demo: House, browser: Browser
) -> None:
    env, _ = demo
    found = re.search(
        r"http://\S+/coordinator#token=\S+", crew(env, "link", "--coordinator", "anna").stdout
    )
    assert found, "crew link --coordinator printed no /coordinator link"
    page = opened(browser, found[0], LAPTOP)
    assert "#token=" not in page.url, "the token leaves the address bar"
    for name in CHARTS:
        chart = page.locator(f"[data-testid=chart-{name}] svg")
        assert chart.count() == 1, name
        assert (
            page.locator(
                f"[data-testid=chart-{name}] svg path, [data-testid=chart-{name}] svg rect"
            ).count()
            > 5
        )
        assert page.locator(f"[data-testid=table-{name}] tbody tr").count() > 0, name
    assert page.locator("#coming tbody tr").count() > 5
    link = page.locator("[data-testid=gap-notice]").first
    target = link.get_attribute("href")
    assert target and page.locator(target).count() == 1, "a gap links to its notice"
    # The demo's rising load is Dorte's. The dashboard names this month's rising load, else
    # last month's; early in a month, this month can name someone else (today's meal counts
    # from lunchtime on), so which month it shows depends on the day and the hour.
    months = json.loads(
        crew(
            env,
            "sql",
            "--format",
            "json",
            "select rising_load_names as names from load_balance where period = 'month' "
            "order by period_start desc limit 2",
        ).stdout
    )
    latest = [month["names"] or [] for month in months]
    assert any("Dorte Lund" in names for names in latest), latest
    shown = page.inner_text("[data-testid=rising]")
    assert all(name in shown for name in next(names for names in latest if names)), shown
    shot(page, "coordinator-laptop-da")
    assert not axe_problems(page), axe_problems(page)

    with page.expect_download() as download:
        page.click("[data-testid=sql-csv]")
    assert download.value.suggested_filename == "crew-query.csv"
    assert "period_start" in download.value.path().read_text(encoding="utf-8").split("\n")[0]
    page.fill("[data-testid=sql-text]", "drop table crew")
    page.click("[data-testid=sql-csv]")
    page.wait_for_selector("[data-testid=sql-said]:has-text('read-only')")

    page.click("[data-testid=lang-toggle]")
    page.wait_for_selector("h2:has-text('The burnout watch')")
    page.wait_for_selector("[data-testid=chart-kinds] svg >> text=cleaning party")
    shot(page, "coordinator-laptop-en")

    tablet = opened(browser, found[0], TABLET)
    assert tablet.locator("[data-testid=chart-load] svg").count() == 1
    shot(tablet, "coordinator-tablet")
    assert not axe_problems(tablet), axe_problems(tablet)


def test_without_the_role_the_page_says_so(demo: House, browser: Browser) -> None:
    env, _ = demo
    found = re.search(r"http://\S+/me#token=(\S+)", crew(env, "link", "bo").stdout)
    assert found
    base = found[0].split("/me#")[0]
    page = browser.new_context(viewport=TABLET).new_page()
    page.goto(f"{base}/coordinator#token={found[1]}")
    page.wait_for_selector("[data-testid=problem]:has-text('koordinatorer')")
