"""A crew member's own page in a real browser, on a phone-sized screen: Debian's chromium,
driven headless by Playwright. One person, from their link, plans a meal, signs up to help at
another, hands over their cleaning task, hosts a newcomer and welcomes them with a buddy, and
sees all of it in "what changed"; a second person takes the hand-over, says he usually does
the kitchen, confirms the place held for him, changes the series from a date and chooses his
notices. axe-core checks both pages. Screenshots land in tests/artifacts/ (me-*.png)."""

from __future__ import annotations

import datetime
import json
import re
import subprocess
from pathlib import Path

from playwright.sync_api import Browser, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from schemas.common import house_today
from tests.e2e.browsing import axe_problems, shot
from tests.integration.cli import crew, eventually, send

House = tuple[dict[str, str], subprocess.Popen[str]]
PHONE = {"width": 390, "height": 844}
TOMORROW = house_today() + datetime.timedelta(days=1)
ANSWERS = "[data-testid=answers]"


def personal_link(env: dict[str, str], crew_id: str) -> str:
    found = re.search(r"http://\S+/me#token=\S+", crew(env, "link", crew_id).stdout)
    assert found, "crew link printed no /me#token= address"
    return found[0]


def phone(browser: Browser, url: str) -> Page:
    """The page on a phone-sized screen; its CSP bypassed only so that axe can be injected."""
    page = browser.new_context(viewport=PHONE, is_mobile=True, bypass_csp=True).new_page()
    page.goto(url)
    return page


# What a page shows of its taps: its answers, its toast, and the taps still waiting to be sent.
PAGE_STATE = """() => ({
  answers: document.getElementById("answers")?.innerText,
  toast: document.getElementById("toast")?.innerText,
  queue: document.getElementById("queue")?.innerText,
  waiting: Object.fromEntries(Object.keys(localStorage).map(k => [k, localStorage.getItem(k)])),
})"""


def answered(page: Page, text: str) -> None:
    try:
        page.wait_for_selector(f"{ANSWERS} li:has-text('{text}')", timeout=45000)
    except PlaywrightTimeout:
        shown = page.evaluate(PAGE_STATE)
        raise AssertionError(f"no answer {text!r} in 45 s; the page showed {shown}") from None
    page.click(f"{ANSWERS} li:has-text('{text}') >> [data-testid=answer-ok]")


def test_one_person_plans_helps_hands_over_and_welcomes_from_their_link_on_a_phone(
    house: House, browser: Browser
) -> None:
    env, _ = house
    for crew_id, name in (("anna", "Anna Holm"), ("bo", "Bo Berg")):
        body = {"crew_id": crew_id, "display_name": name}
        assert send(env, "onboarding.register_crew_member", body)["status"] == "accepted"
    plan = {"meal_id": "m-help", "date": str(TOMORROW), "time": "17:30", "helper_slots": 2}
    party = {
        "series_id": "cleaning",
        "kind": "cleaning_party",
        "title": "Rengøringsfest",
        "weekdays": [TOMORROW.weekday()],
        "start": "17:00",
        "end": "19:00",
        "starts_on": str(TOMORROW),
        "tasks": [{"task": "kitchen", "capacity": 2}],
    }
    newcomer = {"newcomer_id": "n-nora", "display_name": "Nora"}
    for command, body in (
        ("meals.plan_meal", plan),
        ("rota.schedule_series", party),
        ("onboarding.register_newcomer", newcomer),
    ):
        assert send(env, command, body)["status"] == "accepted", command
    occurrence = f"cleaning-{TOMORROW:%Y%m%d}"
    take = {"occurrence_id": occurrence, "crew_id": "anna", "task": "kitchen"}
    assert send(env, "rota.take_task", take)["status"] == "accepted"
    eventually(env, "select count(*) as n from crew where crew_id in ('anna', 'bo')", [{"n": 2}])

    page = phone(browser, personal_link(env, "anna"))
    page.wait_for_selector("[data-testid=hello]:has-text('Hej Anna Holm')")
    assert "#token=" not in page.url, "the token leaves the address bar"
    shot(page, "me-da")
    assert not axe_problems(page), axe_problems(page)

    page.fill("[data-testid=plan-date]", str(TOMORROW + datetime.timedelta(days=2)))
    page.click("[data-testid=plan-send]")
    answered(page, "Måltidet er på planen")
    page.fill("[data-testid=series-title]", "Havedag")  # a weekly garden day, with a task
    page.check(f"[data-testid=series-day-{TOMORROW.weekday()}]")
    page.click("[data-testid=series-send]")  # no first day: the field says what is wrong
    page.wait_for_selector("#series-starts_on-error:not(:empty)")
    page.click(f"{ANSWERS} li >> [data-testid=answer-ok]")
    page.fill("[data-testid=series-starts_on]", str(TOMORROW))
    page.fill("[data-testid=series-tasks]", "have:3")
    page.click("[data-testid=series-send]")
    answered(page, "Tak!")
    page.click("[data-testid=help-m-help]")
    answered(page, "Tak!")
    page.click("[data-testid=change-m-help]")  # leadership is shared: she moves it a day on
    page.fill("[data-testid=m-help-date]", str(TOMORROW + datetime.timedelta(days=1)))
    page.click("[data-testid=move_meal-m-help]")
    answered(page, "Tak!")
    page.click("[data-testid=hand-over]")
    answered(page, "Tak!")
    page.click("[data-testid=host-n-nora]")
    answered(page, "Tak!")
    page.click("[data-testid=held-n-nora]")
    answered(page, "Tak!")
    page.select_option("[data-testid=buddy-n-nora]", "bo")
    page.click("[data-testid=welcome-n-nora]")
    answered(page, "Tak!")

    changes = "[data-testid=changes]"
    for words in (
        "Anna Holm planlagde måltidet",
        "Anna Holm planlagde s-",
        "Anna Holm meldte sig til madholdet m-help",
        "Anna Holm flyttede måltidet m-help",
        "Anna Holm gav sin plads videre til",
        "Anna Holm aftalte en snak med n-nora",
        "Anna Holm bød velkommen: n-nora",
    ):
        page.wait_for_selector(f"{changes} li:has-text('{words}')", timeout=30000)
    page.click("[data-testid=lang-toggle]")
    page.wait_for_selector(f"{changes} li:has-text('Anna Holm welcomed n-nora')")
    thanks = page.inner_text("[data-testid=thanks]")  # the conversation, hosted by her
    assert "You have had 1 conversation with newcomers." in thanks
    shot(page, "me-en")

    other = phone(browser, personal_link(env, "bo"))
    other.click("[data-testid=take-over-anna]")
    answered(other, "Tak!")
    eventually(
        env,
        "select actor, source from event_log where type = 'rota.hand_over_taken'",
        [{"actor": "bo", "source": "me:bo"}],
    )
    assert not axe_problems(other), axe_problems(other)
    usually_from_the_page(env, other)


