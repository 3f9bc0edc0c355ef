"""The kiosk's HTTP API, fuzzed on a running house: Schemathesis against its OpenAPI, then
Hypothesis bodies for every command a kiosk may send, and for every command a crew member's own
page may send, with a personal token (Schemathesis cannot guess the allowed command names in the
path, so it mostly meets 403). Whatever comes in: no 500."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.registry import COMMAND_TYPES
from services.kiosk.commands import KIOSK_MAY, MEMBER_MAY
from tests.conftest import start_house
from tests.faults.harness import say
from tests.faults.test_fuzz import bodies
from tests.integration.cli import crew

KEYS = st.one_of(
    st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
    st.sampled_from(["", "not a key!", "k" * 65]),
)


def commands(may: dict[str, frozenset[str]]) -> st.SearchStrategy[tuple[str, bytes]]:
    return st.sampled_from(
        sorted(f"{context}.{name}" for context, names in may.items() for name in names)
    ).flatmap(lambda name: st.tuples(st.just(name), bodies(COMMAND_TYPES[name])))


def fuzz(
    http: httpx.Client,
    may: dict[str, frozenset[str]],
    token: str,
    answers: tuple[int, ...],
    examples: int,
) -> Counter[int]:
    """Fuzzed bodies of every command `may` names, sent with `token`; each answer is one of
    `answers`. The statuses, counted."""
    statuses: Counter[int] = Counter()

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(commands(may), KEYS)
    def send(command: tuple[str, bytes], key: str) -> None:
        name, body = command
        response = http.post(
            f"/api/v1/commands/{name.replace('.', '/')}",
            content=body,
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
        )
        statuses[response.status_code] += 1
        assert response.status_code in answers, response.text

    send()
    return statuses


def schemathesis(port: int, token: str, report: Path) -> subprocess.CompletedProcess[str]:
    """Schemathesis against the document the kiosk serves, with `token`: no server error, and
    every answer's status and body as the document says."""
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"http://127.0.0.1:{port}/api/v1/openapi.json",
            "--checks",
            "not_a_server_error,status_code_conformance,response_schema_conformance",
            "--header",
            f"Authorization: Bearer {token}",
            "--max-examples",
            "30",
            "--seed",
            "7",
            # One worker: with two, Hypothesis runs in two threads and its `ast.parse` of a
            # lambda's source can fail with CPython 3.11's thread-unsafe AST recursion check
            # (SystemError "AST constructor recursion depth mismatch", python/cpython#106905).
            "--workers",
            "1",
            "--no-color",
            "--report-dir",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_schemathesis_finds_no_server_error_in_the_kiosk_api(
    crew_env: dict[str, str], tmp_path: Path
) -> None:
    """Schemathesis with a tablet's token, then with a personal page's: the document has a body
    for every command, so it reaches each handler (with a tablet's token, a page's commands
    are 403, as documented)."""
    env = {**crew_env, "CREW_KIOSK_RATE": "1000", "CREW_KIOSK_BURST": "1000"}
    with start_house(env) as (env, _):
        token = crew(env, "kiosk", "add", "schemathesis").stdout.splitlines()[1].strip()
        port = json.loads((Path(env["CREW_HOME"]) / "house.json").read_text())["http_port"]
        register = '{"crew_id": "fuzz", "display_name": "Fuzz"}'
        crew(env, "send", "onboarding.register_crew_member", register)
        page = crew(env, "link", "fuzz").stdout.split("#token=")[1].split()[0]
        for who, secret in (("a tablet", token), ("a page", page)):
            done = schemathesis(port, secret, tmp_path / who.replace(" ", "-"))
            summary = [
                line
                for line in done.stdout.splitlines()
                if re.search(r"passed|failed|cases|operations", line, re.I)
            ]
            say(
                f"schemathesis on the kiosk API as {who}: "
                + " | ".join(s.strip() for s in summary[-4:])
            )
            assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]

        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=15) as http:
            tablet = fuzz(http, KIOSK_MAY, token, (200, 409, 422), 300)
            # from a page, a body naming another crew_id is 403: fuzzed ids mostly do
            own = fuzz(http, MEMBER_MAY, page, (200, 403, 409, 422), 200)
        for who, statuses in (("kiosk", tablet), ("personal page", own)):
            say(
                f"{who} commands fuzzed over HTTP: {sum(statuses.values())} requests, "
                f"by status {dict(sorted(statuses.items()))}"
            )
