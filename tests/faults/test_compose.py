"""compose.yaml and its NATS config are checked here, as far as a machine without Docker can:
Debian's `docker-compose config` validates the file and renders what each container gets, and
a real nats-server runs deploy/nats.conf with exactly that environment."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import bcrypt
import nats
import nats.errors
import pytest
import yaml

from crew import urls
from house import auth
from house.deploy import NODES, ROUTE_PORT, ROUTE_USER, compose_env, nats_conf, route_host
from tests.faults.harness import say
from tests.polling import eventually as poll
from tests.polling import eventually_async
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
NATS_NODES = set(NODES)


def compose(env_file: Path, *args: str) -> str:
    assert shutil.which("docker-compose"), (
        "Debian's docker-compose is missing: `make test` installs it"
    )
    done = subprocess.run(
        ["docker-compose", "--env-file", str(env_file), "-f", str(ROOT / "compose.yaml"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def dotenv(text: str) -> dict[str, str]:
    """The variables of `crew compose-env`'s output, single quotes taken off as compose does."""
    env = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value[1:-1] if value[:1] == value[-1:] == "'" else value
    return env


def rendered(tmp_path: Path, dot_env: str) -> dict[str, Any]:
    """The whole compose file as docker-compose resolves it with this .env."""
    env_file = tmp_path / ".env"
    env_file.write_text(dot_env)
    config: dict[str, Any] = yaml.safe_load(compose(env_file, "config"))
    return config


def environment(service: dict[str, Any]) -> dict[str, str]:
    # `docker-compose config` writes a literal $ as $$ (its output is a compose file again)
    return {k: str(v).replace("$$", "$") for k, v in service["environment"].items()}


def server_binary() -> Path:
    return Path(shutil.which("nats-server") or Path(sys.executable).with_name("nats-server"))


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], dict[str, Any]]:
    """One fresh .env, and compose.yaml rendered with it."""
    dot_env = compose_env()
    return dotenv(dot_env), rendered(tmp_path_factory.mktemp("compose"), dot_env)


