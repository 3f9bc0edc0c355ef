"""The role table's own bookkeeping: every follower (and every durable consumer the code names)
has its owner in house/auth.py DURABLES (NATS wildcards cannot match a name prefix, so each is
listed), which gives it its own key of CREW_FOLLOWERS and denies its name to everyone else."""

from __future__ import annotations

import re
from pathlib import Path

from house import auth

ROOT = Path(__file__).resolve().parents[2]
# A follower's name: a CONSUMER constant handed to crew.follow.Follower, or a durable's literal.
NAMED = re.compile(r'^CONSUMER = "([^"]+)"|durable(?:_name)?="([^"]+)"', re.MULTILINE)


def test_every_durable_in_the_code_has_its_owner_in_the_role_table() -> None:
    found = {
        name
        for folder in ("crew", "services", "projections")
        for path in (ROOT / folder).rglob("*.py")
        for match in NAMED.finditer(path.read_text())
        for name in match.groups()
        if name
    }
    listed = {name for names in auth.DURABLES.values() for name in names}
    assert found, "the scan finds the followers' durables"
    assert found <= listed, f"durables without an owner in auth.DURABLES: {found - listed}"


def test_a_durable_is_denied_to_every_user_but_its_owner_and_the_house() -> None:
    for owner, names in auth.DURABLES.items():
        for name in names:
            rule = f"$JS.API.CONSUMER.*.{auth.EVENTS}.{name}"
            for user, role in auth.ROLES.items():
                if user in (owner, "house", "nobody"):
                    continue
                denied = rule in role.deny_publish or "$JS.>" in role.deny_publish
                assert denied, f"{user} is not denied {name}"


def test_a_follower_reaches_its_own_key_of_the_followers_bucket_and_no_other() -> None:
    for owner, names in auth.DURABLES.items():
        for name in names:
            key = f"$KV.{auth.FOLLOWERS}.{name}"
            assert key in auth.ROLES[owner].publish, f"{owner} cannot write {name}"
            for user, role in auth.ROLES.items():
                if user not in (owner, "house"):
                    assert key not in role.publish, f"{user} may write {name}"
                    assert f"$KV.{auth.FOLLOWERS}.>" not in role.publish, user
