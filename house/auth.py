"""Least-privilege NATS users: one per component, each allowed only its own subjects.

`crew up` generates a fresh password for every user on each start, writes the users into the
server's config (`nats.conf`, readable by the house's owner only) and hands each component its
own URL. `house.json` (also owner-only) keeps the coordinator's URL for the `crew` CLI and the
observer's URL for other services. A client without credentials is `nobody`: it may neither
publish nor subscribe anything.

What each user may publish and subscribe is the table `ROLES` below; docs/operations.md
explains it and tests/faults/test_auth.py proves every refusal."""

from __future__ import annotations

import json
import secrets
from concurrent.futures import ThreadPoolExecutor

import bcrypt
import msgspec

from crew import follow, links, subjects, urls
from crew.personal import KEYS_BUCKET, LINK_TOKENS
from house import natsserver
from services.kiosk import tokens
from services.kiosk.commands import MEMBER_MAY
from services.kiosk.tap_actions import TAP_MAY
from services.meals import follows_rota
from services.rota import follows_meals

OWN_INBOX = "_INBOX.>"  # in ROLES: this user's own inbox, `_INBOX_<user>.>` (see `inbox_prefix`)
EVENTS = subjects.STREAM
OUTCOMES = subjects.OUTCOMES_BUCKET
KIOSK_TOKENS = tokens.BUCKET
ICAL_TOKENS = tokens.ICAL_BUCKET
PAGE_TOKENS = tokens.PAGE_BUCKET
FOLLOWERS = follow.BUCKET
LINK_KEYS = links.BUCKET  # not in BUCKETS: not backed up (links expire; a new house signs anew)
BUCKETS = (OUTCOMES, KEYS_BUCKET, KIOSK_TOKENS, ICAL_TOKENS, PAGE_TOKENS, FOLLOWERS)

# The followers' names, by the user that owns them. Each is a follower's key in CREW_FOLLOWERS,
# which only its owner (and the house) reads and writes, and the name of the durable consumer
# it followed with in older houses: the owner looks that one up and deletes it once (see
# crew.follow.migrated_position); every other user is denied each JetStream API subject that
# names it (`durable`), as a defence. NATS wildcards match whole tokens only, so a rule cannot
# say "names starting with meals-": the names are listed here, and
# tests/unit/test_auth_roles.py checks none is missing.
DURABLES: dict[str, tuple[str, ...]] = {
    "meals": (follows_rota.CONSUMER,),
    "rota": (follows_meals.CONSUMER,),
}


def reads_stream(stream: str) -> list[str]:
    """Look up one stream and get its messages by sequence or by subject (Direct and API gets)."""
    return [
        f"$JS.API.STREAM.INFO.{stream}",
        f"$JS.API.DIRECT.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}.>",
        f"$JS.API.STREAM.MSG.GET.{stream}",
    ]


def reads_bucket(bucket: str) -> list[str]:
    return reads_stream(f"KV_{bucket}")


def writes_bucket(bucket: str) -> list[str]:
    """Put, create and update a KV entry. (A delete or purge marker is a publish on the same
    subject: NATS cannot tell them apart, so whoever may write a bucket may also mark deletes.)"""
    return [f"$KV.{bucket}.>"]


def own_key(bucket: str, key: str) -> list[str]:
    """One key of a bucket and no other: look the bucket up, get the key (a Direct Get by
    subject, as nats-py's `kv.get` asks for it), and write it (put, create, update)."""
    return [
        f"$JS.API.STREAM.INFO.KV_{bucket}",
        f"$JS.API.DIRECT.GET.KV_{bucket}.$KV.{bucket}.{key}",
        f"$KV.{bucket}.{key}",
    ]


def pulls(stream: str) -> list[str]:
    """Replays of one stream with consumers of our own, named at random (crew/replay.py,
    `pull_subscribe`): create, fetch, ask after and delete them. No one can list consumers,
    so no one learns another's name; the old durables' names are denied to everyone but their
    owner (`others_durables`)."""
    return [
        f"$JS.API.CONSUMER.CREATE.{stream}.*",
        f"$JS.API.CONSUMER.CREATE.{stream}.*.>",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.*",
        f"$JS.API.CONSUMER.INFO.{stream}.*",
        f"$JS.API.CONSUMER.DELETE.{stream}.*",
    ]


def ordered(stream: str) -> list[str]:
    """Ordered (push) consumers as nats-py makes them (`js.subscribe(..., ordered_consumer=True)`,
    `kv.watch`): an unnamed consumer the server names, created again after a gap, with flow
    control. Nothing that names a consumer: no one else's can be reached this way."""
    return [f"$JS.API.CONSUMER.CREATE.{stream}", f"$JS.FC.{stream}.>"]


