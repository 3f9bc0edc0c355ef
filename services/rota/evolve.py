"""evolve(series, event) -> series: what each event of the log does to a series.

Pure from the caller's view: the series given is never changed. An event copies only the
open occurrences (services/rota/state.py), never the series' whole past.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from msgspec.structs import replace

from schemas import rota as r
from services.rota.policies import POLICIES
from services.rota.state import Occurrence, Series, close_over, find, put, version_of

# Every reason a series change gives starts so; older cancellations are read by it.
CHANGE_REASON = "the series changed from"


def _without(mapping: Any, who: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != who}


def _without_person(occ: Occurrence, who: str) -> Occurrence:
    return replace(
        occ,
        people=tuple(p for p in occ.people if p != who),
        task_of=_without(occ.task_of, who),
        offers=tuple(p for p in occ.offers if p != who),
    )


def _join(occ: Occurrence, who: str) -> Occurrence:
    return occ if who in occ.people else replace(occ, people=(*occ.people, who))


def _shaped_by(occ: Occurrence, event: r.OccurrenceChanged | r.OccurrenceRestored) -> Occurrence:
    """The occurrence with the times, tasks and capacity a series change gave it."""
    return replace(
        occ, start=event.start, end=event.end, tasks=tuple(event.tasks), capacity=event.capacity
    )


# Series events ------------------------------------------------------------------------------


def _series_scheduled(series: Series, event: r.SeriesScheduled) -> Series:
    return replace(series, plan=event, versions=((event.starts_on, version_of(event)),))


def _series_changed(series: Series, event: r.SeriesChanged) -> Series:
    kept = tuple((d, v) for d, v in series.versions if d < event.effective_from)
    return replace(series, versions=(*kept, (event.effective_from, version_of(event))))


def _intention_stated(series: Series, event: r.IntentionStated) -> Series:
    return replace(series, intentions={**series.intentions, event.crew_id: event})


def _intention_dropped(series: Series, event: r.IntentionDropped) -> Series:
    return replace(series, intentions=_without(series.intentions, event.crew_id))


def _occurrence_scheduled(series: Series, event: r.OccurrenceScheduled) -> Series:
    earlier = find(series, event.occurrence_id)
    scheduled = Occurrence(
        occurrence_id=event.occurrence_id,
        first_date=event.date,
        day=event.date,
        start=event.start,
        end=event.end,
        tasks=tuple(event.tasks),
        capacity=event.capacity,
        order=series.scheduled if earlier is None else earlier.order,
    )
    until = max(series.materialised_until or event.date, event.date)
    moved_on = until != series.materialised_until
    series = replace(series, materialised_until=until, scheduled=series.scheduled + 1)
    series = put(series, scheduled)
    return close_over(series) if moved_on else series  # the log now proves more days over


SERIES_CHANGES: dict[type[Any], Callable[[Series, Any], Series]] = {
    r.SeriesScheduled: _series_scheduled,
    r.SeriesChanged: _series_changed,
    r.IntentionStated: _intention_stated,
    r.IntentionDropped: _intention_dropped,
    r.OccurrenceScheduled: _occurrence_scheduled,
}


# Occurrence events --------------------------------------------------------------------------


def _cancelled(occ: Occurrence, event: r.OccurrenceCancelled) -> Occurrence:
    return replace(occ, status="cancelled", cancelled_by_change=event.by_series_change)


def _restored(occ: Occurrence, event: r.OccurrenceRestored) -> Occurrence:
    return replace(
        _shaped_by(occ, event),
        status="scheduled",
        cancelled_by_change=False,
        restored=occ.restored + 1,
        cooks={},  # a meal day back is a new meal: nobody cooks at it yet
    )


def _sign_up_affected(occ: Occurrence, event: r.SignUpAffected) -> Occurrence:
    if event.outcome == "task_released":
        return replace(occ, task_of=_without(occ.task_of, event.crew_id))
    if event.outcome == "released":
        return _without_person(occ, event.crew_id)
    return occ  # kept: nothing changes here (a move is `_moved`)


def _hand_over_taken(occ: Occurrence, event: r.HandOverTaken) -> Occurrence:
    taker, giver = event.crew_id, event.from_crew_id
    people = tuple(taker if p == giver else p for p in occ.people)
    task_of = _without(occ.task_of, giver)
    if event.task:
        task_of[taker] = event.task
    offers = tuple(p for p in occ.offers if p != giver)
    claims = _without(occ.claims, taker)
    return replace(occ, people=people, task_of=task_of, offers=offers, claims=claims)


def _checked_in(occ: Occurrence, event: r.CheckedIn) -> Occurrence:
    who = event.crew_id
    return occ if who in occ.checked_in else replace(occ, checked_in=(*occ.checked_in, who))


OCCURRENCE_CHANGES: dict[type[Any], Callable[[Occurrence, Any], Occurrence]] = {
    r.OccurrenceChanged: _shaped_by,
    r.OccurrenceMoved: lambda o, e: replace(o, day=e.date, start=e.start, end=e.end),
    r.OccurrenceCancelled: _cancelled,
    r.OccurrenceRestored: _restored,
    r.SignUpAffected: _sign_up_affected,
    r.JoinedCleaningParty: lambda o, e: _join(o, e.crew_id),
    r.SignedUpForShift: lambda o, e: _join(o, e.crew_id),
    r.LeftCleaningParty: lambda o, e: _without_person(o, e.crew_id),
    r.WithdrewFromShift: lambda o, e: _without_person(o, e.crew_id),
    r.TookTask: lambda o, e: replace(_join(o, e.crew_id), task_of={**o.task_of, e.crew_id: e.task}),
    r.DroppedTask: lambda o, e: replace(o, task_of=_without(o.task_of, e.crew_id)),
    r.CheckedIn: _checked_in,
    r.HandOverOffered: lambda o, e: replace(o, offers=(*o.offers, e.crew_id)),
    r.HandOverTaken: _hand_over_taken,
    r.TentativeClaimMade: lambda o, e: replace(o, claims={**o.claims, e.crew_id: e.task}),
    r.ClaimConfirmed: lambda o, e: POLICIES[e.kind].confirmed(o, e.crew_id, e.task),
    r.ClaimReleased: lambda o, e: replace(
        o, claims=_without(o.claims, e.crew_id), cooks=_without(o.cooks, e.crew_id)
    ),
}


def _moved(series: Series, occ: Occurrence, event: r.SignUpAffected, target: str) -> Series:
    """`who` leaves `occ` for `target`, with the task the decider carried along."""
    who, task = event.crew_id, event.task
    series = put(series, _without_person(occ, who))
    destination = find(series, target)
    if destination is None:
        return series
    destination = _join(destination, who)
    if task:  # the decider carried it along only where there was room
        destination = replace(destination, task_of={**destination.task_of, who: task})
    return put(series, destination)


def evolve(series: Series, event: r.RotaEvent) -> Series:
    changes_series = SERIES_CHANGES.get(type(event))
    if changes_series is not None:
        return changes_series(series, event)
    found = find(series, getattr(event, "occurrence_id", ""))
    if found is None:
        return series
    if isinstance(event, r.SignUpAffected) and event.outcome == "moved" and event.moved_to:
        return _moved(series, found, event, event.moved_to)
    changes = OCCURRENCE_CHANGES.get(type(event))
    changed = found if changes is None else changes(found, event)
    return series if changed is found else put(series, changed)
