"""Files for running crew outside `crew up`: compose, or a NATS cluster of your own.

`deploy/nats.conf` is the config every node of the compose cluster runs: JetStream with fsync on
every write, the cluster routes (authenticated, on their own network), and the same
least-privilege users as `crew up`, the bcrypt hashes of their passwords read from the
environment. `crew compose-env` makes the passwords and their hashes."""

from __future__ import annotations

import secrets

from house import auth

NODES = ("nats1", "nats2", "nats3")
ROUTE_USER = auth.ROUTE_USER
ROUTE_PORT = 6222
MONITOR_PORT = 8222


def route_host(node: str) -> str:
    """The node's name on compose's `routes` network, the only place its route port listens.
    No other container joins that network, so no other container can even resolve the name."""
    return f"route-{node}"


def route_env_name(node: str) -> str:
    return f"CREW_ROUTE_{node.upper()}"


def nats_conf() -> str:
    routes = ", ".join(f"${route_env_name(node)}" for node in NODES)
    return f"""# deploy/nats.conf: written by `crew deploy-config`; a test keeps it current.
# Every node of compose.yaml's cluster runs it; $NATS_NAME, the route settings and the password
# hashes come from the environment (compose passes them from .env, made by
# `crew compose-env > .env`). Only bcrypt hashes: this file holds nothing that logs in.
server_name: $NATS_NAME
listen: 0.0.0.0:4222
# Only the health check, inside the node's own container, asks the monitor: no one else can.
http: 127.0.0.1:{MONITOR_PORT}
max_payload: 8MB
jetstream {{
  store_dir: "/data/jetstream"
  sync_interval: always
}}
cluster {{
  name: crew
  # This node's address on the `routes` network (compose sets $CREW_ROUTE_HOST), not
  # 0.0.0.0: a service on the clients' network cannot reach the route port.
  host: $CREW_ROUTE_HOST
  port: {ROUTE_PORT}
  # Clients keep the URL list they were given: the nodes' other addresses are on networks
  # the clients cannot reach.
  no_advertise: true
  # A route is a node of the cluster: it sees every message. Only the nodes know its password.
  authorization {{
    user: {ROUTE_USER}
    password: ${auth.hash_env_name(ROUTE_USER)}
  }}
  # nats-route://route:<password>@route-natsN:{ROUTE_PORT}, one variable a node
  routes: [{routes}]
}}
{auth.authorization_from_env()}"""


def compose_env() -> str:
    """`.env` for compose.yaml: for every NATS user (and the routes) a fresh password, which
    the component that logs in as it gets, and its bcrypt hash, which nats-server gets."""
    lines = [
        "# crew's NATS passwords for compose.yaml; keep this file private (chmod 600).",
        "# CREW_PASSWORD_*: what each component logs in with. CREW_HASH_*: their bcrypt hashes,",
        "# all that the NATS nodes are given (in single quotes: compose must not expand the $).",
    ]
    # nats-server parses a variable's value as config: "2024-..." would be a date, "1e5" a
    # number. A letter first and only letters and digits after keeps every password a string
    # (and needs no escaping in a URL).
    plain = {user: f"crew{secrets.token_hex(20)}" for user in (*auth.LOGINS, ROUTE_USER)}
    hashes = auth.hashes(plain)
    for user, password in plain.items():
        lines.append(f"{auth.env_name(user)}={password}")
        lines.append(f"{auth.hash_env_name(user)}='{hashes[user]}'")
    return "\n".join(lines) + "\n"
