"""Activities in a running house: a guest's sign-up counts, and `crew forget` on the guest
leaves their place counted and their name nowhere (the same search over every file, table and
log line as the onboarding forget test)."""

from __future__ import annotations

import subprocess

from tests.integration.cli import crew, eventually, send, sql
from tests.integration.test_onboarding_house import everything_readable

Env = dict[str, str]
House = tuple[Env, subprocess.Popen[str]]
GUEST_NAME = "Gudrun Quistgaard-Ypsilon"
GUEST_CONTACT = "gudrun.q@example.invalid"
SECRETS = (GUEST_NAME.encode(), GUEST_CONTACT.encode())
PLACES = "select signed_up, guests, guests_waiting from activities where activity_id = 'wk1'"


def test_a_forgotten_guest_stays_counted_and_their_name_is_nowhere(house: House) -> None:
    env, _ = house
    for body, command in (
        ({"crew_id": "ak1", "display_name": "Ak One"}, "onboarding.register_crew_member"),
        (
            {
                "activity_id": "wk1",
                "title": "Inspirationsdag",
                "starts_at": "2031-03-01T10:00:00+01:00",
                "ends_at": "2031-03-01T15:00:00+01:00",
                "capacity": 2,
                "open_to_guests": True,
                "fee_note": "50 kr",
            },
            "activities.plan_activity",
        ),
        (
            {
                "activity_id": "wk1",
                "guest_id": "gq1",
                "display_name": GUEST_NAME,
                "contact": GUEST_CONTACT,
            },
            "activities.sign_up_guest",
        ),
        ({"activity_id": "wk1", "crew_id": "ak1"}, "activities.sign_up"),
        (
            {"activity_id": "wk1", "guest_id": "gq2", "display_name": "Other"},
            "activities.sign_up_guest",
        ),
    ):
        assert send(env, command, body)["status"] == "accepted", command
    eventually(env, PLACES, [{"signed_up": ["ak1"], "guests": 1, "guests_waiting": 1}])
    log = crew(env, "events", "--format", "json").stdout
    assert "sealed:v1:gq1:display_name:" in log and GUEST_NAME not in log

    assert "forgotten" in crew(env, "forget", "gq1").stdout
    eventually(
        env,
        "select count(*) as n from event_log where type = 'onboarding.person_forgotten'",
        [{"n": 1}],
    )
    assert sql(env, PLACES) == [{"signed_up": ["ak1"], "guests": 1, "guests_waiting": 1}]
    for where, content in everything_readable(env).items():
        for secret in SECRETS:
            assert secret not in content, f"{secret!r} in {where}"
    assert "rebuilt every view" in crew(env, "rebuild").stderr
    eventually(env, PLACES, [{"signed_up": ["ak1"], "guests": 1, "guests_waiting": 1}])
