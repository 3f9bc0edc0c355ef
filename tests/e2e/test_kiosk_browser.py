"""The touch page in a real browser: Debian's chromium, driven headless by Playwright.

Screenshots land in tests/artifacts/ (kiosk-*.png)."""

from __future__ import annotations

import datetime
import json
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from schemas.common import house_today
from tests.e2e.browsing import shot
from tests.integration.cli import crew, eventually, send, sql

House = tuple[dict[str, str], subprocess.Popen[str]]
QUEUE_IN_STORAGE = "localStorage.getItem('crew.queue')"
TODAY = house_today()
TOMORROW = TODAY + datetime.timedelta(days=1)
ANSWERS = "[data-testid=answers]"
OLD_BROWSER = "delete AbortSignal.timeout; delete Crypto.prototype.randomUUID;"


def kiosk_page(
    house: House,
    browser: Browser,
    *,
    today: dict[str, Any] | None = None,
    before: Sequence[tuple[str, dict[str, Any]]] = (),
    fragment: str = "",
    old_browser: bool = False,
    printed: bool = False,
    clock: bool = False,
) -> tuple[dict[str, str], Page]:
    """Anna is crew (with contact details); meals `today` (2 helpers, unless `today` says
    otherwise) and `tomorrow` are planned; `before` is sent next; then the page opens, at the
    address `crew up` printed when `printed`, else with a token of its own; with `clock`, the test
    may move the page's time on (`page.clock.run_for`)."""
    env, process = house
    token = crew(env, "kiosk", "add", "tablet").stdout.splitlines()[1].strip()
    port = json.loads((Path(env["CREW_HOME"]) / "house.json").read_text())["http_port"]
    url = f"http://127.0.0.1:{port}/kiosk#token={token}"
    if printed:
        found = re.search(r"kiosk\s+(http://\S+/kiosk#token=\S+)", process.banner)  # type: ignore[attr-defined]
        assert found, f"crew up printed no kiosk address:\n{process.banner}"  # type: ignore[attr-defined]
        url = found[1]
    send(
        env,
        "onboarding.register_crew_member",
        {"crew_id": "anna", "display_name": "Anna Holm", "contact": "anna.holm@example.dk"},
    )
    plan = {"meal_id": "today", "date": str(TODAY), "helper_slots": 2, **(today or {})}
    send(env, "meals.plan_meal", plan)
    send(env, "meals.plan_meal", {"meal_id": "tomorrow", "date": str(TOMORROW), "helper_slots": 2})
    for command, body in before:
        assert send(env, command, body)["status"] == "accepted", (command, body)
    eventually(env, "select count(*) as n from crew", [{"n": 1}])
    eventually(env, "select count(*) as n from meal_plan", [{"n": 2}])
    page = browser.new_context(viewport={"width": 1024, "height": 1300}).new_page()
    if old_browser:  # an older tablet browser, on plain http to the house
        page.add_init_script(OLD_BROWSER)
    if clock:
        page.clock.install()
    page.goto(url + fragment)
    return env, page


def wait_for_answer(env: dict[str, str], page: Page, text: str) -> None:
    """Wait for an answer to a tap; when it never comes, say what the page and the house showed."""
    try:
        page.wait_for_selector(f"{ANSWERS} li:has-text('{text}')", timeout=45000)
    except PlaywrightTimeoutError:
        logs = Path(env["CREW_HOME"]) / "logs"
        tails = {
            name: (logs / name).read_text(errors="replace")[-2000:]
            for name in ("kiosk.log", "onboarding.log", "meals.log")
            if (logs / name).exists()
        }
        pytest.fail(
            f"no answer {text!r}; the answers said {page.inner_text(ANSWERS)!r}, the toast "
            f"{page.inner_text('[data-testid=toast]')!r}, queue {page.evaluate(QUEUE_IN_STORAGE)!r}\n"
            + "\n".join(f"--- {name}\n{tail}" for name, tail in tails.items())
        )


def test_a_helper_tapped_on_the_page_appears_in_meal_plan(house: House, browser: Browser) -> None:
    env, page = kiosk_page(house, browser, printed=True)  # as a new house's coordinator does
    page.click("[data-testid=me-anna]")
    assert "2 ledige hjælperpladser" in page.inner_text("[data-testid=meal-today]")
    page.click("[data-testid=help-today]")
    wait_for_answer(env, page, "Tak! Det er noteret.")
    shot(page, "kiosk-signed-up")
    eventually(
        env,
        "select helpers, helper_names from meal_plan where meal_id = 'today'",
        [{"helpers": ["anna"], "helper_names": ["Anna Holm"]}],
    )
    page.wait_for_selector("[data-testid=meal-today]:has-text('1 ledig hjælperplads ')")


