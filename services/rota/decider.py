"""Pure rules of the rota: decide(series, command) -> events, evolve(series, event) -> series.

One series (with all its occurrences) is one aggregate. Each command has one handler (the
table below); the handler decides on a draft that evolves as it goes, so every rule sees the
effect of the events already decided in the same command. The rules live in parts:

- `schedule.py`, `reconcile.py`, `series.py`: the recurrence, materialising occurrences,
  changing a series from a date on, moving and cancelling one occurrence;
- `claims.py`: standing intentions and their tentative claims;
- `participation.py`: taking part in one occurrence, asking the kind's policy
  (`policies.py`: the cleaning party, the duty shift, the meal day);
- `meals_bridge.py`: what meal days share with the meals service;
- `state.py`, `evolve.py`, `refusals.py`: the state, how events change it, every "no".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from crew.decider import Decider, Refusal
from schemas import rota as r
from services.rota import claims, participation
from services.rota import series as series_rules
from services.rota.draft import Draft
from services.rota.draft import today as _today
from services.rota.evolve import CHANGE_REASON, evolve
from services.rota.meals_bridge import WITHDREW
from services.rota.policies import POLICIES
from services.rota.policies import has_room as _has_room
from services.rota.recurrence import series_of
from services.rota.refusals import (
    AlreadyOnTask,
    AlreadySignedUp,
    BadSchedule,
    ChangeInThePast,
    ClaimExpired,
    LaterChangeExists,
    NoClaim,
    NoCookingPlace,
    NoHandOverOffered,
    NoIntention,
    NoTask,
    NotSignedUp,
    NotToday,
    OccurrenceCancelled,
    OccurrenceNotFound,
    OccurrenceOver,
    SeriesAlreadyScheduled,
    SeriesNotScheduled,
    ShiftFull,
    TaskFull,
    UnknownTask,
    WrongKind,
)
from services.rota.state import Occurrence, Series, Version, initial

__all__ = [
    "CHANGE_REASON",
    "HANDLERS",
    "POLICIES",
    "ROTA",
    "WITHDREW",
    "AlreadyOnTask",
    "AlreadySignedUp",
    "BadSchedule",
    "ChangeInThePast",
    "ClaimExpired",
    "LaterChangeExists",
    "NoClaim",
    "NoCookingPlace",
    "NoHandOverOffered",
    "NoIntention",
    "NoTask",
    "NotSignedUp",
    "NotToday",
    "Occurrence",
    "OccurrenceCancelled",
    "OccurrenceNotFound",
    "OccurrenceOver",
    "Refusal",
    "Series",
    "SeriesAlreadyScheduled",
    "SeriesNotScheduled",
    "ShiftFull",
    "TaskFull",
    "UnknownTask",
    "Version",
    "WrongKind",
    "_has_room",
    "_today",
    "aggregate_of",
    "decide",
    "evolve",
    "initial",
]

Handler = Callable[[Draft, Any], None]

HANDLERS: Mapping[type[r.RotaCommand], Handler] = {
    r.ScheduleSeries: series_rules.schedule_series,
    r.ChangeSeries: series_rules.change_series,
    r.AdvanceCalendar: series_rules.advance_calendar,
    r.MoveOccurrence: series_rules.move_occurrence,
    r.CancelOccurrence: series_rules.cancel_occurrence,
    r.StateIntention: claims.state_intention,
    r.DropIntention: claims.drop_intention,
    r.ConfirmClaim: claims.confirm,
    r.ReleaseClaim: claims.release,
    r.JoinCleaningParty: participation.join_cleaning_party,
    r.SignUpForShift: participation.sign_up_for_shift,
    r.LeaveCleaningParty: participation.step_back,
    r.WithdrawFromShift: participation.step_back,
    r.TakeTask: participation.take_task,
    r.DropTask: participation.drop_task,
    r.CheckIn: participation.check_in,
    r.OfferHandOver: participation.offer_hand_over,
    r.TakeHandOver: participation.take_hand_over,
}


def decide(series: Series, command: r.RotaCommand) -> list[r.RotaEvent]:
    handler = HANDLERS.get(type(command))
    if handler is None:
        raise TypeError(f"not a rota command: {type(command).__name__}")
    draft = Draft(series)
    handler(draft, command)
    return draft.events


def aggregate_of(command: Any) -> str:
    return command.series_id if hasattr(command, "series_id") else series_of(command.occurrence_id)


ROTA = Decider(
    context=r.CONTEXT,
    commands=dict(r.COMMANDS),
    event_types=r.EVENTS,
    initial=initial,
    decide=decide,
    evolve=evolve,
    aggregate_of=aggregate_of,
)
