"""A crew member's own page over real HTTP, against a running house: a personal link acts as
its person only, shows what changed, and ends when revoked or when the person is forgotten."""

from __future__ import annotations

import re
import subprocess

import httpx

from tests.integration.cli import crew, eventually, send
from tests.integration.test_kiosk_http import base, kiosk_token, post
from tests.polling import eventually as poll

House = tuple[dict[str, str], subprocess.Popen[str]]


def link(env: dict[str, str], *args: str) -> str:
    """The token of the personal address `crew link` prints."""
    found = re.search(r"http://\S+/me#token=([A-Za-z0-9_-]+)", crew(env, "link", *args).stdout)
    assert found, "crew link printed no /me#token= address"
    return found[1]


def me(url: str, token: str) -> httpx.Response:
    return httpx.get(f"{url}/api/v1/me", headers={"authorization": f"Bearer {token}"}, timeout=20)


def test_a_personal_link_acts_as_its_person_only_and_ends_when_revoked_or_forgotten(
    house: House,
) -> None:
    env, _ = house
    url, commands = base(env), f"{base(env)}/api/v1/commands"
    for crew_id, name in (("anna", "Anna Holm"), ("bo", "Bo Berg")):
        body = {"crew_id": crew_id, "display_name": name}
        assert send(env, "onboarding.register_crew_member", body)["status"] == "accepted"
    anna = link(env, "anna")
    unknown = crew(env, "link", "nobody-here", check=False)
    assert unknown.returncode == 1 and "not in the crew registry" in unknown.stderr

    page = httpx.get(f"{url}/me", timeout=20)
    assert (
        page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    )
    assert httpx.get(f"{url}/crew.js", timeout=20).status_code == 200

    plan = {"meal_id": "pm-1", "date": "2031-02-02", "helper_slots": 2}
    assert post(f"{commands}/meals/plan_meal", plan, anna, "p1").status_code == 200
    for_bo = {"meal_id": "pm-1", "crew_id": "bo", "role": "helper"}
    refused = post(f"{commands}/meals/volunteer_to_cook", for_bo, anna, "p2")
    assert refused.status_code == 403 and "crew_id must be anna" in refused.json()["message"]
    for_anna = {"meal_id": "pm-1", "crew_id": "anna", "role": "head_cook"}
    assert post(f"{commands}/meals/volunteer_to_cook", for_anna, anna, "p3").status_code == 200
    coordinators = post(f"{commands}/onboarding/forget_person", {"person_id": "bo"}, anna, "p4")
    assert coordinators.status_code == 403 and "personal page" in coordinators.json()["message"]
    eventually(
        env,
        "select type, actor, source from event_log where type like 'meals.%' order by seq",
        [
            {"type": "meals.meal_planned", "actor": "anna", "source": "me:anna"},
            {"type": "meals.volunteered_to_cook", "actor": "anna", "source": "me:anna"},
        ],
    )

    shown = poll(
        lambda: me(url, anna).json(),
        until=lambda body: len(body.get("changes", [])) >= 2,
        what="the page shows what changed",
    )
    assert (shown["crew_id"], shown["display_name"]) == ("anna", "Anna Holm")
    newest = shown["changes"][0]
    assert (newest["type"], newest["actor_name"], newest["about"]) == (
        "meals.volunteered_to_cook",
        "Anna Holm",
        "pm-1",
    )
    assert me(url, kiosk_token(env)).status_code == 403, "a tablet is no one's own page"
    ahead = httpx.get(
        f"{url}/api/v1/board?days=14", headers={"authorization": f"Bearer {anna}"}, timeout=20
    )
    assert ahead.status_code == 200 and ahead.json()["until"] > ahead.json()["today"]
    too_far = httpx.get(
        f"{url}/api/v1/board?days=15", headers={"authorization": f"Bearer {anna}"}, timeout=20
    )
    assert too_far.status_code == 400 and "days" in too_far.text

    old_link, anna = anna, link(env, "--coordinator", "anna")  # an event, and a new link
    poll(lambda: me(url, anna).json(), until=lambda b: b.get("coordinator"), what="a coordinator")
    assert me(url, old_link).status_code == 401, "a new link ends the old one"
    crew(env, "link", "--coordinator", "--revoke", "anna")
    eventually(
        env,
        "select type from event_log where type like 'onboarding.coordinator_%' order by seq",
        [{"type": "onboarding.coordinator_granted"}, {"type": "onboarding.coordinator_revoked"}],
    )
    eventually(env, "select coordinator from crew where crew_id = 'anna'", [{"coordinator": False}])
    assert me(url, anna).status_code == 200, "taking the role back leaves the link"

    crew(env, "link", "--revoke", "anna")
    withdraw = {"meal_id": "pm-1", "crew_id": "anna"}
    poll(
        lambda: post(f"{commands}/meals/withdraw", withdraw, anna, "p5").status_code,
        until=lambda status: status == 401,
        what="a revoked link is refused",
    )
    bo = link(env, "bo")
    assert me(url, bo).status_code == 200
    crew(env, "forget", "bo")
    poll(
        lambda: me(url, bo).status_code,
        until=lambda status: status == 401,
        what="a forgotten person's link ends with them",
    )
