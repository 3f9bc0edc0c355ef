"""The kiosk page and a crew member's own page say every "no" they can meet in plain Danish and
English (the words are in crew.js, which both load)."""

from __future__ import annotations

import re
from pathlib import Path

import services.activities.decider
import services.meals.decider
import services.notices.decider
import services.onboarding.decider
import services.rota.decider
from crew.decider import Refusal

PAGE = Path(__file__).resolve().parents[2] / "services" / "kiosk" / "crew.js"
# What only the notices service's own commands can meet: no page sends those.
SERVICES_ONLY = {"unknown_notice"}


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


def test_every_refusal_a_page_can_meet_has_a_danish_and_an_english_sentence() -> None:
    assert services.meals.decider and services.onboarding.decider
    assert services.activities.decider
    assert sentences("da") == sentences("en")
    missing = codes() - SERVICES_ONLY - sentences("da")
    assert not missing, f"add these to REFUSED in crew.js, in both languages: {missing}"


def test_what_changed_on_a_personal_page_words_real_event_types_in_both_languages() -> None:
    from schemas.registry import EVENT_TYPES

    page = (PAGE.parent / "me.html").read_text()
    table = page.split("const CHANGED", 1)[1].split("};", 1)[0]
    da, en = table.split("en: {", 1)
    worded = set(re.findall(r'"([a-z]+\.[a-z_]+)":', da))
    assert worded == set(re.findall(r'"([a-z]+\.[a-z_]+)":', en))
    assert worded <= set(EVENT_TYPES), worded - set(EVENT_TYPES)
