"""The kiosk page says every "no" a tablet can meet in plain Danish and English."""

from __future__ import annotations

import re
from pathlib import Path

import services.meals.decider
import services.notices.decider
import services.onboarding.decider
import services.rota.decider
from crew.decider import Refusal

PAGE = Path(__file__).resolve().parents[2] / "services" / "kiosk" / "kiosk.html"
# What only a coordinator's commands can meet (planning, series, the newcomer conversation):
# a tablet never sends those commands (services/kiosk/app.py KIOSK_MAY).
COORDINATORS_ONLY = {
    "meal_already_planned",
    "series_already_scheduled",
    "bad_schedule",
    "change_in_the_past",
    "later_change_exists",
    "no_intention",
    "already_onboarded",
    "already_redirected",
    "is_a_newcomer",
    "no_conversation_yet",
    "not_a_newcomer",
    "own_buddy",
    # notices: opting in and the notices service's own commands; not the kiosk's
    "person_forgotten",
    "not_subscribed",
    "no_address",
    "unknown_notice",
}


def codes() -> set[str]:
    def below(kind: type) -> list[type]:
        return [k for sub in kind.__subclasses__() for k in (sub, *below(sub))]

    return {code for kind in below(Refusal) if (code := getattr(kind, "code", None))}


def sentences(lang: str) -> set[str]:
    table = PAGE.read_text().split("const REFUSED", 1)[1]
    start = table.index(f"{lang}: {{")
    end = re.compile(r"\"\s*}").search(table, start)  # the end of this language's sentences
    assert end is not None
    return set(re.findall(r"(\w+): \"", table[start : end.end()]))


def test_every_refusal_a_tablet_can_meet_has_a_danish_and_an_english_sentence() -> None:
    assert services.meals.decider and services.onboarding.decider
    assert sentences("da") == sentences("en")
    missing = codes() - COORDINATORS_ONLY - sentences("da")
    assert not missing, f"add these to REFUSED in kiosk.html, in both languages: {missing}"
