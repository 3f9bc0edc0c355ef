"""What the rota's meal days say to, and hear from, the meals service.

Meals plans each meal day (services/meals/follows_rota.py reads the rota's events) and keeps
who cooks; the rota follows `meals.withdrew` (services/rota/follows_meals.py) to free a
cooking place it confirmed.
"""

from __future__ import annotations

import msgspec

from services.rota.state import Occurrence

# The code the rota's own follower of `meals.withdrew` sends (services/rota/follows_meals.py);
# every other code is a refusal from meals.
WITHDREW = "withdrew"


def why_released(code: str) -> str:
    """The reason a released claim gives, from the code its release came with."""
    if not code:
        return "released by its holder"
    if code == WITHDREW:
        return "withdrew from cooking in meals"
    return f"the meals service said no ({code})"


def by_holder(code: str) -> bool:
    """Whether a release with this code was the holder's own doing (not meals saying no)."""
    return code in ("", WITHDREW)


def meal_id_of(occ: Occurrence) -> str | msgspec.UnsetType:
    """The id of a meal day's meal in meals, where it is not the occurrence id: meals cannot
    plan a cancelled meal again, so each return of the day is a new meal."""
    if occ.restored == 0:
        return msgspec.UNSET
    return f"{occ.occurrence_id}-r{occ.restored}"


def cooking(occ: Occurrence, who: str, role: str | None) -> Occurrence:
    """`who`'s claim confirmed: they now hold a cooking place (`role`) until meals says no."""
    claims = {k: v for k, v in occ.claims.items() if k != who}
    return msgspec.structs.replace(occ, claims=claims, cooks={**occ.cooks, who: role or "helper"})
