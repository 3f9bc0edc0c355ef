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
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import bcrypt
import msgspec

from crew import settings, subjects
from crew.personal import KEYS_BUCKET
from services.kiosk import tokens

OWN_INBOX = "_INBOX.>"  # in ROLES: this user's own inbox, `_INBOX_<user>.>` (see `inbox_prefix`)
EVENTS = subjects.STREAM
OUTCOMES = f"$KV.{subjects.OUTCOMES_BUCKET}.>"
PERSONAL_KEYS = f"$KV.{KEYS_BUCKET}.>"
KIOSK_TOKENS = tokens.BUCKET
ICAL_TOKENS = tokens.ICAL_BUCKET
BUCKETS = (subjects.OUTCOMES_BUCKET, KEYS_BUCKET, KIOSK_TOKENS, ICAL_TOKENS)

# Reading the log and the buckets: stream info, direct and API gets, consumers, acks, flow control.
READ_LOG = [
    "$JS.API.INFO",
    "$JS.API.STREAM.INFO.*",
    "$JS.API.DIRECT.GET.>",
    "$JS.API.STREAM.MSG.GET.*",
    f"$JS.API.CONSUMER.*.{EVENTS}.>",
    f"$JS.API.CONSUMER.*.{EVENTS}",
    f"$JS.API.CONSUMER.*.*.{EVENTS}.>",
    f"$JS.ACK.{EVENTS}.>",
    "$JS.FC.>",
]


def watch_bucket(bucket: str) -> list[str]:
    """Read a KV bucket and keep watching it (an ordered consumer on its stream)."""
    return [
        f"$JS.API.CONSUMER.*.KV_{bucket}.>",
        f"$JS.API.CONSUMER.*.KV_{bucket}",
        f"$JS.API.CONSUMER.*.*.KV_{bucket}.>",
    ]


class Permissions(msgspec.Struct, frozen=True):
    publish: list[str]
    subscribe: list[str]
    deny_publish: list[str] = []
    responds: bool = False  # may answer requests it received (allow_responses)


def service(context: str, sends: tuple[str, ...] = ()) -> Permissions:
    """A command service: answers its own commands, appends only its own context's events,
    and sends only the commands of other contexts named in `sends`."""
    return Permissions(
        publish=[
            f"crew.evt.{context}.>",
            *sends,
            OUTCOMES,
            PERSONAL_KEYS,
            f"$JS.API.STREAM.MSG.DELETE.KV_{KEYS_BUCKET}",  # erasure: the key goes
            *READ_LOG,
            subjects.STATUS,
        ],
        subscribe=[subjects.commands_of(context), subjects.STATUS, OWN_INBOX],
        responds=True,
    )