def watches(bucket: str) -> list[str]:
    """`kv.watch` and `kv.keys`: an ordered consumer on the bucket's stream, and the info of it
    (the server names it). A bucket's stream has no durables."""
    return [*ordered(f"KV_{bucket}"), f"$JS.API.CONSUMER.INFO.KV_{bucket}.*"]


def durable(stream: str, name: str) -> list[str]:
    """Every JetStream subject that acts on one durable consumer: create, update, info, fetch,
    pause, reset, delete, leader step-down, and the acks of its messages."""
    return [
        f"$JS.API.CONSUMER.*.{stream}.{name}",
        f"$JS.API.CONSUMER.*.{stream}.{name}.>",
        f"$JS.API.CONSUMER.*.*.{stream}.{name}",
        f"$JS.ACK.{stream}.{name}.>",
    ]


def others_durables(owner: str) -> list[str]:
    return [
        rule
        for other, names in DURABLES.items()
        if other != owner
        for name in names
        for rule in durable(EVENTS, name)
    ]


class Responses(msgspec.Struct, frozen=True):
    """NATS `allow_responses` with limits: up to `max` messages to a request's reply subject,
    within `expires` (a NATS duration) of receiving it."""

    max: int
    expires: str


class Permissions(msgspec.Struct, frozen=True):
    publish: list[str]
    subscribe: list[str]
    deny_publish: list[str] = []
    responds: bool | Responses = False  # may answer requests it received (allow_responses)


# A rebuild answers with its progress and then its result, all as responses to the request:
# the projector needs no right to publish into the coordinator's inbox.
REBUILD_ANSWERS = Responses(max=subjects.REBUILD_ANSWERS, expires="1h")


def service(
    context: str,
    sends: tuple[str, ...] = (),
    forgets: bool = False,
    replays: bool = False,
    follows: str | None = None,
    answers: tuple[str, ...] = (),
    reads: tuple[str, ...] = (),
) -> Permissions:
    """A command service: answers its own commands, appends only its own context's events,
    sends only the commands of other contexts named in `sends`, keeps its command outcomes,
    and seals personal fields with the keys it reads and makes (every context's events hold
    some). Only the context that `forgets` may erase a key (onboarding: `person_forgotten`),
    and it ends the forgotten person's page and calendar tokens as it hears each forget.
    One that `replays` reads the log with consumers of its own (the rota's calendar); one that
    `follows` another context does too, and keeps its position under its own key of
    CREW_FOLLOWERS (crew/follow.py), the only key of that bucket it reaches. It also answers
    the requests on the subjects in `answers`, and reads the buckets in `reads`."""
    erase = [f"$JS.API.STREAM.MSG.DELETE.KV_{KEYS_BUCKET}"] if forgets else []
    # ... and ends the forgotten person's links, as each forget is recorded
    ends = (
        [r for b in LINK_TOKENS for r in (*reads_bucket(b), *writes_bucket(b))] if forgets else []
    )
    hears = [subjects.event_subject("onboarding.person_forgotten", "*")] if forgets else []
    replay = pulls(EVENTS) if replays or follows else []
    position = own_key(FOLLOWERS, follows) if follows else []
    return Permissions(
        publish=[
            f"crew.evt.{context}.>",
            *sends,
            "$JS.API.INFO",
            *reads_stream(EVENTS),
            *reads_bucket(OUTCOMES),
            *writes_bucket(OUTCOMES),
            *reads_bucket(KEYS_BUCKET),
            *writes_bucket(KEYS_BUCKET),
            *(rule for bucket in reads for rule in reads_bucket(bucket)),
            *erase,
            *ends,
            *replay,
            *position,
            subjects.STATUS,
        ],
        subscribe=[subjects.commands_of(context), *answers, *hears, subjects.STATUS, OWN_INBOX],
        deny_publish=others_durables(context),
        responds=True,
    )


