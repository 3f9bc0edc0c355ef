"""Bringing occurrences in line with a series change, saying what happened to every sign-up
and claim it touches: reshaped, moved to another day of the week, released, or brought back."""

from __future__ import annotations

import datetime
from typing import Literal

from msgspec.structs import replace

from schemas import rota as r
from services.rota.claims import claims_for, release_claim, settle_claim
from services.rota.draft import Draft, meal_id, plan_of
from services.rota.evolve import CHANGE_REASON
from services.rota.policies import has_room, policy_of
from services.rota.recurrence import occurrence_id, versions_dates
from services.rota.schedule import last_day, moved_onto, schedule, weekly_versions
from services.rota.state import Occurrence, Version, find, occurrence_now, open_from


def reconcile(draft: Draft, change: r.SeriesChanged, today: datetime.date) -> None:
    """Bring every occurrence from the change on in line with the new version, saying what
    happened to each sign-up. Occurrences moved by hand are exceptions and stay as they are;
    occurrences an earlier change cancelled come back where their day is in the series again
    (those cancelled by hand stay cancelled)."""
    series = draft.series
    version = series.versions[-1][1]
    last = last_day(series, today)
    new_days = {
        day for day, _ in versions_dates(weekly_versions(series), change.effective_from, last)
    }
    reason = f"{CHANGE_REASON} {change.effective_from}"
    # Scheduled or restored here: claims are made once the moves are done.
    fresh = _restore_days(draft, new_days, version, reason, today)
    affected = [
        o
        for o in sorted(open_from(draft.series, change.effective_from), key=lambda o: o.first_date)
        if o.first_date >= change.effective_from
        and o.status == "scheduled"
        and o.day == o.first_date
        and o.occurrence_id not in fresh
    ]
    # The days that stay take the new version first, so sign-ups moved onto them meet its
    # capacity and tasks.
    for occ in affected:
        if occ.first_date in new_days:
            _reshape(draft, occ, version, reason)
    for occ in affected:
        if occ.first_date not in new_days:
            _cancel_and_move(draft, occ, new_days, version, reason, today, fresh)
    for occ_id in fresh:
        claims_for(draft, occ_id, today)


def _restore_days(
    draft: Draft, new_days: set[datetime.date], version: Version, reason: str, today: datetime.date
) -> list[str]:
    """Bring back the days an earlier change cancelled that are in the series again."""
    restored = []
    for day in sorted(d for d in new_days if d >= today):
        found = find(draft.series, occurrence_id(draft.series.series_id, day))
        if found and found.cancelled_by_change and moved_onto(draft.series, day) is None:
            _restore(draft, found, version, reason)
            restored.append(found.occurrence_id)
    return restored


def _cancel_and_move(
    draft: Draft,
    occ: Occurrence,
    new_days: set[datetime.date],
    version: Version,
    reason: str,
    today: datetime.date,
    fresh: list[str],
) -> None:
    """`occ`'s day is no longer in the series: cancel it, and move its people to the day the
    series has that week (scheduled here if need be), where there is room."""
    sid = draft.series.series_id
    week = occ.first_date.isocalendar()[:2]
    target_day = next(
        (d for d in sorted(new_days) if d.isocalendar()[:2] == week and d >= today),
        None,
    )
    target = None
    if target_day is not None:
        target = moved_onto(draft.series, target_day) or occurrence_id(sid, target_day)
        if find(draft.series, target) is None:
            fresh.append(schedule(draft, target_day, version))
    draft.emit(
        r.OccurrenceCancelled(
            kind=draft.series.kind,
            series_id=sid,
            occurrence_id=occ.occurrence_id,
            reason=reason,
            by_series_change=True,
            meal_id=meal_id(draft.series, occ),
        )
    )
    for who in occ.people:
        _move_sign_up(draft, occ, who, target, reason)
    for who in (*occ.claims, *occ.cooks):  # tentative claims, and meal days' confirmed ones
        release_claim(draft, occ, who, reason)


def _restore(draft: Draft, occ: Occurrence, version: Version, reason: str) -> None:
    plan = plan_of(draft.series)
    draft.emit(
        r.OccurrenceRestored(
            series_id=draft.series.series_id,
            occurrence_id=occ.occurrence_id,
            kind=plan.kind,
            date=occ.day,
            start=version.start,
            end=version.end,
            tasks=list(version.tasks),
            capacity=version.capacity,
            helper_slots=plan.helper_slots,
            seats=plan.seats,
            reason=f"{reason}: {occ.day} is in the series again",
            meal_id=meal_id(draft.series, replace(occ, restored=occ.restored + 1)),
        )
    )