ROLES: dict[str, Permissions] = {
    # meals days follow the rota; a cooking claim meals turns down is handed back to the rota
    "meals": service("meals", sends=(subjects.command_subject("rota", "release_claim"),)),
    "rota": service("rota"),
    "onboarding": service("onboarding"),
    # The projector reads the log and the personal keys (names in views), answers rebuilds.
    "projector": Permissions(
        publish=[*READ_LOG, "_INBOX_coordinator.>", subjects.STATUS],  # rebuild progress
        subscribe=["crew.projector.>", subjects.STATUS, OWN_INBOX],
        deny_publish=["crew.evt.>", "crew.cmd.>"],
        responds=True,
    ),
    # The query service only answers SQL: it publishes nothing but its answers.
    "query": Permissions(
        publish=[],
        subscribe=["crew.query.>", subjects.STATUS],
        deny_publish=["crew.evt.>", "crew.cmd.>", "$JS.>", "$KV.>"],
        responds=True,
    ),
    # The kiosk sends commands and everyday SQL, and reads the token buckets.
    "kiosk": Permissions(
        publish=[
            "crew.cmd.>",
            subjects.QUERY_SQL,
            "$JS.API.INFO",
            f"$JS.API.STREAM.INFO.KV_{KIOSK_TOKENS}",
            f"$JS.API.STREAM.INFO.KV_{ICAL_TOKENS}",
            f"$JS.API.DIRECT.GET.KV_{ICAL_TOKENS}.>",
            f"$JS.API.STREAM.MSG.GET.KV_{ICAL_TOKENS}",
            *watch_bucket(KIOSK_TOKENS),
            "$JS.FC.>",
            subjects.STATUS,
        ],
        subscribe=[subjects.STATUS, OWN_INBOX],
        deny_publish=["crew.evt.>", subjects.QUERY_RESTRICTED_SQL],
        responds=True,
    ),
    # Coordinators (the `crew` CLI): commands, all SQL, rebuilds, the log, kiosk tokens.
    # They never append events by hand nor delete the log.
    "coordinator": Permissions(
        publish=[
            "crew.cmd.>",
            "crew.query.>",
            "crew.projector.>",
            subjects.STATUS,
            f"$KV.{KIOSK_TOKENS}.>",
            f"$KV.{ICAL_TOKENS}.>",
            *READ_LOG,
            *(rule for bucket in BUCKETS for rule in watch_bucket(bucket)),  # crew backup
        ],
        subscribe=[subjects.EVENTS_ALL, OWN_INBOX],
        deny_publish=["crew.evt.>"],
    ),
    # Other services: read and follow the log, nothing else.
    "observer": Permissions(
        # STREAM.NAMES: nats-py's js.subscribe(subject) first asks which stream holds it
        publish=[*READ_LOG, "$JS.API.STREAM.NAMES"],
        subscribe=[subjects.EVENTS_ALL, OWN_INBOX],
        deny_publish=["crew.evt.>", "crew.cmd.>"],
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
    "projector": "projector",
    "kiosk": "kiosk",
}


# nats-server checks the hash on every connect: cost 10 adds ~65 ms to a connect, 11 ~120 ms
# (measured on 2 cores; docs/operations.md). The passwords are 192 random bits, which no cost
# factor makes easier or harder to guess; the hash is there so that nats.conf holds nothing
# that logs in. So the cheaper of the two usual costs.
BCRYPT_COST = 10


def passwords() -> dict[str, str]:
    return {user: secrets.token_urlsafe(24) for user in ROLES}


def hashed(password: str, cost: int = BCRYPT_COST) -> str:
    """A bcrypt hash nats-server accepts in place of the password (`$2a$10$...`)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost, prefix=b"2a")).decode()


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
        own = f"{inbox_prefix_of(user)}.>"
        subscribe = [own if s == OWN_INBOX else s for s in role.subscribe]
        permissions: dict[str, object] = {
            "publish": {"allow": role.publish or ["_NOTHING_"], "deny": role.deny_publish},
            "subscribe": {"allow": subscribe or ["_NOTHING_"]},
        }
        if role.responds:
            permissions["allow_responses"] = True
        # Nobody, who a client without credentials becomes, has no password: nats-server then
        # checks the user's own password against itself, which a bcrypt hash never matches.
        login = {} if user == ANONYMOUS else {"password": passwords[user]}
        users.append({"user": user, **login, "permissions": permissions})
    return (
        "authorization " + json.dumps({"users": users}, indent=2) + f"\nno_auth_user: {ANONYMOUS}\n"
    )


def inbox_prefix_of(user: str | None) -> str:
    """Each user reads replies only on its own inboxes, so no one can read another's answers."""
    return f"_INBOX_{user}" if user and user != "house" else "_INBOX"


def inbox_prefix(url: str) -> str:
    """The inbox prefix for whoever this URL (or the first of a list) logs in as."""
    return inbox_prefix_of(urlsplit(url.split(",")[0].strip()).username)


def connection(url: str) -> dict[str, Any]:
    """`nats.connect(**connection(url))`: the servers of the URL list, and the inbox its user
    may subscribe to."""
    return {"servers": settings.servers(url), "inbox_prefix": inbox_prefix(url)}


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


def with_credentials(urls: str, user: str, password: str) -> str:
    """`nats://h:p,nats://h2:p2` -> the same list, each with `user:password@`."""
    out = []
    for url in urls.split(","):
        parts = urlsplit(url.strip())
        host = parts.netloc.rsplit("@", 1)[-1]
        netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
        out.append(urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)))
    return ",".join(out)


def without_credentials(urls: str) -> str:
    """For printing: never show a password."""
    return ",".join(
        urlunsplit(p._replace(netloc=p.netloc.rsplit("@", 1)[-1]))
        for p in (urlsplit(u.strip()) for u in urls.split(","))
    )