ROLES: dict[str, Permissions] = {
    # meals days follow the rota; a cooking claim meals turns down is handed back to the rota
    "meals": service(
        "meals",
        sends=(subjects.command_subject("rota", "release_claim"),),
        follows=follows_rota.CONSUMER,
    ),
    # the calendar reads the series so far; the rota follows withdrawals in meals
    "rota": service("rota", replays=True, follows=follows_meals.CONSUMER),
    "onboarding": service("onboarding", forgets=True),
    # activities, initiatives and contributions: its own commands and events; guests' names
    # are sealed under the guests' own keys
    "activities": service("activities"),
    # notices read the whole log (a picture of the house), seal and unseal the addresses,
    # show coordinators the mail not sent yet (`crew notices`), sign one-tap links with the
    # house's link key, and ask everyday SQL for the burnout watch (this month's load_balance)
    "notices": service(
        "notices",
        sends=(subjects.QUERY_SQL,),
        replays=True,
        answers=(subjects.NOTICES_OUTBOX,),
        reads=(LINK_KEYS,),
    ),
    # The projector replays the log, reads the personal keys (names in views) and answers
    # rebuilds with their progress.
    "projector": Permissions(
        publish=[
            "$JS.API.INFO",
            *reads_stream(EVENTS),
            *pulls(EVENTS),
            *reads_bucket(KEYS_BUCKET),
            # it checks at start that the house was prepared (crew.eventstore): counts only
            f"$JS.API.STREAM.INFO.KV_{OUTCOMES}",
            subjects.STATUS,
        ],
        subscribe=["crew.projector.>", subjects.STATUS, OWN_INBOX],
        deny_publish=["crew.evt.>", "crew.cmd.>", *others_durables("projector")],
        responds=REBUILD_ANSWERS,
    ),
    # The query service only answers SQL: it publishes nothing but its answers.
    "query": Permissions(
        publish=[],
        subscribe=["crew.query.>", subjects.STATUS],
        deny_publish=["crew.evt.>", "crew.cmd.>", "$JS.>", "$KV.>"],
        responds=True,
    ),
    # The kiosk sends the commands a crew member's own page may send (a tablet's are among
    # them; services/kiosk/commands.py), those of one-tap links in notices, and everyday SQL;
    # it reads the token buckets (kiosk and page tokens watched, calendar tokens looked up)
    # and the link key (to check a link), and writes a page token when a person opens their
    # page from the mail they asked for (services/kiosk/taps.py).
    "kiosk": Permissions(
        publish=[
            *sorted(
                {
                    subjects.command_subject(context, command)
                    for context, commands in MEMBER_MAY.items()
                    for command in commands
                }
                | {subjects.command_subject(context, command) for context, command in TAP_MAY}
            ),
            subjects.QUERY_SQL,
            "$JS.API.INFO",
            f"$JS.API.STREAM.INFO.KV_{KIOSK_TOKENS}",
            *watches(KIOSK_TOKENS),
            f"$JS.API.STREAM.INFO.KV_{PAGE_TOKENS}",
            *watches(PAGE_TOKENS),
            *writes_bucket(PAGE_TOKENS),  # "Open my page" from a mail the person asked for
            *reads_bucket(ICAL_TOKENS),
            *reads_bucket(LINK_KEYS),
            subjects.STATUS,
        ],
        subscribe=[subjects.STATUS, OWN_INBOX],
        deny_publish=["crew.evt.>", subjects.QUERY_RESTRICTED_SQL, *others_durables("kiosk")],
        responds=True,
    ),
    # Coordinators (the `crew` CLI): commands, all SQL, rebuilds, the log, kiosk and calendar
    # tokens, and every bucket for `crew backup` (the personal keys also for `crew export`; the
    # followers' positions only to save them). They never append events by hand, delete the
    # log, nor write a follower's position.
    "coordinator": Permissions(
        publish=[
            "crew.cmd.>",
            "crew.query.>",
            "crew.projector.>",
            subjects.NOTICES_OUTBOX,
            subjects.STATUS,
            *writes_bucket(KIOSK_TOKENS),
            *writes_bucket(ICAL_TOKENS),
            *writes_bucket(PAGE_TOKENS),
            "$JS.API.INFO",
            *reads_stream(EVENTS),
            *pulls(EVENTS),
            *(rule for bucket in BUCKETS for rule in reads_bucket(bucket)),
            *(rule for bucket in BUCKETS for rule in pulls(f"KV_{bucket}")),
            *(rule for bucket in BUCKETS for rule in watches(bucket)),
        ],
        subscribe=[subjects.EVENTS_ALL, OWN_INBOX],
        deny_publish=["crew.evt.>", *others_durables("coordinator")],
    ),
    # Other services: read and follow the log with gets and ordered consumers, nothing else.
    # `$JS.API.STREAM.NAMES` lets `js.subscribe("crew.evt.meals.>", ordered_consumer=True)`
    # find the stream; it answers names only.
    "observer": Permissions(
        publish=["$JS.API.INFO", "$JS.API.STREAM.NAMES", *reads_stream(EVENTS), *ordered(EVENTS)],
        subscribe=[subjects.EVENTS_ALL, OWN_INBOX],
        deny_publish=["crew.evt.>", "crew.cmd.>", *others_durables("observer")],
    ),
    # `crew up` itself: creates the stream and the buckets before anything else starts.
    "house": Permissions(publish=[">"], subscribe=[">"]),
    # A client without credentials is let in as nobody, who may do nothing at all. (Refusing
    # the connection instead leaves some clients retrying forever; this way they are told.)
    "nobody": Permissions(publish=[], subscribe=[], deny_publish=[">"]),
}
ANONYMOUS = "nobody"
LOGINS = tuple(user for user in ROLES if user != ANONYMOUS)  # the users with a password