def test_a_helper_on_a_full_team_is_told_they_are_on_the_waitlist_on_an_old_browser_too(
    house: House, browser: Browser
) -> None:
    env, page = kiosk_page(house, browser, today={"helper_slots": 0}, old_browser=True)
    assert page.evaluate("typeof AbortSignal.timeout + typeof crypto.randomUUID") == (
        "undefinedundefined"
    )
    page.click("[data-testid=me-anna]")
    page.click("[data-testid=help-today]")
    wait_for_answer(env, page, "du står på ventelisten")
    eventually(
        env, "select waitlist from meal_plan where meal_id = 'today'", [{"waitlist": ["anna"]}]
    )


def test_a_tap_while_offline_waits_and_lands_exactly_once_when_back(
    house: House, browser: Browser
) -> None:
    env, page = kiosk_page(house, browser, clock=True)
    page.click("[data-testid=me-anna]")
    page.wait_for_selector("[data-testid=help-tomorrow]")
    page.context.set_offline(True)
    page.click("[data-testid=help-tomorrow]")
    page.wait_for_selector("[data-testid=queue]:has-text('venter')")
    shot(page, "kiosk-waiting-offline")
    page.clock.run_for(7000)  # the page retries every 3 s; none of it may land while offline
    assert sql(
        env, "select count(*) as n from event_log where type = 'meals.volunteered_to_cook'"
    ) == [{"n": 0}]
    page.context.set_offline(False)
    page.clock.run_for(3000)  # the next retry
    page.wait_for_selector("[data-testid=queue]", state="hidden", timeout=20000)
    eventually(
        env, "select helpers from meal_plan where meal_id = 'tomorrow'", [{"helpers": ["anna"]}]
    )
    page.clock.run_for(7000)  # and later retries change nothing
    assert sql(
        env, "select count(*) as n from event_log where type = 'meals.volunteered_to_cook'"
    ) == [{"n": 1}]


def test_refusals_flushed_together_are_all_shown_in_plain_danish_then_english(
    house: House, browser: Browser
) -> None:
    env, page = kiosk_page(
        house,
        browser,
        today={"seats": 1},
        before=[("meals.sign_up_to_eat", {"meal_id": "today", "crew_id": "bo"})],
    )
    page.click("[data-testid=me-anna]")
    page.wait_for_selector("[data-testid=eat-tomorrow]")
    page.context.set_offline(True)
    # While the tablet is offline its board goes stale: tomorrow's meal is called off.
    assert send(env, "meals.cancel_meal", {"meal_id": "tomorrow"})["status"] == "accepted"
    page.click("[data-testid=eat-today]")
    page.click("[data-testid=eat-tomorrow]")
    page.wait_for_selector("[data-testid=queue]:has-text('2 venter')")
    page.context.set_offline(False)
    wait_for_answer(env, page, "Anna Holm: Der er ikke flere pladser ved bordet.")
    wait_for_answer(env, page, "Anna Holm: Det måltid er aflyst.")
    answers = page.inner_text(ANSWERS)
    assert "$." not in answers and "today" not in answers and "bo" not in answers.split()
    shot(page, "kiosk-refused-da")
    page.click("[data-testid=lang-toggle]")
    assert page.inner_text(ANSWERS).splitlines() == [
        "Anna Holm: There are no seats left at that meal.",
        "OK",
        "Anna Holm: That meal was cancelled.",
        "OK",
    ]
    page.click("[data-testid=answer-ok] >> nth=0")
    assert page.inner_text(ANSWERS).splitlines() == ["Anna Holm: That meal was cancelled.", "OK"]


def test_a_tap_whose_answer_is_lost_is_retried_with_the_same_key_and_lands_once(
    house: House, browser: Browser
) -> None:
    # Withdrawing is not idempotent in the house: a second withdraw with a new key is refused
    # (not signed up). Only the same key gets the first answer again.
    env, page = kiosk_page(
        house,
        browser,
        before=[
            ("meals.volunteer_to_cook", {"meal_id": "today", "crew_id": "anna", "role": "helper"})
        ],
    )
    keys: list[str] = []

    def lose_the_first_answer(route: Route) -> None:
        keys.append(route.request.headers["idempotency-key"])
        if len(keys) == 1:
            route.fetch()  # the house gets the tap and answers ...
            route.abort("connectionreset")  # ... but the answer never reaches the tablet
        else:
            route.continue_()

    page.route("**/api/v1/commands/**", lose_the_first_answer)
    page.click("[data-testid=me-anna]")
    page.click("[data-testid=withdraw-today]")
    wait_for_answer(env, page, "Tak! Det er noteret.")
    assert len(keys) >= 2 and len(set(keys)) == 1, keys
    eventually(
        env,
        f"select type from event_log where causation_id = '{keys[0]}'",
        [{"type": "meals.withdrew"}],
    )
    assert "ikke skrevet op" not in page.inner_text(ANSWERS)
    eventually(env, "select helpers from meal_plan where meal_id = 'today'", [{"helpers": []}])


