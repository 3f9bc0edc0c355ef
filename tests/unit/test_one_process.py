"""`crew up --one-process`: the contexts and the kiosk in one process, each still as its own NATS
user."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from crew.urls import url_variable
from house import together
from house.runner import TOGETHER, House


def one_process_house(tmp_path: Path) -> House:
    house = House(tmp_path, 4222, 8080, False, say=print, one_process=True)
    house.public_url = "nats://127.0.0.1:4222"
    house.passwords = {user: f"pw-{user}" for user in ("meals", "rota", "onboarding", "notices",
                       "activities", "projector", "query", "kiosk")}  # fmt: skip
    return house


def test_the_one_process_runs_the_contexts_the_runner_names() -> None:
    assert (*together.CONTEXTS, together.KIOSK) == TOGETHER.answers_as


def test_the_one_process_takes_the_contexts_place_and_the_rest_stay_apart(tmp_path: Path) -> None:
    names = [c.name for c in one_process_house(tmp_path).components]
    assert names == ["projector", "contexts"]
    alone = [c.name for c in House(tmp_path, 4222, 8080, False, say=print).components]
    assert alone == ["meals", "rota", "onboarding", "notices", "activities", "projector", "kiosk"]


def test_each_context_in_the_one_process_connects_as_its_own_user(tmp_path: Path) -> None:
    house = one_process_house(tmp_path)
    contexts = next(c for c in house.components if c.name == "contexts")
    env = house.env_of(contexts)
    for context in TOGETHER.answers_as:
        assert urlsplit(env[url_variable(context)]).username == context
    projector = house.env_of(next(c for c in house.components if c.name == "projector"))
    assert not any(url_variable(c) in projector for c in TOGETHER.answers_as), "no one else's"
    assert "CREW_QUERY_NATS_URL" not in env