# Which user each component of `crew up` connects as.
COMPONENT_USERS = {
    "meals": "meals",
    "rota": "rota",
    "onboarding": "onboarding",
    "notices": "notices",
    "activities": "activities",
    "projector": "projector",
    "kiosk": "kiosk",
}


# nats-server checks the hash on every connect: cost 6 adds ~4 ms to a connect, 10 ~65 ms, 11
# ~120 ms (measured on 2 cores; docs/operations.md). The passwords are 192 random bits, which
# no cost factor makes easier or harder to guess: a cost only slows the guessing of passwords
# people choose. The hash is there so that nats.conf holds nothing that logs in, which any
# cost does, so a low one that keeps connects and the CLI quick.
BCRYPT_COST = 6


def passwords() -> dict[str, str]:
    return {user: secrets.token_urlsafe(24) for user in ROLES}


def hashed(password: str, cost: int = BCRYPT_COST) -> str:
    """A bcrypt hash nats-server accepts in place of the password (`$2a$10$...`)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost, prefix=b"2a")).decode()


ROUTE_USER = "route"  # what the nodes of a cluster log in as to one another; no client may use it


def route_login() -> natsserver.RouteLogin:
    """A fresh route password for the nodes of `crew up --cluster N`, checked by its hash."""
    password = secrets.token_urlsafe(24)
    return natsserver.RouteLogin(user=ROUTE_USER, password=password, password_hash=hashed(password))


def hashes(passwords: dict[str, str]) -> dict[str, str]:
    # bcrypt lets go of the GIL: side by side, `crew up` waits for a few rounds, not nine
    with ThreadPoolExecutor() as pool:
        return dict(zip(passwords, pool.map(hashed, passwords.values()), strict=True))


def authorization_block(passwords: dict[str, str], *, hash_passwords: bool = True) -> str:
    """The `authorization { users = [...] }` block of nats.conf (JSON is valid NATS config),
    with the bcrypt hash of each password (`hash_passwords=False`: the values as given)."""
    if hash_passwords:
        passwords = hashes({u: p for u, p in passwords.items() if u != ANONYMOUS})
    users = []
    for user, role in ROLES.items():
        own = f"{urls.inbox_prefix_of(user)}.>"
        subscribe = [own if s == OWN_INBOX else s for s in role.subscribe]
        permissions: dict[str, object] = {
            "publish": {"allow": role.publish or ["_NOTHING_"], "deny": role.deny_publish},
            "subscribe": {"allow": subscribe or ["_NOTHING_"]},
        }
        if isinstance(role.responds, Responses):
            permissions["allow_responses"] = msgspec.to_builtins(role.responds)
        elif role.responds:
            permissions["allow_responses"] = True
        # Nobody, who a client without credentials becomes, has no password: nats-server then
        # checks the user's own password against itself, which a bcrypt hash never matches.
        login = {} if user == ANONYMOUS else {"password": passwords[user]}
        users.append({"user": user, **login, "permissions": permissions})
    return (
        "authorization " + json.dumps({"users": users}, indent=2) + f"\nno_auth_user: {ANONYMOUS}\n"
    )


def env_name(user: str) -> str:
    """The variable holding the user's password, for the component that logs in as it."""
    return f"CREW_PASSWORD_{user.upper()}"


def hash_env_name(user: str) -> str:
    """The variable holding the bcrypt hash of the user's password, for nats-server."""
    return f"CREW_HASH_{user.upper()}"


def authorization_from_env() -> str:
    """The same block with every password's hash read from the environment when nats-server
    starts (`password: $CREW_HASH_MEALS`): for compose and other deployments of your own."""
    block = authorization_block(
        {user: f"@@{hash_env_name(user)}@@" for user in LOGINS}, hash_passwords=False
    )
    for user in LOGINS:
        block = block.replace(f'"@@{hash_env_name(user)}@@"', f"${hash_env_name(user)}")
    return block
