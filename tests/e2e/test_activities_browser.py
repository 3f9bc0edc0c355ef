"""Activities in a real browser: from their own page on a phone, a person signs up to an
activity with one tap, joins an initiative, records "jeg har bidraget", and finds the activity
under "Min del"; at the kiosk, someone else signs up and lands on the waitlist. Screenshots land
in tests/artifacts/ (activities-*.png)."""

from __future__ import annotations

import datetime
import subprocess

from playwright.sync_api import Browser, Page

from tests.e2e.browsing import axe_problems, shot
from tests.e2e.test_pages_browser import answered, personal_link, phone
from tests.integration.cli import crew, eventually, send

House = tuple[dict[str, str], subprocess.Popen[str]]
SOON = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=2)).replace(
    minute=0, second=0, microsecond=0
)


def test_one_tap_sign_up_join_and_a_contribution_from_the_own_page_and_the_kiosk(
    house: House, browser: Browser
) -> None:
    env, _ = house
    for crew_id, name in (("anna", "Anna Holm"), ("bo", "Bo Berg")):
        body = {"crew_id": crew_id, "display_name": name}
        assert send(env, "onboarding.register_crew_member", body)["status"] == "accepted"
    plan = {"activity_id": "w-sy", "title": "Syværksted", "starts_at": SOON.isoformat(),
            "ends_at": (SOON + datetime.timedelta(hours=2)).isoformat(), "capacity": 1}  # fmt: skip
    start = {"initiative_id": "i-rum", "title": "Vores Rum", "started_by": "bo"}
    assert send(env, "activities.plan_activity", plan)["status"] == "accepted"
    assert send(env, "activities.start_initiative", start)["status"] == "accepted"
    eventually(env, "select count(*) as n from crew where crew_id in ('anna', 'bo')", [{"n": 2}])

    page = phone(browser, personal_link(env, "anna"))
    page.wait_for_selector("[data-testid=activity-sign-up-w-sy]")
    page.click("[data-testid=activity-sign-up-w-sy]")
    answered(page, "Tak")
    page.click("[data-testid=initiative-join-i-rum]")
    answered(page, "Tak")
    page.select_option("[data-testid=contribution-kind]", "baked")
    page.fill("[data-testid=contribution-minutes]", "45")
    page.click("[data-testid=contribution-record]")
    answered(page, "Tak")
    page.wait_for_selector("[data-testid=my-activity-w-sy]", timeout=30000)
    shot(page, "activities-me")
    assert not axe_problems(page), axe_problems(page)
    eventually(
        env,
        "select recorded_contributions, initiatives from crew_contributions where crew_id = 'anna'",
        [{"recorded_contributions": 1, "initiatives": 1}],
    )
    page.reload()
    page.select_option("[data-testid=series-kind]", "meal")  # the daily joint meal is lunch
    assert page.input_value("#series-start") == "12:00"
    thanks = page.wait_for_selector("[data-testid=thanks]:has-text('anden måde')", timeout=30000)
    assert "været med i 1 initiativ" in thanks.inner_text()

    token = crew(env, "kiosk", "add", "hall").stdout.splitlines()[1].strip()
    tablet = browser.new_context(viewport={"width": 1100, "height": 900}).new_page()
    tablet.goto(personal_link(env, "anna").split("/me#")[0] + f"/kiosk#token={token}")
    tablet.click("[data-testid=me-bo]")
    tablet.click("[data-testid=activity-sign-up-w-sy]")
    tablet.wait_for_selector("[data-testid=answers] li:has-text('ventelisten')", timeout=45000)
    eventually(
        env, "select waitlist from activities where activity_id = 'w-sy'", [{"waitlist": ["bo"]}]
    )
    shot(tablet, "activities-kiosk")


def test_a_refresh_with_nothing_new_leaves_the_page_and_what_is_typed_alone(
    house: House, browser: Browser
) -> None:
    """A redraw replaces every button, and a tap pressed on the old one and released on the
    new one is lost: the page draws again only when the house's answers changed, and what is
    typed into "jeg har bidraget" survives the redraw."""
    env, _ = house
    body = {"crew_id": "cia", "display_name": "Cia Dahl"}
    assert send(env, "onboarding.register_crew_member", body)["status"] == "accepted"
    eventually(env, "select count(*) as n from crew where crew_id = 'cia'", [{"n": 1}])
    page = phone(browser, personal_link(env, "cia"))
    record = page.wait_for_selector("[data-testid=contribution-record]")
    page.fill("[data-testid=contribution-minutes]", "30")
    page.evaluate("refresh()")  # the page's own refresh, awaited: nothing new since it drew
    assert record.evaluate("button => button.isConnected"), "redrawn with nothing new"

    plan = {"activity_id": "w-ny", "title": "Nyt værksted", "starts_at": SOON.isoformat(),
            "ends_at": (SOON + datetime.timedelta(hours=1)).isoformat(), "capacity": 3}  # fmt: skip
    assert send(env, "activities.plan_activity", plan)["status"] == "accepted"
    drawn_again_with(page, "[data-testid=activity-sign-up-w-ny]")
    assert not record.evaluate("button => button.isConnected")
    assert page.input_value("[data-testid=contribution-minutes]") == "30"

    token = crew(env, "kiosk", "add", "porch").stdout.splitlines()[1].strip()
    tablet = browser.new_context(viewport={"width": 1100, "height": 900}).new_page()
    tablet.goto(personal_link(env, "cia").split("/me#")[0] + f"/kiosk#token={token}")
    tablet.click("[data-testid=me-cia]")
    record = tablet.wait_for_selector("[data-testid=contribution-record]")
    tablet.evaluate("refresh()")
    assert record.evaluate("button => button.isConnected"), "the kiosk redrew with nothing new"

    # the tablet keeps what this person typed across a redraw, and not for the next person
    tablet.fill("[data-testid=contribution-minutes]", "20")
    tablet.fill("[data-testid=contribution-note]", "vaskede op")
    plan = {**plan, "activity_id": "w-to", "title": "Andet værksted"}
    assert send(env, "activities.plan_activity", plan)["status"] == "accepted"
    drawn_again_with(tablet, "[data-testid=activity-sign-up-w-to]")
    assert tablet.input_value("[data-testid=contribution-minutes]") == "20"
    assert tablet.input_value("[data-testid=contribution-note]") == "vaskede op"
    tablet.click("text=← Tilbage")
    tablet.click("[data-testid=me-cia]")
    assert tablet.input_value("[data-testid=contribution-minutes]") == ""
    assert tablet.input_value("[data-testid=contribution-note]") == ""


def drawn_again_with(page: Page, selector: str) -> None:
    """Ask the page to refresh until the views have something new and it shows `selector`."""
    for _ in range(150):
        page.evaluate("refresh()")
        if page.query_selector(selector):
            return
        page.wait_for_timeout(200)
    raise AssertionError(f"never drawn again with {selector}")
