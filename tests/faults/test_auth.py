"""Least-privilege NATS users: every forbidden publish and subscribe is refused by the server.

A nats-server runs with the very users block `crew up` writes (house/auth.py). Each user tries
each action of the matrix; the server must refuse exactly the ones its role does not allow."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from pathlib import Path

import msgspec
import nats
import nats.errors
import pytest
from nats.aio.msg import Msg

from crew import follow, urls
from crew.eventstore import Recorded
from house import auth
from house.natsserver import NatsServer
from house.runner import prepare
from schemas.registry import COMMAND_TYPES
from services.kiosk.commands import MEMBER_MAY
from services.kiosk.tap_actions import TAP_MAY
from tests.faults.harness import say
from tests.polling import eventually_async
from tests.ports import free_port

USERS = ("meals", "rota", "onboarding", "notices", "activities", "projector", "query", "kiosk", "coordinator",
         "observer", "house", "nobody")  # fmt: skip
SERVICES = {"meals", "rota", "onboarding", "notices", "activities"}
# Who reads the log (Direct and API gets): the services, the projector, coordinators, observers.
LOG_READERS = SERVICES | {"projector", "coordinator", "observer", "house"}
# Who replays the log with consumers named at random: the projector, the CLI, the rota's
# calendar, the followers (meals follows the rota, the rota follows meals), and notices.
REPLAYERS = {"meals", "rota", "notices", "projector", "coordinator", "house"}
# The followers and their owners: each keeps its position under its own key of CREW_FOLLOWERS,
# which only its owner writes; older houses had a durable consumer of that name, which only
# its owner may look up and delete (to move off it).
FOLLOWERS = {"meals-follows-rota": "meals", "rota-follows-meals": "rota"}
# Each bucket: who gets its entries, who writes (puts, deletes, purges an entry), who erases a
# message by sequence. Nobody but `crew up` purges a whole bucket.
BUCKET_RIGHTS: dict[str, tuple[set[str], set[str], set[str]]] = {
    # Sealing (services), unsealing names (projector), `crew export` and backups (coordinator);
    # only onboarding forgets a person.
    "CREW_PERSONAL_KEYS": (SERVICES | {"projector", "coordinator", "house"}, SERVICES | {"house"},
                           {"onboarding", "house"}),
    # The kiosk watches its tokens (an ordered consumer), it does not get them one by one.
    "CREW_KIOSK_TOKENS": ({"coordinator", "house"}, {"coordinator", "house"}, {"house"}),
    # The kiosk also writes one: "Open my page" from a mail the person asked for.
    # Onboarding ends a forgotten person's links (their page and calendar tokens).
    "CREW_PAGE_TOKENS": ({"onboarding", "coordinator", "house"},
                         {"onboarding", "kiosk", "coordinator", "house"}, {"house"}),
    "CREW_ICAL_TOKENS": ({"onboarding", "kiosk", "coordinator", "house"},
                         {"onboarding", "coordinator", "house"}, {"house"}),
    "CREW_COMMAND_OUTCOMES": (SERVICES | {"coordinator", "house"}, SERVICES | {"house"}, {"house"}),
    # The key of one-tap links: the notices service signs, the kiosk checks.
    "CREW_LINK_KEYS": ({"notices", "kiosk", "house"}, {"house"}, {"house"}),
    # The whole bucket only for backups; each follower its own key (below).
    "CREW_FOLLOWERS": ({"coordinator", "house"}, {"house"}, {"house"}),
}  # fmt: skip
KV_HEADERS: dict[str, dict[str, str] | None] = {
    "put": None,
    "delete": {"KV-Operation": "DEL"},
    "purge": {"KV-Operation": "PURGE", "Nats-Rollup": "sub"},
}

# (action, subject, the users allowed to); action is publish, subscribe, or a KV operation.
MATRIX: list[tuple[str, str, set[str]]] = [
    ("publish", "crew.evt.meals.m1.meal_planned", {"meals", "house"}),
    ("publish", "crew.evt.onboarding.p1.person_forgotten", {"onboarding", "house"}),
    ("publish", "crew.evt.rota.s1.series_planned", {"rota", "house"}),
    ("publish", "crew.evt.notices.p1.notice_sent", {"notices", "house"}),
    ("publish", "crew.evt.activities.a1.activity_planned", {"activities", "house"}),
    # the mail not sent yet, with addresses: coordinators ask, the notices service answers
    ("publish", "crew.notices.outbox", {"coordinator", "house"}),
    ("subscribe", "crew.notices.outbox", {"notices", "house"}),
    # everyday SQL: the kiosk's board and feeds, coordinators, the notices' burnout watch
    ("publish", "crew.query.sql", {"kiosk", "notices", "coordinator", "house"}),
    ("publish", "crew.query.restricted_sql", {"coordinator", "house"}),
    ("publish", "crew.projector.rebuild", {"coordinator", "house"}),
    ("publish", "$JS.API.STREAM.DELETE.CREW_EVENTS", {"house"}),
    ("publish", "$JS.API.STREAM.PURGE.CREW_EVENTS", {"house"}),
    ("publish", "$JS.API.STREAM.MSG.DELETE.CREW_EVENTS", {"house"}),
    ("publish", "$JS.API.STREAM.UPDATE.CREW_EVENTS", {"house"}),
    ("publish", "$JS.API.DIRECT.GET.CREW_EVENTS", LOG_READERS),
    ("publish", "$JS.API.DIRECT.GET.CREW_EVENTS.crew.evt.meals.m1.meal_planned", LOG_READERS),
    ("publish", "$JS.API.STREAM.MSG.GET.CREW_EVENTS", LOG_READERS),
    # the one lookup `js.subscribe("crew.evt.meals.>", ordered_consumer=True)` makes
    ("publish", "$JS.API.STREAM.NAMES", {"observer", "house"}),
    # consumers of one's own: unnamed ordered ones (observers), replays nats-py names (projector, CLI)
    ("publish", "$JS.API.CONSUMER.CREATE.CREW_EVENTS", {"observer", "house"}),
    ("publish", "$JS.API.CONSUMER.CREATE.CREW_EVENTS.rAnd0m.crew.evt.>", REPLAYERS),
    ("publish", "$JS.API.CONSUMER.MSG.NEXT.CREW_EVENTS.rAnd0m", REPLAYERS),
    ("publish", "$JS.API.CONSUMER.DELETE.CREW_EVENTS.rAnd0m", REPLAYERS),
    ("publish", "$JS.API.CONSUMER.DURABLE.CREATE.CREW_EVENTS.new-durable", {"house"}),
    ("publish", "$JS.API.CONSUMER.NAMES.CREW_EVENTS", {"house"}),
    ("publish", "$JS.FC.CREW_EVENTS.rAnd0m.x", {"observer", "house"}),
    # replies go to the asker's own inbox only; the projector answers rebuilds as responses
    ("publish", "_INBOX_coordinator.progress", {"house"}),
    ("subscribe", "crew.cmd.meals.*", {"meals", "house"}),
    ("subscribe", "crew.cmd.activities.*", {"activities", "house"}),
    ("subscribe", "crew.cmd.>", {"house"}),
    ("subscribe", "crew.query.sql", {"query", "house"}),
    ("subscribe", "crew.query.restricted_sql", {"query", "house"}),
    ("subscribe", "crew.evt.>", {"coordinator", "observer", "house"}),
    # onboarding hears each forget as it is recorded, to end the person's links
    ("subscribe", "crew.evt.onboarding.p1.person_forgotten",
     {"onboarding", "coordinator", "observer", "house"}),
    ("subscribe", "crew.evt.onboarding.p1.newcomer_arrived", {"coordinator", "observer", "house"}),
    ("subscribe", "crew.projector.rebuild", {"projector", "house"}),
    ("subscribe", "_INBOX.>", {"house"}),  # nobody reads everyone's replies
    ("subscribe", "_INBOX_coordinator.>", {"coordinator", "house"}),  # only their own
    ("subscribe", "_INBOX_kiosk.>", {"kiosk", "house"}),
    # every command: its service's caller. The kiosk exactly what a crew member's own page may
    # send (a tablet's are among them); meals
    # hands a refused cooking claim back to the rota.
    *(
        (
            "publish",
            f"crew.cmd.{command}",
            {"coordinator", "house"}
            | ({"kiosk"} if command.split(".")[1] in MEMBER_MAY.get(command.split(".")[0], ()) else set())
            | ({"kiosk"} if tuple(command.split(".")) in TAP_MAY else set())
            | ({"meals"} if command == "rota.release_claim" else set()),
        )
        for command in sorted(COMMAND_TYPES)
    ),
    # the buckets: gets, entry writes, erasing a message, purging the bucket
    *(
        row
        for bucket, (readers, writers, erasers) in BUCKET_RIGHTS.items()
        for row in (
            ("publish", f"$JS.API.DIRECT.GET.KV_{bucket}", readers),
            ("publish", f"$JS.API.DIRECT.GET.KV_{bucket}.$KV.{bucket}.k1", readers),
            ("publish", f"$JS.API.STREAM.MSG.GET.KV_{bucket}", readers),
            ("kv-put", f"$KV.{bucket}.k-put", writers),
            ("kv-delete", f"$KV.{bucket}.k-delete", writers),
            ("kv-purge", f"$KV.{bucket}.k-purge", writers),
            ("publish", f"$JS.API.STREAM.MSG.DELETE.KV_{bucket}", erasers),
            ("publish", f"$JS.API.STREAM.PURGE.KV_{bucket}", {"house"}),
        )
    ),
    # the followers: the bucket's lookup, and each one's own key, got, written, deleted
    ("publish", "$JS.API.STREAM.INFO.KV_CREW_FOLLOWERS", {"meals", "rota", "coordinator", "house"}),
    *(
        row
        for key, owner in FOLLOWERS.items()
        for row in (
            ("publish", f"$JS.API.DIRECT.GET.KV_CREW_FOLLOWERS.$KV.CREW_FOLLOWERS.{key}",
             {owner, "coordinator", "house"}),
            ("kv-put", f"$KV.CREW_FOLLOWERS.{key}", {owner, "house"}),
            ("kv-delete", f"$KV.CREW_FOLLOWERS.{key}", {owner, "house"}),
        )
    ),
    # the durable a follower had in older houses, by name: its owner may look it up and delete
    # it (and, as any replayer may with a name, make a consumer so named); no one else even looks
    *(
        (action, subject, allowed)
        for durable, owner in FOLLOWERS.items()
        for action, subject, allowed in (
            ("publish", f"$JS.API.CONSUMER.DURABLE.CREATE.CREW_EVENTS.{durable}", {"house"}),
            ("publish", f"$JS.API.CONSUMER.CREATE.CREW_EVENTS.{durable}", {owner, "house"}),
            ("publish", f"$JS.API.CONSUMER.CREATE.CREW_EVENTS.{durable}.crew.evt.>",
             {owner, "house"}),
            ("publish", f"$JS.API.CONSUMER.MSG.NEXT.CREW_EVENTS.{durable}", {owner, "house"}),
            ("publish", f"$JS.ACK.CREW_EVENTS.{durable}.1.7.7.1700000000000000000.0", {"house"}),
            ("publish", f"$JS.API.CONSUMER.PAUSE.CREW_EVENTS.{durable}", {"house"}),
            ("publish", f"$JS.API.CONSUMER.RESET.CREW_EVENTS.{durable}", {"house"}),
            ("publish", f"$JS.API.CONSUMER.LEADER.STEPDOWN.CREW_EVENTS.{durable}", {"house"}),
            ("publish", f"$JS.API.CONSUMER.INFO.CREW_EVENTS.{durable}", {owner, "house"}),
            ("publish", f"$JS.API.CONSUMER.DELETE.CREW_EVENTS.{durable}", {owner, "house"}),
        )
    ),
    # no one but the house lists consumers: no one learns the name of another's
    ("publish", "$JS.API.CONSUMER.LIST.CREW_EVENTS", {"house"}),
]  # fmt: skip


async def refusals(url: str, user: str, password: str, cells: list[tuple[str, str]]) -> list[bool]:
    """For each (action, subject): whether the server refused this user (it says so with -ERR,
    naming the subject). One connection per user: a refusal does not close it."""
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc).lower())

    nc = await nats.connect(
        url, user=user or None, password=password or None, error_cb=on_error, allow_reconnect=False
    )
    try:
        for action, subject in cells:
            if action == "subscribe":
                await nc.subscribe(subject)
            else:
                headers = (
                    KV_HEADERS[action.removeprefix("kv-")] if action.startswith("kv-") else None
                )
                await nc.publish(subject, b"{}", headers=headers)
        await nc.flush(timeout=5)
        # The -ERRs of refused commands may come after the flush's PONG, and nothing marks the
        # last one: a window for them to arrive, not a wait for something known to come.
        await asyncio.sleep(0.2)
    finally:
        await nc.close()
    return [
        any(
            f"permissions violation for {'subscription' if action == 'subscribe' else 'publish'}"
            f' to "{subject.lower()}"' in e
            for e in errors
        )
        for action, subject in cells
    ]


async def refused(url: str, user: str, password: str, action: str, subject: str) -> bool:
    """Whether the server refuses this user this action (it says so with -ERR)."""
    return (await refusals(url, user, password, [(action, subject)]))[0]


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
    assert set(USERS) == set(auth.ROLES), "a user came or went: give it its column in MATRIX"
    passwords = {**auth.passwords(), auth.ANONYMOUS: ""}  # nobody has no password (auth.py)
    server = NatsServer(tmp_path, free_port(), authorization=auth.authorization_block(passwords))
    server.start()
    try:
        cells = [(action, subject) for action, subject, _ in MATRIX]
        refused_by_user = {
            user: await refusals(server.url, user, passwords[user], cells) for user in USERS
        }
        wrong: list[str] = []
        say("auth matrix (x = refused by the server, . = allowed):")
        say(f"{'':<72}" + " ".join(f"{u[:5]:>5}" for u in USERS))
        for i, (action, subject, allowed) in enumerate(MATRIX):
            row = []
            for user in USERS:
                no = refused_by_user[user][i]
                row.append("x" if no else ".")
                if no == (user in allowed):
                    wrong.append(f"{user} {action} {subject}: {'refused' if no else 'allowed'}")
            say(f"{action + ' ' + subject:<72}" + " ".join(f"{c:>5}" for c in row))
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
    info = json.loads((Path(env["CREW_HOME"]) / "house.json").read_text())
    assert (Path(env["CREW_HOME"]) / "house.json").stat().st_mode & 0o077 == 0
    assert (Path(env["CREW_HOME"]) / "nats.conf").stat().st_mode & 0o077 == 0
    public = urls.without_credentials(info["nats_url"])
    assert await anonymous_is_powerless(public, None, None)
    observer = await nats.connect(**urls.connection(info["observer_url"]))  # read the log
    await observer.jetstream().stream_info("CREW_EVENTS")
    await observer.close()


def component_environments(house_pid: int) -> dict[str, dict[str, str]]:
    """The environment of each component process `crew up` started, by its module."""
    found: dict[str, dict[str, str]] = {}
    pids = subprocess.run(["pgrep", "-g", str(house_pid)], capture_output=True, text=True).stdout
    for pid in pids.split():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"-m" in cmdline:
            module = cmdline[cmdline.index(b"-m") + 1].decode()
            found[module] = dict(item.decode().split("=", 1) for item in raw if b"=" in item)
    return found


async def ask(nc: nats.NATS, subject: str, body: bytes = b"{}") -> bytes | None:
    """The answer, or None where the server refused or no one answered."""
    try:
        return (await nc.request(subject, body, timeout=2)).data
    except (TimeoutError, nats.errors.Error):
        return None


async def test_in_a_running_house_the_observer_follows_the_log_and_reaches_no_key_nor_durable(
    house: tuple[dict[str, str], subprocess.Popen[bytes]],
) -> None:
    """What the review's probe found, against the house `crew up` starts: the observer may
    follow the log the usual nats-py way, but gets no personal key and cannot delete the
    followers' durables; the kiosk's user cannot forget anyone; only the projector's process
    holds the query user's password."""
    env, process = house
    info = json.loads((Path(env["CREW_HOME"]) / "house.json").read_text())
    crew_cli = [str(Path(sys.executable).parent / "crew"), "send"]
    body = '{"newcomer_id":"n1","display_name":"Ada"}'
    sent = subprocess.run([*crew_cli, "onboarding.register_newcomer", body], env=env, check=True)
    assert sent.returncode == 0

    observer = await nats.connect(**urls.connection(info["observer_url"]))
    try:
        got: list[str] = []

        async def follow(msg: Msg) -> None:
            got.append(msg.subject)

        await observer.jetstream().subscribe(
            "crew.evt.onboarding.>", cb=follow, ordered_consumer=True
        )
        await eventually_async(
            lambda: got, what="the observer follows the log with js.subscribe(ordered_consumer)"
        )
        buckets = (
            "KV_CREW_PERSONAL_KEYS",
            "KV_CREW_KIOSK_TOKENS",
            "KV_CREW_ICAL_TOKENS",
            "KV_CREW_PAGE_TOKENS",
        )
        forbidden = [
            *(
                f"$JS.API.{get}.{stream}"
                for stream in buckets
                for get in ("DIRECT.GET", "STREAM.MSG.GET")
            ),
            *(f"$JS.API.CONSUMER.DELETE.CREW_EVENTS.{durable}" for durable in FOLLOWERS),
        ]
        # All at once: a refused request is known only by its answer never coming.
        answers = await asyncio.gather(*(ask(observer, s, b'{"seq":1}') for s in forbidden))
        assert dict(zip(forbidden, answers, strict=True)) == dict.fromkeys(forbidden)
    finally:
        await observer.close()
    house_nc = await nats.connect(**urls.connection(info["nats_url"]))  # the coordinator
    try:
        names = msgspec.json.decode(
            (await house_nc.request("$JS.API.CONSUMER.NAMES.CREW_EVENTS", b"{}", timeout=2)).data
        )
    except nats.errors.Error:
        names = {}
    finally:
        await house_nc.close()
    assert names == {}, "the coordinator may not list consumers either"

    environments = component_environments(process.pid)
    assert set(environments) >= {"services.kiosk", "projections", "services.meals"}
    holders = {module for module, e in environments.items() if "CREW_QUERY_NATS_URL" in e}
    assert holders == {"projections"}, "only the projector's process has the query password"
    kiosk = await nats.connect(**urls.connection(environments["services.kiosk"]["CREW_NATS_URL"]))
    try:
        forget = await ask(kiosk, "crew.cmd.onboarding.forget_person", b'{"person_id":"n1"}')
        assert forget is None, "the kiosk's NATS user cannot forget anyone"
    finally:
        await kiosk.close()


