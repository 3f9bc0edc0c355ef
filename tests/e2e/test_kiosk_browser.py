"""The touch page in a real browser: Debian's chromium, driven headless by Playwright."""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.integration.cli import crew, eventually, send, sql

House = tuple[dict[str, str], subprocess.Popen[str]]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = "/usr/bin/chromium"
QUEUE_IN_STORAGE = "localStorage.getItem('crew.queue')"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert shutil.which(CHROMIUM), "Debian's chromium is missing: `make test` installs it"
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield launched
        launched.close()


def kiosk_page(house: House, browser: Browser) -> tuple[dict[str, str], Page]:
    env, _ = house
    token = crew(env, "kiosk", "add", "tablet").stdout.splitlines()[1].strip()
    port = json.loads((Path(env["CREW_HOME"]) / "house.json").read_text())["http_port"]
    today = datetime.date.today().isoformat()
    send(env, "onboarding.register_crew_member", {"crew_id": "anna", "display_name": "Anna Holm"})
    send(env, "meals.plan_meal", {"meal_id": "today", "date": today, "helper_slots": 2})
    send(
        env,
        "meals.plan_meal",
        {
            "meal_id": "tomorrow",
            "date": str(datetime.date.today() + datetime.timedelta(days=1)),
            "helper_slots": 2,
        },
    )
    eventually(env, "select count(*) as n from crew", [{"n": 1}])
    eventually(env, "select count(*) as n from meal_plan", [{"n": 2}])
    page = browser.new_context(viewport={"width": 1024, "height": 1300}).new_page()
    page.goto(f"http://127.0.0.1:{port}/kiosk#token={token}")
    return env, page


def wait_for_toast(env: dict[str, str], page: Page, text: str) -> None:
    """Wait for the toast; when it never comes, say what the page and the house showed instead."""
    try:
        page.wait_for_selector(f"[data-testid=toast]:has-text('{text}')", timeout=45000)
    except PlaywrightTimeoutError:
        logs = Path(env["CREW_HOME"]) / "logs"
        tails = {
            name: (logs / name).read_text(errors="replace")[-2000:]
            for name in ("kiosk.log", "onboarding.log", "meals.log")
            if (logs / name).exists()
        }
        pytest.fail(
            f"no toast {text!r}; the toast said {page.inner_text('[data-testid=toast]')!r}, "
            f"queue {page.evaluate(QUEUE_IN_STORAGE)!r}\n"
            + "\n".join(f"--- {name}\n{tail}" for name, tail in tails.items())
        )


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_helper_tapped_on_the_page_appears_in_meal_plan(house: House, browser: Browser) -> None:
    env, page = kiosk_page(house, browser)
    page.click("[data-testid=me-anna]")
    page.click("[data-testid=help-today]")
    wait_for_toast(env, page, "Tak")
    shot(page, "kiosk-signed-up")
    eventually(
        env,
        "select helpers, helper_names from meal_plan where meal_id = 'today'",
        [{"helpers": ["anna"], "helper_names": ["Anna Holm"]}],
    )


def test_a_tap_while_offline_waits_and_lands_exactly_once_when_back(
    house: House, browser: Browser
) -> None:
    env, page = kiosk_page(house, browser)
    page.click("[data-testid=me-anna]")
    page.wait_for_selector("[data-testid=help-tomorrow]")
    page.context.set_offline(True)
    page.click("[data-testid=help-tomorrow]")
    page.wait_for_selector("[data-testid=queue]:has-text('venter')")
    shot(page, "kiosk-waiting-offline")
    page.wait_for_timeout(4000)  # the page retries every 3 s; none of it may land while offline
    assert sql(
        env, "select count(*) as n from event_log where type = 'meals.volunteered_to_cook'"
    ) == [{"n": 0}]
    page.context.set_offline(False)
    page.wait_for_selector("[data-testid=queue]", state="hidden", timeout=20000)
    eventually(
        env, "select helpers from meal_plan where meal_id = 'tomorrow'", [{"helpers": ["anna"]}]
    )
    page.wait_for_timeout(4000)  # and later retries change nothing
    assert sql(
        env, "select count(*) as n from event_log where type = 'meals.volunteered_to_cook'"
    ) == [{"n": 1}]


def test_the_page_is_danish_by_default_and_the_english_toggle_works(
    house: House, browser: Browser
) -> None:
    _, page = kiosk_page(house, browser)
    assert page.inner_text("header h1") == "Vi er alle crew"
    page.click("[data-testid=lang-toggle]")
    assert page.inner_text("header h1") == "We are all crew"
    page.click("[data-testid=me-anna]")
    assert page.inner_text("[data-testid=help-today]") == "I'll help"
    shot(page, "kiosk-english")


def test_someone_new_registers_from_the_page_and_arrives_in_the_funnel(
    house: House, browser: Browser
) -> None:
    env, page = kiosk_page(house, browser)
    page.click("[data-testid=new-here]")
    page.fill("[data-testid=new-name]", "Nora Ahmadi")
    page.fill("[data-testid=new-why]", "the joint meal")
    page.click("[data-testid=new-send]")
    wait_for_toast(env, page, "Velkommen")
    shot(page, "kiosk-newcomer")
    eventually(
        env,
        "select display_name, stage from onboarding_funnel",
        [{"display_name": "Nora Ahmadi", "stage": "newcomer"}],
    )