def test_a_tablet_without_access_keeps_its_taps_and_says_so(house: House, browser: Browser) -> None:
    env, page = kiosk_page(house, browser)
    page.click("[data-testid=me-anna]")
    good = page.evaluate("localStorage.getItem('crew.token')")
    page.evaluate("localStorage.setItem('crew.token', 'not-a-token')")
    page.click("[data-testid=help-today]")
    page.wait_for_selector("[data-testid=toast]:has-text('Denne skærm har ikke adgang')")
    page.click("[data-testid=lang-toggle]")
    page.wait_for_selector("[data-testid=toast]:has-text('This tablet is not authorised')")
    assert json.loads(page.evaluate(QUEUE_IN_STORAGE))[0]["command"] == "volunteer_to_cook"
    page.evaluate(f"localStorage.setItem('crew.token', '{good}')")
    wait_for_answer(env, page, "Thank you! Noted.")
    eventually(
        env, "select helpers from meal_plan where meal_id = 'today'", [{"helpers": ["anna"]}]
    )


def test_the_page_runs_and_is_styled_under_its_csp_with_nothing_refused(
    house: House, browser: Browser
) -> None:
    env, page = kiosk_page(house, browser)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    page.add_init_script(  # counts what the policy blocks, before the page's own script runs
        "window.__refused = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.__refused.push(e.violatedDirective));"
    )
    page.reload()
    page.click("[data-testid=me-anna]")  # the script runs: it drew the crew list
    page.click("[data-testid=help-today]")  # and may talk to the API (connect-src 'self')
    wait_for_answer(env, page, "Tak! Det er noteret.")
    green = page.eval_on_selector("header", "h => getComputedStyle(h).backgroundColor")
    assert green == "rgb(47, 125, 74)", "the inline style was applied"
    assert page.evaluate("window.__refused") == [] and refused == []


def test_the_page_is_danish_by_default_and_the_english_toggle_works(
    house: House, browser: Browser
) -> None:
    _, page = kiosk_page(house, browser)
    assert page.inner_text("header h1") == "Vi er alle crew"
    for target in ("[data-testid=me-anna]", "[data-testid=new-here]", "[data-testid=lang-toggle]"):
        box = page.locator(target).bounding_box()
        assert box is not None and box["height"] >= 56 and box["width"] >= 56, (target, box)
    page.click("[data-testid=lang-toggle]")
    assert page.inner_text("header h1") == "We are all crew"
    page.click("[data-testid=me-anna]")
    assert page.inner_text("[data-testid=help-today]") == "I'll help"
    assert "2 helper places open" in page.inner_text("[data-testid=meal-today]")
    for target in (
        "[data-testid=help-today]",
        "[data-testid=cook-today]",
        "[data-testid=eat-today]",
    ):
        box = page.locator(target).bounding_box()
        assert box is not None and box["height"] >= 56, (target, box)
    shot(page, "kiosk-english")


def test_an_untouched_page_goes_back_to_who_are_you_in_danish(
    house: House, browser: Browser
) -> None:
    # idle=2: the idle time, shortened from 60 s for the test (the page keeps it per tablet).
    _, page = kiosk_page(house, browser, fragment="&idle=2")
    page.click("[data-testid=me-anna]")
    page.click("[data-testid=lang-toggle]")
    assert page.inner_text("header h1") == "We are all crew"
    page.wait_for_selector("h2:has-text('Hvem er du?')", timeout=20000)
    assert page.inner_text("header h1") == "Vi er alle crew"
    assert page.evaluate("localStorage.getItem('crew.lang')") == "da"