def usually_from_the_page(env: dict[str, str], page: Page) -> None:
    """Bo says he usually does the kitchen: the coming parties hold a place for him, he confirms
    the next, and moves the series half an hour later from next week on."""
    page.select_option("[data-testid=usual-task-cleaning]", "kitchen")
    page.click("[data-testid=state-usual-cleaning]")
    answered(page, "Tak!")
    page.wait_for_selector("[data-testid=usual-cleaning]:has-text('Du plejer: kitchen')")
    next_week = f"cleaning-{TOMORROW + datetime.timedelta(days=7):%Y%m%d}"
    page.click(f"[data-testid=confirm-{next_week}]")
    answered(page, "Tak!")
    page.click("[data-testid=change-series-cleaning]")
    page.fill("[data-testid=series-cleaning-effective_from]", str(TOMORROW))
    page.fill("[data-testid=series-cleaning-start]", "17:30")
    assert not axe_problems(page), axe_problems(page)
    page.click("[data-testid=change-it-series-cleaning]")
    answered(page, "Tak!")
    eventually(
        env,
        "select type, actor from event_log where type in ('rota.intention_stated', "
        "'rota.claim_confirmed', 'rota.series_changed') order by seq",
        [
            {"type": "rota.intention_stated", "actor": "bo"},
            {"type": "rota.claim_confirmed", "actor": "bo"},
            {"type": "rota.series_changed", "actor": "bo"},
        ],
    )
    page.wait_for_selector("[data-testid=usual-cleaning]:has-text('17:30')")
    shot(page, "me-usual")
    notices_from_the_page(env, page)


def notices_from_the_page(env: dict[str, str], page: Page) -> None:
    """Bo gives his address (a wrong one first: the field says why), ticks the weekly digest,
    and sees that an address is set; the page never shows the address itself."""
    page.fill("[data-testid=notices-email]", "bo-at-example")
    page.click("[data-testid=notices-save-address]")
    page.wait_for_selector("#notices-email-error:not(:empty)")
    page.click(f"{ANSWERS} li >> [data-testid=answer-ok]")
    page.fill("[data-testid=notices-email]", "bo@example.org")
    page.click("[data-testid=notices-save-address]")
    answered(page, "Tak!")
    page.check("[data-testid=topic-weekly_digest]")
    answered(page, "Tak!")
    page.wait_for_selector("[data-testid=address-state]:has-text('Vi har en e-mailadresse')")
    page.wait_for_selector("[data-testid=topic-weekly_digest]:checked")
    assert "bo@example.org" not in page.inner_text("[data-testid=notices]")
    assert not axe_problems(page), axe_problems(page)
    eventually(
        env,
        "select topics, has_address from notice_choices where crew_id = 'bo'",
        [{"topics": ["weekly_digest"], "has_address": True}],
    )
    shot(page, "me-notices")


def test_the_kiosk_page_has_no_serious_accessibility_problem(
    house: House, browser: Browser
) -> None:
    env, _ = house
    assert send(env, "onboarding.register_crew_member", {"crew_id": "anna", "display_name": "A"})
    token = crew(env, "kiosk", "add", "tablet").stdout.splitlines()[1].strip()
    port = json.loads((Path(env["CREW_HOME"]) / "house.json").read_text())["http_port"]
    eventually(env, "select count(*) as n from crew", [{"n": 1}])
    page = browser.new_context(viewport={"width": 1024, "height": 1300}, bypass_csp=True).new_page()
    page.set_content('<html lang="da"><title>x</title><img src="a.png"></html>')
    assert any("image-alt" in p for p in axe_problems(page)), "the check itself finds problems"
    page.goto(f"http://127.0.0.1:{port}/kiosk#token={token}")
    page.wait_for_selector("[data-testid=me-anna]")
    assert not axe_problems(page), axe_problems(page)
    page.click("[data-testid=new-here]")  # the registration form
    page.wait_for_selector("[data-testid=new-name]")
    assert not axe_problems(page), axe_problems(page)
