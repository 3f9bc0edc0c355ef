"""compose.yaml and its NATS config are checked here, as far as a machine without Docker can:
Debian's `docker-compose config` validates the file, and nats-server validates the config."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from crew.deploy import compose_env, nats_conf
from tests.faults.harness import say

ROOT = Path(__file__).resolve().parents[2]


def compose(env_file: Path, *args: str) -> list[str]:
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
    return done.stdout.split()


def test_compose_yaml_is_valid_and_has_the_whole_house(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(compose_env())
    compose(env_file, "config", "-q")
    services = set(compose(env_file, "config", "--services"))
    assert services == {
        "nats1", "nats2", "nats3", "prepare", "meals", "rota", "onboarding", "projector", "kiosk"
    }  # fmt: skip
    assert "projector" in compose(env_file, "config", "--volumes")
    rendered = "\n".join(compose(env_file, "config"))
    assert rendered.count("healthcheck:") == 8  # every node and every long-running service
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


def test_deploy_nats_conf_is_current_and_nats_server_accepts_it(tmp_path: Path) -> None:
    committed = (ROOT / "deploy" / "nats.conf").read_text()
    assert committed == nats_conf(), "deploy/nats.conf is stale: run `crew deploy-config`"
    server = Path(shutil.which("nats-server") or Path(sys.executable).with_name("nats-server"))
    for _ in range(20):  # fresh passwords each time: none may parse as a date or a number
        env = {**os.environ, "NATS_NAME": "n1"}
        for line in compose_env().splitlines():
            if not line.startswith("#"):
                key, _, value = line.partition("=")
                env[key] = value
        done = subprocess.run(
            [str(server), "-c", str(ROOT / "deploy" / "nats.conf"), "-t"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
