"""The kiosk's HTTP face against what the open network sends it, over real HTTP.

Each test speaks from addresses of its own: every 127.0.0.N is this machine (Linux routes all
of 127/8 to loopback), so a client bound to one is a different address to the kiosk. 127.0.0.9
plays the TLS proxy the kiosk is told to trust."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from crew import urls
from tests.conftest import start_house
from tests.integration.cli import crew, send

House = tuple[dict[str, str], subprocess.Popen[bytes]]
PROXY = "127.0.0.9"
GUESSES = 3  # per address and minute, in this house (the default is 10)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[House]:
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("CREW_")}
    env["CREW_HOME"] = str(tmp_path_factory.mktemp("guard") / "home")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["CREW_KIOSK_GUESSES_PER_MINUTE"] = str(GUESSES)
    env["CREW_KIOSK_ICAL_PER_MINUTE"] = str(GUESSES)
    env["CREW_KIOSK_TRUSTED_PROXIES"] = PROXY
    with start_house(env) as running:
        yield running


def base(env: dict[str, str]) -> str:
    port = json.loads((Path(env["CREW_HOME"]) / "house.json").read_text())["http_port"]
    return f"http://127.0.0.1:{port}"


def client_at(address: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=20)


def tap(
    http: httpx.Client, env: dict[str, str], token: str, key: str, **headers: str
) -> httpx.Response:
    return http.post(
        f"{base(env)}/api/v1/commands/meals/sign_up_to_eat",
        json={"meal_id": "nope", "crew_id": "anna"},
        headers={"authorization": f"Bearer {token}", "idempotency-key": key, **headers},
    )


def kiosk_token(env: dict[str, str], name: str) -> str:
    return crew(env, "kiosk", "add", name).stdout.splitlines()[1].strip()


def csp_hash(body: bytes) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"


def test_the_page_allows_only_its_own_script_and_style_and_no_framing_or_referrer(
    guarded: House,
) -> None:
    env, _ = guarded
    for path in ("/kiosk", "/me"):  # the kiosk's page, and a crew member's own
        page = httpx.get(f"{base(env)}{path}", timeout=20)
        assert page.status_code == 200
        policy = {
            name: value
            for name, _, value in (
                d.strip().partition(" ") for d in page.headers["content-security-policy"].split(";")
            )
        }
        assert policy["default-src"] == "'none'"
        assert policy["frame-ancestors"] == "'none'"
        assert policy["connect-src"] == "'self'"
        [script] = re.findall(rb"<script>(.*?)</script>", page.content, re.DOTALL)
        [style] = re.findall(rb"<style>(.*?)</style>", page.content, re.DOTALL)
        # the shared /crew.js from this server, this inline script, and nothing else inline
        assert re.findall(rb'<script src="([^"]+)">', page.content) == [b"/crew.js"]
        assert policy["script-src"] == f"'self' {csp_hash(script)}"
        assert policy["style-src"] == csp_hash(style)
        assert "unsafe" not in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "no-referrer"  # the token is in the fragment
    shared = httpx.get(f"{base(env)}/crew.js", timeout=20)
    assert shared.headers["content-type"].startswith("text/javascript")
    assert shared.headers["x-content-type-options"] == "nosniff"


def test_a_deeply_nested_body_is_invalid_at_the_kiosk_and_on_nats_never_a_crash(
    guarded: House,
) -> None:
    env, _ = guarded
    token = kiosk_token(env, "nested")
    nested = (
        '{"meal_id":"m1","crew_id":"anna","role":"helper","x":' + "[" * 60_000
    )  # under the 64 kB limit
    with client_at("127.0.0.2") as http:
        answer = http.post(
            f"{base(env)}/api/v1/commands/meals/volunteer_to_cook",
            content=nested.encode(),
            headers={"authorization": f"Bearer {token}", "idempotency-key": "deep"},
        )
    assert answer.status_code == 422, answer.text[:300]
    assert answer.json()["errors"][0]["path"] == "$"
    over_nats = json.loads(crew(env, "send", "meals.plan_meal", nested, check=False).stdout)
    assert over_nats["status"] == "invalid" and over_nats["errors"][0]["path"] == "$"
    # and the service is still there to answer the next one
    ok = {"meal_id": "deep", "date": "2030-01-07", "helper_slots": 1}
    assert send(env, "meals.plan_meal", ok)["status"] == "accepted"


def test_an_id_ending_in_a_newline_is_invalid_naming_the_field_not_unavailable(
    guarded: House,
) -> None:
    env, _ = guarded
    reply = send(
        env, "meals.plan_meal", {"meal_id": "m1\n", "date": "2030-01-07", "helper_slots": 2}
    )
    assert reply["status"] == "invalid", reply
    assert reply["errors"][0]["path"] == "$.meal_id"


def test_wrong_tokens_from_one_address_are_slowed_and_a_good_token_elsewhere_is_not(
    guarded: House,
) -> None:
    env, _ = guarded
    good = kiosk_token(env, "hall")
    with client_at("127.0.0.3") as guesser, client_at("127.0.0.4") as tablet:
        wrong = [tap(guesser, env, f"guess-{i}", f"g{i}").status_code for i in range(GUESSES)]
        assert wrong == [401] * GUESSES
        limited = tap(guesser, env, "guess-more", "g-more")
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        board = guesser.get(f"{base(env)}/api/v1/board", headers={"authorization": "Bearer x"})
        assert board.status_code == 429
        # a limit that still answered a right guess would be no limit: the address waits
        assert tap(guesser, env, good, "g-good").status_code == 429
        # a tablet elsewhere is untouched, however often it taps with its good token
        answers = [tap(tablet, env, good, f"t{i}").status_code for i in range(GUESSES * 3)]
        assert answers == [409] * (GUESSES * 3)


def test_behind_the_trusted_proxy_each_forwarded_address_counts_apart(guarded: House) -> None:
    env, _ = guarded
    good = kiosk_token(env, "proxied")
    with client_at(PROXY) as proxy:
        for i in range(GUESSES):
            assert (
                tap(proxy, env, "x", f"p{i}", **{"x-forwarded-for": "203.0.113.7"}).status_code
                == 401
            )
        assert (
            tap(proxy, env, "x", "p-more", **{"x-forwarded-for": "203.0.113.7"}).status_code == 429
        )
        # the tablets behind the same proxy are other addresses to the limit
        assert (
            tap(proxy, env, good, "p-ok", **{"x-forwarded-for": "203.0.113.8"}).status_code == 409
        )


def test_a_forwarded_for_from_anyone_but_the_proxy_is_ignored(guarded: House) -> None:
    env, _ = guarded
    with client_at("127.0.0.5") as dodger:
        answers = [
            tap(dodger, env, "x", f"d{i}", **{"x-forwarded-for": f"198.51.100.{i}"}).status_code
            for i in range(GUESSES + 1)
        ]
    assert answers == [401] * GUESSES + [429], "a new X-Forwarded-For per try dodged the limit"


def test_calendar_fetches_from_one_address_are_limited(guarded: House) -> None:
    env, _ = guarded
    url = f"{base(env)}/ical/anna.ics?key=wrong"
    with client_at("127.0.0.6") as reader, client_at("127.0.0.7") as other:
        assert [reader.get(url).status_code for _ in range(GUESSES)] == [404] * GUESSES
        limited = reader.get(url)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert other.get(url).status_code == 404


def test_a_deeply_nested_sql_request_is_a_bad_request_not_a_timeout(guarded: House) -> None:
    import asyncio

    import msgspec
    import nats

    from crew import settings, subjects

    env, _ = guarded

    async def ask() -> dict[str, object]:
        url = settings.find_nats_url(Path(env["CREW_HOME"]))
        nc = await nats.connect(**urls.connection(url))
        try:
            body = b'{"sql":"select 1","x":' + b"[" * 60_000
            reply = await nc.request(subjects.QUERY_SQL, body, timeout=10)
            answer: dict[str, object] = msgspec.json.decode(reply.data)
            return answer
        finally:
            await nc.close()

    answer = asyncio.run(ask())
    assert "nested too deeply" in str(answer.get("message")), answer