def _move_sign_up(draft: Draft, occ: Occurrence, who: str, target: str | None, reason: str) -> None:
    """Move `who` from the cancelled `occ` to `target`, with their task where it still has
    room; say so, and say what could not come along. A claim of theirs on `target` is settled
    first, so it never counts beside the place they take."""
    task = occ.task_of.get(who)
    ids = {"series_id": draft.series.series_id, "occurrence_id": occ.occurrence_id, "crew_id": who}
    destination = find(draft.series, target or "")
    why = None
    if destination is None:
        why = "no date that week"
    elif destination.status == "cancelled":
        why = f"{destination.day} is cancelled"
    elif who in destination.people:
        why = f"already in on {destination.day}"
    elif not has_room(draft.series, destination, None, who):
        why = f"{destination.day} is full"
    if destination is None or why is not None:
        draft.emit(
            r.SignUpAffected(**ids, outcome="released", task=task, reason=f"{reason}: {why}")
        )
        return
    moved = f"{reason}: moved to {destination.day}"
    carried = task if task and has_room(draft.series, destination, task, who) else None
    settle_claim(draft, destination, who, carried, f"{moved} with another task")
    draft.emit(
        r.SignUpAffected(**ids, outcome="moved", moved_to=target, task=carried, reason=moved)
    )
    if task and not carried:
        draft.emit(
            r.SignUpAffected(
                **{**ids, "occurrence_id": destination.occurrence_id},
                outcome="task_released",
                task=task,
                reason=f"{moved}; no place on {task} there",
            )
        )


def _reshape(draft: Draft, occ: Occurrence, version: Version, reason: str) -> None:
    """The occurrence takes the new version's times, tasks and capacity. Sign-ups beyond the
    new capacity (latest first) and tentative claims beyond what is left are released."""
    same = (occ.start, occ.end, occ.tasks, occ.capacity) == (
        version.start,
        version.end,
        version.tasks,
        version.capacity,
    )
    if same:
        return
    draft.emit(
        r.OccurrenceChanged(
            series_id=draft.series.series_id,
            occurrence_id=occ.occurrence_id,
            start=version.start,
            end=version.end,
            tasks=list(version.tasks),
            capacity=version.capacity,
            kind=draft.series.kind,
            date=occ.day,
            meal_id=meal_id(draft.series, occ),
        )
    )
    _reshape_sign_ups(draft, occ, version, reason)
    _reshape_claims(draft, occurrence_now(draft.series, occ.occurrence_id), version, reason)


def _reshape_sign_ups(draft: Draft, occ: Occurrence, version: Version, reason: str) -> None:
    kept_tasks = {t.task: t.capacity for t in version.tasks}
    seen: dict[str, int] = {}
    for n, who in enumerate(occ.people):
        task = occ.task_of.get(who)
        outcome: Literal["kept", "released", "task_released"]
        if version.capacity is not None and n >= version.capacity:
            outcome, why = "released", f"{reason}: only {version.capacity} places now"
        elif task and (task not in kept_tasks or seen.get(task, 0) >= kept_tasks[task]):
            outcome, why = "task_released", f"{reason}: no place on {task} now"
        elif (occ.start, occ.end) != (version.start, version.end):
            outcome, why = "kept", f"{reason}: now {version.start}-{version.end}"
        else:
            if task:
                seen[task] = seen.get(task, 0) + 1
            continue
        if outcome == "kept" and task:
            seen[task] = seen.get(task, 0) + 1
        draft.emit(
            r.SignUpAffected(
                series_id=draft.series.series_id,
                occurrence_id=occ.occurrence_id,
                crew_id=who,
                outcome=outcome,
                reason=why,
                task=task,
            )
        )


def _reshape_claims(draft: Draft, now: Occurrence, version: Version, reason: str) -> None:
    """Claims keep their order: the earliest stay while there is room, the rest are released."""
    kept_tasks = {t.task: t.capacity for t in version.tasks}
    places = None if version.capacity is None else version.capacity - len(now.people)
    held = {task: now.holders(task) for task in kept_tasks}
    for who, task in now.claims.items():
        if task is None and places is None:
            continue
        if task is None:
            room, why = places is not None and places > 0, f"only {version.capacity} places now"
            places = (places or 0) - 1
        elif task in kept_tasks:
            room, why = held[task] < kept_tasks[task], f"no place on {task} now"
            held[task] += 1
        else:
            room, why = policy_of(draft.series).claims_roles, f"no task {task} now"
        if not room:
            release_claim(draft, now, who, f"{reason}: {why}")
