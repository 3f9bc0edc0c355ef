"""Files for running crew outside `crew up`: compose, or a NATS cluster of your own.

`deploy/nats.conf` is the config every node of the compose cluster runs: JetStream with fsync on
every write, the cluster routes, and the same least-privilege users as `crew up`, their
passwords read from the environment. `crew compose-env` makes those passwords."""

from __future__ import annotations

import secrets

from crew import auth

NODES = ("nats1", "nats2", "nats3")


def nats_conf() -> str:
    routes = ", ".join(f'"nats-route://{node}:6222"' for node in NODES)
    return f"""# deploy/nats.conf: written by `crew deploy-config`; a test keeps it current.
# Every node of compose.yaml's cluster runs it; $NATS_NAME and the passwords come from the
# environment (compose passes them from .env, made by `crew compose-env > .env`).
server_name: $NATS_NAME
listen: 0.0.0.0:4222
http: 0.0.0.0:8222
max_payload: 8MB
jetstream {{
  store_dir: "/data/jetstream"
  sync_interval: always
}}
cluster {{
  name: crew
  listen: 0.0.0.0:6222
  routes: [{routes}]
}}
{auth.authorization_from_env()}"""


def compose_env() -> str:
    lines = ["# crew's NATS passwords for compose.yaml; keep this file private (chmod 600)."]
    # nats-server parses a variable's value as config: "2024-..." would be a date, "1e5" a
    # number. A letter first and only letters and digits after keeps every password a string
    # (and needs no escaping in a URL).
    lines += [f"{auth.env_name(user)}=crew{secrets.token_hex(20)}" for user in auth.ROLES]
    return "\n".join(lines) + "\n"
