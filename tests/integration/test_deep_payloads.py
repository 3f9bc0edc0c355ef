"""An event nested past msgspec's depth limit is unreadable, like any other bad event: parked
or passed over, never an exception that stops the projector or a follower."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from crew import subjects
from crew.eventstore import Recorded
from projections.event_log import EVENT_LOG
from projections.projection import Projection
from services.meals import follows_rota
from services.rota import follows_meals

DEEP = b'{"type":"meals.withdrew","meal_id":"m1","x":' + b"[" * 60_000


def test_a_too_deep_event_is_a_dead_letter_and_the_projector_goes_on(tmp_path: Path) -> None:
    projection = Projection(tmp_path / "views.duckdb", views=(EVENT_LOG,))
    record = Recorded(
        seq=1,
        subject=subjects.event_subject("meals.withdrew", "m1"),
        data=DEEP,
        headers={subjects.EVENT_TYPE: "meals.withdrew"},
    )
    try:
        applied = projection.apply([record])
        letters = projection.con.execute("select seq, error from dead_letters").fetchall()
    finally:
        projection.close()
    assert applied.dead == 1 and applied.last_seq == 1
    assert letters == [(1, "the payload is nested too deeply")]


def test_a_too_deep_event_is_passed_over_by_both_followers() -> None:
    """Passed over (True: handled, never tried again), and no exception stops the follower."""

    def deep(subject: str) -> Recorded:
        return Recorded(seq=7, subject=subject, data=DEEP)

    async def react() -> list[bool]:
        no: Any = None  # neither reaction gets as far as the shell or the bus
        meals = await follows_meals._react(
            deep(subjects.event_subject("meals.withdrew", "m1")), 1, no
        )
        rota = await follows_rota._react(
            deep(subjects.event_subject("rota.occurrence_scheduled", "o1")), 1, no, no
        )
        return [meals, rota]

    assert asyncio.run(react()) == [True, True]


def test_a_meal_id_with_a_final_newline_is_no_rota_meal_day() -> None:
    day = "cleaning-20300107"
    withdrew = follows_meals.Withdrew(meal_id=day, crew_id="anna", role="head_cook")
    assert follows_meals.release_command(withdrew) is not None
    newline = follows_meals.Withdrew(meal_id=day + "\n", crew_id="anna", role="head_cook")
    assert follows_meals.release_command(newline) is None
