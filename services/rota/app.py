"""The rota service: the shared shell around the rota decider, with the calendar and the
follower of `meals.withdrew` beside it."""

from crew.service import build_app, run
from services.rota.calendar import keep_calendar
from services.rota.decider import ROTA
from services.rota.follows_meals import follow_meals

COMPANIONS = (keep_calendar, follow_meals)

__all__ = ["COMPANIONS", "ROTA", "build_app", "run"]
