"""Least-privilege NATS users: every forbidden publish and subscribe is refused by the server.

A nats-server runs with the very users block `crew up` writes (crew/auth.py). Each user tries
each action of the matrix; the server must refuse exactly the ones its role does not allow."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import nats.errors
import pytest

from crew import auth
from crew.natsserver import NatsServer, free_port
from tests.faults.harness import say

ALL = set(auth.ROLES)
SERVICES = {"meals", "rota", "onboarding"}
# (publish|subscribe, subject, the users allowed to)
MATRIX: list[tuple[str, str, set[str]]] = [
    ("publish", "crew.evt.meals.m1.meal_planned", {"meals", "house"}),
    ("publish", "crew.evt.onboarding.p1.person_forgotten", {"onboarding", "house"}),
    ("publish", "crew.evt.rota.s1.series_planned", {"rota", "house"}),
    ("publish", "crew.cmd.meals.plan_meal", {"kiosk", "coordinator", "house"}),
    ("publish", "crew.cmd.rota.release_claim", {"meals", "kiosk", "coordinator", "house"}),
    ("publish", "crew.query.sql", {"kiosk", "coordinator", "house"}),
    ("publish", "crew.query.restricted_sql", {"coordinator", "house"}),
    ("publish", "crew.projector.rebuild", {"coordinator", "house"}),
    ("publish", "$JS.API.STREAM.DELETE.CREW_EVENTS", {"house"}),
    ("publish", "$JS.API.STREAM.PURGE.CREW_EVENTS", {"house"}),
    ("publish", "$JS.API.STREAM.MSG.DELETE.CREW_EVENTS", {"house"}),
    ("publish", "$JS.API.STREAM.UPDATE.CREW_EVENTS", {"house"}),
    ("publish", "$KV.CREW_COMMAND_OUTCOMES.c1", SERVICES | {"house"}),
    ("publish", "$KV.CREW_KIOSK_TOKENS.tablet", {"coordinator", "house"}),
    ("publish", "$JS.API.DIRECT.GET.CREW_EVENTS", SERVICES | {"projector", "coordinator", "observer", "house"}),
    ("subscribe", "crew.cmd.meals.*", {"meals", "house"}),
    ("subscribe", "crew.cmd.>", {"house"}),
    ("subscribe", "crew.query.sql", {"query", "house"}),
    ("subscribe", "crew.query.restricted_sql", {"query", "house"}),
    ("subscribe", "crew.evt.>", {"coordinator", "observer", "house"}),
    ("subscribe", "crew.projector.rebuild", {"projector", "house"}),
    ("subscribe", "_INBOX.>", {"house"}),  # nobody reads everyone's replies
    ("subscribe", "_INBOX_coordinator.>", {"coordinator", "house"}),  # only their own
    ("subscribe", "_INBOX_kiosk.>", {"kiosk", "house"}),
]  # fmt: skip


async def refused(url: str, user: str, password: str, action: str, subject: str) -> bool:
    """Whether the server refuses this user this action (it says so with -ERR)."""
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    nc = await nats.connect(
        url, user=user or None, password=password or None, error_cb=on_error, allow_reconnect=False
    )
    try:
        if action == "publish":
            await nc.publish(subject, b"{}")
        else:
            await nc.subscribe(subject)
        await nc.flush(timeout=2)
        await asyncio.sleep(0.05)
    finally:
        await nc.close()
    return any(
        "permissions violation" in e.lower() and subject.lower() in e.lower() for e in errors
    )


async def anonymous_is_powerless(url: str, user: str | None, password: str | None) -> bool:
    """No credentials: connected as nobody, who can append nothing and read nothing. A wrong
    password: not connected at all."""
    try:
        nc = await nats.connect(
            url, user=user, password=password, allow_reconnect=False, connect_timeout=2
        )
    except (nats.errors.Error, OSError):
        return user is not None
    try:
        with pytest.raises(nats.errors.Error):
            await nc.jetstream().publish("crew.evt.meals.x.volunteered_to_cook", b"{}", timeout=2)
        return all(
            [
                await refused(url, "", "", "publish", "crew.evt.meals.x.volunteered_to_cook"),
                await refused(url, "", "", "subscribe", "crew.evt.>"),
                await refused(url, "", "", "publish", "crew.cmd.meals.plan_meal"),
            ]
        )
    finally:
        await nc.close()


async def test_each_user_may_do_only_what_its_role_allows(tmp_path: Path) -> None:
    passwords = {**auth.passwords(), auth.ANONYMOUS: ""}  # nobody has no password (auth.py)
    server = NatsServer(tmp_path, free_port(), authorization=auth.authorization_block(passwords))
    server.start()
    try:
        wrong: list[str] = []
        users = sorted(ALL)
        say("auth matrix (x = refused by the server, . = allowed):")
        say(f"{'':<48}" + " ".join(f"{u[:5]:>5}" for u in users))
        for action, subject, allowed in MATRIX:
            row = []
            for user in users:
                no = await refused(server.url, user, passwords[user], action, subject)
                row.append("x" if no else ".")
                if no == (user in allowed):
                    wrong.append(f"{user} {action} {subject}: {'refused' if no else 'allowed'}")
            say(f"{action + ' ' + subject:<48}" + " ".join(f"{c:>5}" for c in row))
        assert not wrong, "\n".join(wrong)

        for user, password in ((None, None), ("kiosk", "guess")):
            assert await anonymous_is_powerless(server.url, user, password)
        say("no credentials: connected as nobody, every publish and subscribe refused")
        say("wrong password: refused at connect")
    finally:
        server.stop()


async def test_a_running_house_refuses_anonymous_clients_and_works_for_its_own(
    house: tuple[dict[str, str], object],
) -> None:
    """The house `crew up` starts: components and the CLI work, a stranger gets nowhere."""
    env, _ = house
    import json

    info = json.loads((Path(env["CREW_HOME"]) / "house.json").read_text())
    assert (Path(env["CREW_HOME"]) / "house.json").stat().st_mode & 0o077 == 0
    assert (Path(env["CREW_HOME"]) / "nats.conf").stat().st_mode & 0o077 == 0
    public = auth.without_credentials(info["nats_url"])
    assert await anonymous_is_powerless(public, None, None)
    observer = await nats.connect(**auth.connection(info["observer_url"]))  # read the log
    await observer.jetstream().stream_info("CREW_EVENTS")
    await observer.close()