async def test_the_observer_cannot_change_a_follower_through_an_unnamed_create(
    tmp_path: Path,
) -> None:
    """The unnamed create ordered consumers need takes a consumer name in its body, and with an
    existing consumer's name it changes that consumer (nats-server 2.15.1). The followers keep
    their position in a key of their own and read with consumers whose names no one can learn:
    the observer cannot list or look up consumers, and a create naming the followers' old
    durables changes nothing a follower uses. The follower goes on through all of it."""
    passwords = auth.passwords()
    server = NatsServer(tmp_path, free_port(), authorization=auth.authorization_block(passwords))
    server.start()
    seen: list[int] = []

    async def react(event: Recorded, attempt: int) -> bool:
        seen.append(event.seq)
        return True

    follower = follow.Follower("meals-follows-rota", "meal days", ["crew.evt.rota.>"])
    try:
        house_nc = await nats.connect(server.url, user="house", password=passwords["house"])
        await prepare(house_nc)
        js = house_nc.jetstream()
        meals = await nats.connect(
            server.url, user="meals", password=passwords["meals"], inbox_prefix="_INBOX_meals"
        )
        observer = await nats.connect(
            server.url, user="observer", password=passwords["observer"],
            inbox_prefix="_INBOX_observer",
        )  # fmt: skip
        appended = [(await js.publish("crew.evt.rota.o1.occurrence_scheduled", b"{}")).seq]
        task = asyncio.create_task(follow.follow_in_order(meals, follower, react))
        await eventually_async(lambda: seen, every=0.05)
        listings = [f"$JS.API.CONSUMER.{listing}.CREW_EVENTS" for listing in ("NAMES", "LIST")]
        assert await asyncio.gather(*(ask(observer, s) for s in listings)) == [None, None]
        names = msgspec.json.decode(
            (await house_nc.request("$JS.API.CONSUMER.NAMES.CREW_EVENTS", b"{}")).data
        )["consumers"]
        assert len(names) == 1 and len(names[0]) == 32, "one consumer, with a secret name"
        stream_info = await ask(observer, "$JS.API.STREAM.INFO.CREW_EVENTS")
        assert stream_info is not None and names[0].encode() not in stream_info
        assert await ask(observer, f"$JS.API.CONSUMER.INFO.CREW_EVENTS.{names[0]}") is None

        for name in FOLLOWERS:  # the old durables' names: made, or changed, by the observer
            request = {
                "stream_name": "CREW_EVENTS",
                "config": {
                    "name": name, "filter_subjects": ["x.>"],
                    "deliver_policy": "by_start_sequence", "opt_start_seq": 1000,
                    "ack_policy": "explicit",
                },
            }  # fmt: skip
            created = await ask(
                observer, "$JS.API.CONSUMER.CREATE.CREW_EVENTS", json.dumps(request).encode()
            )
            assert created is not None and b'"error"' not in created, "the hole NATS leaves"
        appended.append((await js.publish("crew.evt.rota.o2.occurrence_scheduled", b"{}")).seq)
        await eventually_async(lambda: len(seen) == 2, every=0.05)
        assert seen == appended, "the follower goes on"
        mine = await js.consumer_info("CREW_EVENTS", names[0])
        assert mine.config.filter_subject == "crew.evt.rota.>"

        task.cancel()  # a restart: the follower starts from its own key, not the observer's
        with contextlib.suppress(asyncio.CancelledError):
            await task
        appended.append((await js.publish("crew.evt.rota.o3.occurrence_scheduled", b"{}")).seq)
        task = asyncio.create_task(follow.follow_in_order(meals, follower, react))
        await eventually_async(lambda: len(seen) == 3, every=0.05)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert seen == appended, "nothing skipped, nothing twice"
        for key in FOLLOWERS:  # nor can the observer read or write a position
            subject = f"$JS.API.DIRECT.GET.KV_CREW_FOLLOWERS.$KV.CREW_FOLLOWERS.{key}"
            assert await ask(observer, subject, b"") is None
            assert await refused(
                server.url, "observer", passwords["observer"], "kv-put", f"$KV.CREW_FOLLOWERS.{key}"
            )
        await observer.close()
        await meals.close()
        await house_nc.close()
    finally:
        server.stop()
