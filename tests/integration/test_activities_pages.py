"""Activities on the pages, over real HTTP against a running house: the board lists the coming
activities (guests counted, never named), the initiatives and the kinds of contribution; a
personal page signs up with one tap, records "jeg har bidraget" for itself or someone else, and
lists its own part; the calendar feed carries the person's activities."""

from __future__ import annotations

import datetime
import subprocess

import httpx

from tests.integration.cli import send
from tests.integration.test_ical import events_in, feed_url
from tests.integration.test_kiosk_http import base, kiosk_token, post
from tests.integration.test_pages import link, me
from tests.polling import eventually as poll

House = tuple[dict[str, str], subprocess.Popen[str]]
SOON = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=3)).replace(
    minute=0, second=0, microsecond=0
)
PLAN = {
    "activity_id": "pg-w1",
    "title": "Syværksted",
    "starts_at": SOON.isoformat(),
    "ends_at": (SOON + datetime.timedelta(hours=2)).isoformat(),
    "capacity": 2,
    "open_to_guests": True,
}


def test_pages_sign_up_record_contributions_and_the_feed_carries_activities(
    house: House,
) -> None:
    env, _ = house
    url, commands = base(env), f"{base(env)}/api/v1/commands"
    for crew_id in ("pa", "pb"):
        body = {"crew_id": crew_id, "display_name": f"Person {crew_id}"}
        assert send(env, "onboarding.register_crew_member", body)["status"] == "accepted"
    pa = link(env, "pa")
    assert post(f"{commands}/activities/plan_activity", PLAN, pa, "a1").status_code == 200
    guest = {"activity_id": "pg-w1", "guest_id": "pg-g1", "display_name": "Gæst Gunnhild"}
    assert post(f"{commands}/activities/sign_up_guest", guest, pa, "a2").status_code == 200
    mine = {"activity_id": "pg-w1", "crew_id": "pa"}
    assert post(f"{commands}/activities/sign_up", mine, pa, "a3").status_code == 200
    for_pb = {"activity_id": "pg-w1", "crew_id": "pb"}
    assert post(f"{commands}/activities/sign_up", for_pb, pa, "a4").status_code == 403
    start = {"initiative_id": "pg-i1", "title": "Vores Rum", "started_by": "pa"}
    assert post(f"{commands}/activities/start_initiative", start, pa, "a5").status_code == 200
    # "jeg har bidraget": for oneself, or for someone else, who is the one credited
    thanks = {"contribution_id": "pg-c1", "crew_id": "pb", "kind": "baked"}
    assert post(f"{commands}/activities/record_contribution", thanks, pa, "a6").status_code == 200

    page = poll(
        lambda: me(url, pa).json(),
        until=lambda p: p["my_activities"] and p["initiatives"],
        seconds=15,
    )
    assert [(a["activity_id"], a["part"]) for a in page["my_activities"]] == [
        ("pg-w1", "signed_up")
    ]
    [shown] = page["activities"]
    assert (shown["signed_up"], shown["guests"], shown["open_places"]) == (["pa"], 1, 0)
    assert {k["kind"] for k in page["contribution_kinds"]} >= {"good_atmosphere", "baked"}
    assert "Gunnhild" not in me(url, pa).text

    kiosk = kiosk_token(env)
    board = httpx.get(
        f"{url}/api/v1/board", headers={"authorization": f"Bearer {kiosk}"}, timeout=20
    ).json()
    assert [a["activity_id"] for a in board["activities"]] == ["pg-w1"]
    assert board["initiatives"][0]["lead"] == "pa" and "Gunnhild" not in str(board)
    tap = {"activity_id": "pg-w1", "crew_id": "pb"}  # full: the tablet's tap waitlists pb
    answer = post(f"{commands}/activities/sign_up", tap, kiosk, "k1").json()
    assert answer["events"][0]["type"] == "activities.waitlisted"

    summaries = [summary for summary, _, _ in events_in(feed_url(env, "pa"))]
    assert summaries == ["Syværksted"]