def test_a_passer_by_sees_display_names_but_no_contact_details_or_notes(
    house: House, browser: Browser
) -> None:
    _, page = kiosk_page(
        house,
        browser,
        before=[
            (
                "onboarding.register_newcomer",
                {
                    "newcomer_id": "nora",
                    "display_name": "Nora Ahmadi",
                    "brought_by": "my neighbour told me (secret-note)",
                    "contact": "+45 11 22 33 44",
                },
            ),
            (
                "meals.sign_up_to_eat",
                {"meal_id": "today", "crew_id": "anna", "diet_note": "no nuts (diet-note)"},
            ),
        ],
    )
    page.wait_for_selector("[data-testid=me-anna]")
    page.click("[data-testid=me-anna]")
    page.wait_for_selector("[data-testid=meal-today]")
    board = page.evaluate(
        "fetch('/api/v1/board', {headers: {authorization: 'Bearer ' + "
        "localStorage.getItem('crew.token')}}).then(r => r.text())"
    )
    for shown in (page.content(), board):
        assert "Anna Holm" in shown
        for secret in ("anna.holm@example.dk", "+45 11 22 33 44", "secret-note", "diet-note"):
            assert secret not in shown


def test_someone_new_registers_from_the_page_and_arrives_in_the_funnel(
    house: House, browser: Browser
) -> None:
    env, page = kiosk_page(house, browser)
    page.click("[data-testid=new-here]")
    page.fill("[data-testid=new-name]", "Nora Ahmadi")
    page.fill("[data-testid=new-why]", "the joint meal")
    page.fill("[data-testid=new-interests]", "cooking, the garden ,")
    assert page.is_disabled("[data-testid=new-contact]"), "no contact details before a plain yes"
    page.check("[data-testid=new-consent]")
    page.fill("[data-testid=new-contact]", "nora@example.dk")
    page.wait_for_timeout(3500)  # a board refresh or a retry round must not wipe the form
    assert page.input_value("[data-testid=new-name]") == "Nora Ahmadi"
    page.click("[data-testid=new-send]")
    wait_for_answer(env, page, "Velkommen")
    shot(page, "kiosk-newcomer")
    eventually(
        env,
        "select display_name, stage from onboarding_funnel",
        [{"display_name": "Nora Ahmadi", "stage": "newcomer"}],
    )
    details = json.loads(
        crew(
            env,
            "sql",
            "--restricted",
            "--format",
            "json",
            "select interests, contact from people_details where person_id <> 'anna'",
        ).stdout
    )
    assert details == [{"interests": ["cooking", "the garden"], "contact": "nora@example.dk"}]
    # Before her conversation, Nora may already help: she is on the board, marked as new
    nora = page.locator("[data-testid^=me-n-]:has-text('Nora Ahmadi (ny)')")
    nora.wait_for(timeout=45000)
    nora.click()
    page.click("[data-testid=help-tomorrow]")
    wait_for_answer(env, page, "Tak")
    page.wait_for_selector("[data-testid=meal-tomorrow]:has-text('Hjælpere: Nora Ahmadi (ny)')")


def test_from_the_tablet_a_person_checks_in_hands_over_and_gets_their_page_by_mail(
    house: House, browser: Browser
) -> None:
    """Anna's shift today: she checks in, then hands her place over. "Send my page to my
    e-mail" asks the house to mail her a fresh link; the tablet never shows one."""
    shift = {
        "series_id": "bar",
        "kind": "shift",
        "title": "Bar",
        "weekdays": [TODAY.weekday()],
        "start": "00:00",
        "end": "23:59",
        "starts_on": str(TODAY),
        "capacity": 2,
    }
    bar = f"bar-{TODAY:%Y%m%d}"
    env, page = kiosk_page(
        house,
        browser,
        before=[
            ("rota.schedule_series", shift),
            ("rota.sign_up_for_shift", {"occurrence_id": bar, "crew_id": "anna"}),
            ("notices.set_address", {"crew_id": "anna", "email": "anna@example.dk"}),
        ],
    )
    page.click("[data-testid=me-anna]")
    page.click(f"[data-testid=check-in-{bar}]")
    wait_for_answer(env, page, "Tak! Det er noteret.")
    page.click(f"{ANSWERS} li >> [data-testid=answer-ok]")
    page.click(f"[data-testid=hand-over-{bar}]")
    wait_for_answer(env, page, "Tak! Det er noteret.")
    page.click(f"{ANSWERS} li >> [data-testid=answer-ok]")
    page.click("[data-testid=send-page]")
    wait_for_answer(env, page, "Linket til din side er sendt til din e-mail.")
    assert "#token=" not in page.content().split("<script", 1)[0]
    shot(page, "kiosk-my-part")
    eventually(
        env,
        "select type, actor from event_log where type in ('rota.checked_in', "
        "'rota.hand_over_offered', 'notices.notice_recorded') order by seq",
        [
            {"type": "rota.checked_in", "actor": "anna"},
            {"type": "rota.hand_over_offered", "actor": "anna"},
            {"type": "notices.notice_recorded", "actor": "anna"},
        ],
    )
    eventually(
        env, "select rule, status from notices", [{"rule": "page_link", "status": "recorded"}]
    )
