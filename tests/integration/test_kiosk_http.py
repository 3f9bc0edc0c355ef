"""The kiosk API over real HTTP, against a running house (and against a stopped NATS)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import nats
import pytest

from crew import settings, urls
from house.natsserver import NatsServer
from schemas.common import house_today
from services.kiosk import tokens
from tests.conftest import start_house
from tests.integration.cli import crew, eventually, send, sql
from tests.polling import eventually as poll
from tests.ports import free_port

House = tuple[dict[str, str], subprocess.Popen[str]]


def kiosk_token(env: dict[str, str], name: str = "test-kiosk") -> str:
    return crew(env, "kiosk", "add", name).stdout.splitlines()[1].strip()


def base(env: dict[str, str]) -> str:
    import json

    port = json.loads((Path(env["CREW_HOME"]) / "house.json").read_text())["http_port"]
    return f"http://127.0.0.1:{port}"


async def stored_token_hash(env: dict[str, str], kiosk: str) -> bytes | None:
    """What the token bucket holds for `kiosk`, read as the coordinator."""
    nc = await nats.connect(**urls.connection(settings.find_nats_url(Path(env["CREW_HOME"]))))
    try:
        entry = await (await nc.jetstream().key_value(tokens.BUCKET)).get(kiosk)
        return entry.value
    finally:
        await nc.close()


def post(url: str, body: object, token: str | None, key: str | None = "k1") -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    if key:
        headers["idempotency-key"] = key
    return httpx.post(url, json=body, headers=headers, timeout=20)


def test_the_kiosk_api_answers_each_case_with_its_status(house: House) -> None:
    env, _ = house
    url = base(env)
    token = kiosk_token(env)
    assert (
        send(env, "meals.plan_meal", {"meal_id": "k1", "date": "2030-01-07", "helper_slots": 1})[
            "status"
        ]
        == "accepted"
    )
    sign_up = {"meal_id": "k1", "crew_id": "anna", "role": "helper"}
    assert post(f"{url}/api/v1/commands/meals/volunteer_to_cook", sign_up, None).status_code == 401
    assert (
        post(f"{url}/api/v1/commands/meals/volunteer_to_cook", sign_up, "not-a-token").status_code
        == 401
    )
    forbidden = post(
        f"{url}/api/v1/commands/onboarding/forget_person", {"person_id": "anna"}, token
    )
    assert forbidden.status_code == 403 and "kiosk" in forbidden.json()["message"]
    assert post(f"{url}/api/v1/commands/rota/change_series", {}, token).status_code == 403
    invalid = post(
        f"{url}/api/v1/commands/meals/volunteer_to_cook",
        {"meal_id": "k1", "crew_id": 7},
        token,
        "k0",
    )
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["path"] == "$.crew_id"
    huge = post(  # more than NATS carries (8 MB): still 422 naming the body, never a 500
        f"{url}/api/v1/commands/meals/volunteer_to_cook",
        {**sign_up, "meal_id": "x" * 9_000_000},
        token,
        "k-huge",
    )
    assert huge.status_code == 422 and huge.json()["errors"][0]["path"] == "$", huge.text[:300]
    no_key = post(f"{url}/api/v1/commands/meals/volunteer_to_cook", sign_up, token, key=None)
    assert (
        no_key.status_code == 422 and no_key.json()["errors"][0]["path"] == "header:Idempotency-Key"
    )
    first = post(f"{url}/api/v1/commands/meals/volunteer_to_cook", sign_up, token, "tap-1")
    again = post(f"{url}/api/v1/commands/meals/volunteer_to_cook", sign_up, token, "tap-1")
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    eventually(env, "select count(*) as n from event_log where causation_id = 'tap-1'", [{"n": 1}])
    refused = post(
        f"{url}/api/v1/commands/meals/withdraw", {"meal_id": "k1", "crew_id": "zed"}, token, "tap-2"
    )
    assert (
        refused.status_code == 409
        and refused.json()["message"] == "zed has not volunteered for meal k1"
    )
    actors = sql(env, "select actor, source from event_log where causation_id = 'tap-1'")
    assert actors == [{"actor": "anna", "source": "kiosk:test-kiosk"}]
    backdated = post(
        f"{url}/api/v1/commands/meals/withdraw",
        {"meal_id": "k1", "crew_id": "anna", "at": "2029-12-31T10:00:00+00:00"},
        token,
        "tap-at",
    )
    assert backdated.status_code == 422 and backdated.json()["errors"][0]["path"] == "$.at"
    assert sql(env, "select count(*) as n from event_log where causation_id = 'tap-at'") == [
        {"n": 0}
    ]
    stored = asyncio.run(stored_token_hash(env, "test-kiosk"))
    assert stored == hashlib.sha256(token.encode()).hexdigest().encode() and token not in str(
        stored
    )
    for file in Path(env["CREW_HOME"]).rglob("*"):
        if file.is_file():
            assert token.encode() not in file.read_bytes(), f"the raw token is in {file}"
    crew(env, "kiosk", "revoke", "test-kiosk")
    # The kiosk learns of the revoke from a KV watch: wait for it, within a bound, rather than
    # for a fixed time that a busy machine may not meet.
    poll(
        lambda: post(f"{url}/api/v1/commands/meals/volunteer_to_cook", sign_up, token, "tap-3"),
        until=lambda answer: answer.status_code == 401,
        what="the revoked token is refused",
    )


def test_the_board_shows_meals_the_party_and_names_only(house: House) -> None:
    env, _ = house
    token = kiosk_token(env)
    send(
        env,
        "onboarding.register_crew_member",
        {"crew_id": "anna", "display_name": "Anna Holm", "contact": "a@x.dk"},
    )
    today = house_today()
    send(env, "meals.plan_meal", {"meal_id": "today", "date": str(today), "helper_slots": 2})
    party = {
        "series_id": "cleaning",
        "kind": "cleaning_party",
        "title": "Cleaning party",
        "weekdays": [today.weekday()],
        "start": "17:00",
        "end": "19:00",
        "starts_on": str(today),
        "tasks": [{"task": "kitchen", "capacity": 2}],
    }
    assert send(env, "rota.schedule_series", party)["status"] == "accepted"
    board = poll(  # the views follow the log within moments
        lambda: httpx.get(
            f"{base(env)}/api/v1/board", headers={"authorization": f"Bearer {token}"}, timeout=20
        ),
        until=lambda board: all(board.json()[part] for part in ("crew", "meals", "cleaning_party")),
        seconds=30,
        every=0.2,
    )
    shown = board.json()
    assert board.status_code == 200
    assert shown["crew"] == [{"crew_id": "anna", "display_name": "Anna Holm", "newcomer": False}]
    meal = shown["meals"][0]
    assert (meal["meal_id"], meal["head_cook"], meal["open_helper_slots"]) == ("today", None, 2)
    assert shown["cleaning_party"]["date"] == str(today)
    assert [t["task"] for t in shown["cleaning_party"]["tasks"]] == ["kitchen"]
    assert "a@x.dk" not in board.text
    assert httpx.get(f"{base(env)}/api/v1/board", timeout=20).status_code == 401
    spec = httpx.get(f"{base(env)}/api/v1/openapi.json", timeout=20).json()
    assert "/api/v1/board" in spec["paths"]
    tap = spec["paths"]["/api/v1/commands/meals/volunteer_to_cook"]["post"]  # one per command
    body = spec["components"]["schemas"]["VolunteerToCook"]
    assert tap["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/VolunteerToCook"
    )
    assert {"200", "401", "403", "409", "422", "429", "503"} <= set(tap["responses"])
    assert "at" not in body["properties"] and "type" not in body["required"]


def test_a_tap_is_answered_503_with_retry_after_when_nats_is_stopped(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "home", free_port())
    server.start()
    port = free_port()
    env = {
        **os.environ,
        "CREW_NATS_URL": server.url,
        "CREW_HOME": str(tmp_path / "home"),
        "CREW_HTTP_PORT": str(port),
    }
    env["CREW_LOG_FORMAT"] = "json"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", module],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for module in ("services.meals", "services.kiosk")
    ]
    try:
        token = subprocess.run(
            [str(Path(sys.executable).with_name("crew")), "kiosk", "add", "t"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()[1]
        url = f"http://127.0.0.1:{port}/api/v1/commands/meals/volunteer_to_cook"
        body = {"meal_id": "m", "crew_id": "anna", "role": "helper"}
        poll(
            lambda: post(url, body, token, "warm"),
            until=lambda answer: answer.status_code in (200, 409),
            ignoring=(httpx.HTTPError,),
            seconds=20,
            every=0.2,
        )
        server.kill()
        started = time.monotonic()
        down = post(url, body, token, "while-down")
        assert down.status_code == 503 and down.headers["retry-after"] == "5"
        assert time.monotonic() - started < 10, "answered at once, not after a hang"
        board = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/board",
            headers={"authorization": f"Bearer {token}"},
            timeout=20,
        )
        assert board.status_code == 503 and board.headers["retry-after"] == "5"
        server.start()
        again = poll(
            lambda: post(url, body, token, "after"),
            until=lambda answer: answer.status_code != 503,
            seconds=30,
            every=0.3,
        )
        assert again.status_code == 409 and again.json()["code"] == "meal_not_planned"
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(20)
        server.kill()


pytestmark = pytest.mark.timeout(300)


def test_a_kiosk_over_its_rate_is_answered_429_with_retry_after(
    crew_env: dict[str, str],
) -> None:
    # The limit is per kiosk and per kiosk process: CREW_KIOSK_BURST taps at once, then
    # CREW_KIOSK_RATE a second. Here: 3 at once, then one a minute.
    with start_house({**crew_env, "CREW_KIOSK_RATE": "0.016", "CREW_KIOSK_BURST": "3"}) as (env, _):
        url = f"{base(env)}/api/v1/commands/meals/sign_up_to_eat"
        greedy, calm = kiosk_token(env, "greedy"), kiosk_token(env, "calm")
        body = {"meal_id": "nope", "crew_id": "anna"}
        answers = [post(url, body, greedy, f"g{i}") for i in range(4)]
        assert [a.status_code for a in answers] == [409, 409, 409, 429]
        assert answers[3].headers["retry-after"] == "1"
        assert post(url, body, calm, "c0").status_code == 409, "another kiosk has its own limit"


def test_a_kiosk_started_while_nats_is_down_answers_503_at_once_and_recovers(
    tmp_path: Path,
) -> None:
    nats_port, http_port = free_port(), free_port()
    server = NatsServer(tmp_path / "home", nats_port)
    env = {
        **os.environ,
        "CREW_NATS_URL": server.url,
        "CREW_HOME": str(tmp_path / "home"),
        "CREW_HTTP_PORT": str(http_port),
        "CREW_LOG_FORMAT": "json",
    }
    kiosk = subprocess.Popen(
        [sys.executable, "-m", "services.kiosk"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    procs = [kiosk]
    url = f"http://127.0.0.1:{http_port}/api/v1/commands/meals/volunteer_to_cook"
    body = {"meal_id": "m", "crew_id": "anna", "role": "helper"}
    try:
        down = poll(  # until uvicorn listens: it must, with no bus anywhere
            lambda: post(url, body, "any-token", "while-down"),
            ignoring=(httpx.TransportError,),
            seconds=30,
            every=0.2,
            what="the kiosk listened while NATS was down",
        )
        assert down.status_code == 503 and down.headers["retry-after"] == "5"
        board = httpx.get(f"http://127.0.0.1:{http_port}/api/v1/board", timeout=20)
        assert board.status_code == 503 and board.headers["retry-after"] == "5"
        assert kiosk.poll() is None
        server.start()
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "services.meals"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        token = subprocess.run(
            [str(Path(sys.executable).with_name("crew")), "kiosk", "add", "t"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()[1]
        again = poll(
            lambda: post(url, body, token, "after"),
            until=lambda answer: (
                answer.status_code not in (401, 503)
            ),  # 401 until it sees the token
            seconds=30,
            every=0.2,
        )
        assert again.status_code == 409 and again.json()["code"] == "meal_not_planned"
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(20)
        server.kill()
