"""The command benchmarks' sign-ups: each one a new sign-up (no meal and person pair twice,
which would make it an "already true"), from a house-sized pool of people."""

from __future__ import annotations

import pytest

from bench import workload
from bench.run import SIZES


@pytest.mark.parametrize("size", sorted(SIZES))
def test_no_sign_up_of_a_phase_pairs_a_meal_and_a_person_twice(size: str) -> None:
    plan = SIZES[size]
    most = plan["rounds"] * max(plan["sequential"], plan["concurrent"], plan["kiosk"])
    bodies = [workload.sign_up("c", i, plan["meals"]) for i in range(most)]
    pairs = {(body["meal_id"], body["crew_id"]) for body in bodies}
    assert len(pairs) == most
    assert len({body["crew_id"] for body in bodies}) == min(most, workload.PEOPLE)


def test_a_meal_count_the_people_divide_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="meals"):
        workload.sign_up("c", 0, 2 * workload.PEOPLE)
