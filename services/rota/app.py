"""The rota service: the shared shell around the rota decider, with the calendar beside it."""

from crew.service import build_app, run
from services.rota.calendar import keep_calendar
from services.rota.decider import ROTA

COMPANIONS = (keep_calendar,)

__all__ = ["COMPANIONS", "ROTA", "build_app", "run"]
