"""The rota service: the shared shell around the rota decider, with the calendar and the
follower of `meals.withdrew` beside it."""

import functools

from crew.service import Companion, build_app, run
from crew.settings import Settings
from services.rota.calendar import keep_calendar
from services.rota.decider import ROTA
from services.rota.follows_meals import follow_meals


def companions(config: Settings) -> tuple[Companion, ...]:
    """The calendar, ticking every CREW_CALENDAR_TICK_S, and the follower of the meals."""
    calendar = functools.partial(keep_calendar, tick_s=config.calendar_tick_s)
    return (functools.update_wrapper(calendar, keep_calendar), follow_meals)


__all__ = ["ROTA", "build_app", "companions", "run"]