def test_compose_yaml_is_valid_and_has_the_whole_house(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(compose_env())
    compose(env_file, "config", "-q")
    services = set(compose(env_file, "config", "--services").split())
    assert services == {
        "nats1", "nats2", "nats3", "prepare", "meals", "rota", "onboarding", "notices",
        "activities", "projector", "kiosk",
    }  # fmt: skip
    assert "projector" in compose(env_file, "config", "--volumes").split()
    text = compose(env_file, "config")
    assert text.count("healthcheck:") == 10  # every node and every long-running service
    say(f"docker-compose config: valid; services {sorted(services)}")


def test_compose_refuses_to_start_without_passwords(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    done = subprocess.run(
        ["docker-compose", "--env-file", str(empty), "-f", str(ROOT / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode != 0 and "crew compose-env" in done.stderr


def test_nodes_get_only_hashes_and_components_their_plain_passwords(
    fresh: tuple[dict[str, str], dict[str, Any]],
) -> None:
    env, config = fresh
    services = config["services"]
    for user in auth.LOGINS:
        plain, hashed = env[auth.env_name(user)], env[auth.hash_env_name(user)]
        assert hashed.startswith("$2a$") and bcrypt.checkpw(plain.encode(), hashed.encode())
    for node in NODES:
        given = environment(services[node])
        for user in auth.LOGINS:
            assert given[auth.hash_env_name(user)] == env[auth.hash_env_name(user)]
            assert env[auth.env_name(user)] not in json.dumps(given), f"{node} knows {user}'s"
    for service, user in {
        "meals": "meals", "rota": "rota", "onboarding": "onboarding", "notices": "notices",
        "activities": "activities", "projector": "projector",
        "kiosk": "kiosk", "prepare": "house",
    }.items():  # fmt: skip
        urls = environment(services[service])["CREW_NATS_URL"].split(",")
        assert {urlsplit(u).password for u in urls} == {env[auth.env_name(user)]}, service
        assert {urlsplit(u).username for u in urls} == {user}, service
    assert "$CREW_PASSWORD" not in nats_conf()
    assert all(f"${auth.hash_env_name(user)}," in nats_conf() for user in auth.LOGINS)
    say("compose: the NATS nodes get bcrypt hashes only; each component its own plain password")


def test_routes_need_their_password(
    fresh: tuple[dict[str, str], dict[str, Any]],
) -> None:
    env, config = fresh
    conf = nats_conf()
    assert f"password: ${auth.hash_env_name(ROUTE_USER)}" in conf.split("cluster {")[1]
    for node in NODES:
        given = environment(config["services"][node])
        routes = [urlsplit(given[f"CREW_ROUTE_{peer.upper()}"]) for peer in NODES]
        assert {(r.username, r.password) for r in routes} == {
            (ROUTE_USER, env[auth.env_name(ROUTE_USER)])
        }
        assert given[auth.hash_env_name(ROUTE_USER)] == env[auth.hash_env_name(ROUTE_USER)]
    say("compose: every route URL carries the route user's password; nats.conf asks for it")


def test_no_monitoring_port_is_published(fresh: tuple[dict[str, str], dict[str, Any]]) -> None:
    _, config = fresh
    published = {
        (name, int(p["target"]))
        for name, service in config["services"].items()
        for p in service.get("ports", [])
    }
    assert published == {("kiosk", 8080)}  # the kiosk's HTTP, nothing of NATS
    assert "\nhttp: 127.0.0.1:8222\n" in nats_conf()  # not even the other containers
    exposed = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if "EXPOSE" in line]
    assert exposed == ["EXPOSE 4222 8080"]  # `docker run -P` publishes only these
    for node in NODES:  # the health check asks the node's own loopback
        check = " ".join(config["services"][node]["healthcheck"]["test"])
        assert "http://127.0.0.1:8222/healthz" in check
    say("compose: only the kiosk's 8080 is published; the monitor listens on 127.0.0.1 only")


def test_the_kiosk_cannot_reach_the_route_port(
    fresh: tuple[dict[str, str], dict[str, Any]],
) -> None:
    """Routes listen only on each node's address on the `routes` network, which is internal and
    joined by the three nodes alone; the route URLs name those addresses."""
    _, config = fresh
    services = config["services"]
    assert config["networks"]["routes"].get("internal") is True
    on_routes = {name for name, s in services.items() if "routes" in s.get("networks", {})}
    assert on_routes == NATS_NODES
    assert set(services["kiosk"]["networks"]) == {"clients"}
    for name, service in services.items():
        assert "clients" in service["networks"], name  # every one of them reaches 4222
    conf = nats_conf()
    cluster = conf.split("cluster {")[1].split("\n}")[0]
    assert "\n  host: $CREW_ROUTE_HOST\n" in cluster and "listen" not in cluster
    assert "no_advertise: true" in cluster
    for node in NODES:
        given = environment(services[node])
        aliases = services[node]["networks"]["routes"]["aliases"]
        assert given["CREW_ROUTE_HOST"] == route_host(node) and aliases == [route_host(node)]
        for peer in NODES:
            assert urlsplit(given[f"CREW_ROUTE_{peer.upper()}"]).hostname == route_host(peer)
        clients = services[node]["networks"]["clients"] or {}
        assert not clients.get("aliases"), "a route name must not resolve on the clients' net"
    say("compose: routes bind to route-natsN on the internal routes network; kiosk not on it")


def test_deploy_nats_conf_is_current_and_nats_server_accepts_it() -> None:
    committed = (ROOT / "deploy" / "nats.conf").read_text()
    assert committed == nats_conf(), "deploy/nats.conf is stale: run `crew deploy-config`"
    for _ in range(20):  # fresh passwords and hashes each time: none may parse as anything else
        env = {**os.environ, "NATS_NAME": "n1", "CREW_ROUTE_HOST": "127.0.0.1"}
        env.update(dotenv(compose_env()))
        for node in NODES:
            env[f"CREW_ROUTE_{node.upper()}"] = f"nats-route://route:x@{route_host(node)}:6222"
        done = subprocess.run(
            [str(server_binary()), "-c", str(ROOT / "deploy" / "nats.conf"), "-t"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def monitor(port: int, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as answer:
        body: dict[str, Any] = json.load(answer)
        return body


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    def varz() -> object:
        assert process.poll() is None, log.read_text()
        return monitor(port, "/varz")  # /healthz waits for a JetStream quorum

    poll(varz, ignoring=(OSError,), seconds=20, what=f"a monitor on {port}")


async def test_a_node_admits_plain_passwords_and_only_routes_with_the_route_password(
    tmp_path: Path, fresh: tuple[dict[str, str], dict[str, Any]]
) -> None:
    """nats1 as compose starts it (its rendered environment), on free ports of this machine."""
    env, config = fresh
    client, http, route = free_port(), free_port(), free_port()
    node_env = {**os.environ, **environment(config["services"]["nats1"])}
    node_env["CREW_ROUTE_HOST"] = "127.0.0.1"  # no compose network here
    node_log = tmp_path / "nats1.log"
    # deploy/nats.conf with a store and a route port of this machine. (Not `--cluster URL`:
    # that flag also drops the cluster's authorization, and this test would prove nothing.)
    conf = tmp_path / "nats.conf"
    text = nats_conf().replace('"/data/jetstream"', f'"{tmp_path / "store"}"')
    conf.write_text(text.replace(f"\n  port: {ROUTE_PORT}\n", f"\n  port: {route}\n"))
    assert conf.read_text() != text
    node = start(
        [str(server_binary()), "-c", str(conf), "-p", str(client), "-m", str(http)],
        node_env,
        node_log,
    )  # fmt: skip
    try:
        wait_listening(http, node, node_log)
        url = f"nats://127.0.0.1:{client}"
        for user in auth.LOGINS:
            nc = await nats.connect(
                urls.with_credentials(url, user, env[auth.env_name(user)]),
                allow_reconnect=False,
            )
            await nc.flush()
            await nc.close()
        nc = await nats.connect(url, allow_reconnect=False)  # no credentials: nobody
        await nc.flush()
        await nc.close()
        with pytest.raises(nats.errors.Error):  # the hash itself does not log in
            await nats.connect(
                urls.with_credentials(url, "meals", env[auth.hash_env_name("meals")]),
                allow_reconnect=False,
                max_reconnect_attempts=0,
            )
        say("deploy/nats.conf: every user logs in with its plain password, never with the hash")

        async def peer_routes(credentials: str) -> int:
            """A stranger node dials nats1's route port: how many routes nats1 then has."""
            peer_conf = tmp_path / "peer.conf"
            peer_conf.write_text(
                f"server_name: peer\nlisten: 127.0.0.1:{free_port()}\n"
                f"cluster {{\n  name: crew\n  listen: 127.0.0.1:{free_port()}\n"
                f'  routes: ["nats-route://{credentials}127.0.0.1:{route}"]\n}}\n'
            )
            peer = start([str(server_binary()), "-c", str(peer_conf)], dict(os.environ),
                         tmp_path / "peer.log")  # fmt: skip
            try:
                try:
                    return await eventually_async(
                        lambda: int(monitor(http, "/routez")["num_routes"]),
                        seconds=10 if credentials else 3,
                        every=0.2,
                    )
                except AssertionError:
                    return 0  # no route within the time a good one takes
            finally:
                stop(peer)

        assert await peer_routes("") == 0
        assert await peer_routes(f"{ROUTE_USER}:{env[auth.env_name('meals')]}@") == 0
        assert await peer_routes(f"{ROUTE_USER}:{env[auth.env_name(ROUTE_USER)]}@") > 0
        say("deploy/nats.conf: a route without the route password is refused; with it, joins")
    finally:
        stop(node)
