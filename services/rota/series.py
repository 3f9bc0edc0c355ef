"""Commands on a series as a whole and on one of its occurrences as an entry in the
calendar: scheduling and changing the series, letting time pass, moving and cancelling."""

from __future__ import annotations

import msgspec

from schemas import rota as r
from services.rota.claims import release_claim, release_unconfirmed
from services.rota.draft import Draft, meal_id, occurrence, plan_of, refuse_if_over, today
from services.rota.policies import POLICIES, check_schedule, check_times
from services.rota.reconcile import reconcile
from services.rota.refusals import (
    BadSchedule,
    ChangeInThePast,
    LaterChangeExists,
    SeriesAlreadyScheduled,
)
from services.rota.schedule import materialise, version_on
from services.rota.state import Occurrence, find, version_of_fields

CHANGEABLE = ("weekdays", "start", "end", "until", "tasks", "capacity")


def schedule_series(draft: Draft, command: r.ScheduleSeries) -> None:
    policy = POLICIES[command.kind]
    check_schedule(policy, command.start, command.end, command.tasks, command.capacity)
    if command.until is not None and command.until < command.starts_on:
        raise BadSchedule("`until` is before `starts_on`")
    fields = msgspec.structs.asdict(command)
    for name in ("type", "at"):
        fields.pop(name, None)
    scheduled = r.SeriesScheduled(**fields)
    series = draft.series
    if series.plan is not None:
        if series.plan == scheduled:
            return
        raise SeriesAlreadyScheduled(
            f"series {series.series_id} is already scheduled; change it instead"
        )
    draft.emit(scheduled)
    materialise(draft, today(draft.series, command.at))


def change_series(draft: Draft, command: r.ChangeSeries) -> None:
    series = draft.series
    plan = plan_of(series)
    now = today(series, command.at)
    if command.effective_from < now:
        raise ChangeInThePast(f"a change takes effect from today ({now}) or later")
    current = version_on(series, command.effective_from)
    resolved = {
        name: (value if value is not msgspec.UNSET else getattr(current, name))
        for name in CHANGEABLE
        for value in [getattr(command, name)]
    }
    check_schedule(
        POLICIES[plan.kind],
        resolved["start"],
        resolved["end"],
        resolved["tasks"],
        resolved["capacity"],
    )
    later = [d for d, _ in series.versions[1:] if d > command.effective_from]
    if later:  # it would replace the later change unseen
        raise LaterChangeExists(
            f"the series already changes from {max(later)}; a change from an earlier "
            f"date would undo that one: change it from {max(later)} or later, or make "
            "both changes again in date order"
        )
    if version_of_fields(resolved) == current:  # a retry, or what already holds
        return
    change = r.SeriesChanged(
        series_id=series.series_id,
        effective_from=command.effective_from,
        weekdays=list(resolved["weekdays"]),
        start=resolved["start"],
        end=resolved["end"],
        until=resolved["until"],
        tasks=list(resolved["tasks"]),
        capacity=resolved["capacity"],
    )
    draft.emit(change)
    reconcile(draft, change, now)
    materialise(draft, now)


def advance_calendar(draft: Draft, command: r.AdvanceCalendar) -> None:
    plan_of(draft.series)
    now = today(draft.series, command.at)
    materialise(draft, now)
    release_unconfirmed(draft, now)


def move_occurrence(draft: Draft, command: r.MoveOccurrence) -> None:
    series = draft.series
    occ = occurrence(series, command.occurrence_id)
    start, end = command.start or occ.start, command.end or occ.end
    check_times(start, end)
    refuse_if_over(series, occ, command.at)
    if command.date < today(series, command.at):
        raise BadSchedule("an occurrence cannot be moved into the past")
    if (occ.day, occ.start, occ.end) == (command.date, start, end):
        return
    draft.emit(
        r.OccurrenceMoved(
            kind=series.kind,
            series_id=series.series_id,
            occurrence_id=occ.occurrence_id,
            date=command.date,
            start=start,
            end=end,
            reason=command.reason,
            meal_id=meal_id(series, occ),
        )
    )


def cancel_occurrence(draft: Draft, command: r.CancelOccurrence) -> None:
    series = draft.series
    existing = find(series, command.occurrence_id)
    if existing is not None and existing.status == "cancelled":
        return
    occ = occurrence(series, command.occurrence_id)
    draft.emit(
        r.OccurrenceCancelled(
            kind=series.kind,
            series_id=series.series_id,
            occurrence_id=occ.occurrence_id,
            reason=command.reason,
            by_series_change=False,
            meal_id=meal_id(series, occ),
        )
    )
    _release_everyone(draft, occ, f"cancelled: {command.reason}" if command.reason else "cancelled")


def _release_everyone(draft: Draft, occ: Occurrence, reason: str) -> None:
    for who in occ.people:
        draft.emit(
            r.SignUpAffected(
                series_id=draft.series.series_id,
                occurrence_id=occ.occurrence_id,
                crew_id=who,
                outcome="released",
                reason=reason,
            )
        )
    for who in (*occ.claims, *occ.cooks):  # tentative claims, and meal days' confirmed ones
        release_claim(draft, occ, who, reason)
