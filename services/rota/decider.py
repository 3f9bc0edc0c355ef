"""Pure rules of the rota: decide(series, command) -> events, evolve(series, event) -> series.

One series (with all its occurrences) is one aggregate. Decisions that touch many occurrences
are built on a draft that evolves as it goes, so every rule sees the effect of the events
already decided in the same command.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any, Literal
from zoneinfo import ZoneInfo

import msgspec
from msgspec.structs import replace

from crew.decider import Decider, Refusal
from schemas import rota as r
from services.rota.recurrence import (
    HOUSE_TIMEZONE,
    Weekly,
    horizon,
    local_start,
    occurrence_id,
    series_of,
    versions_dates,
)


class SeriesNotScheduled(Refusal):
    code = "series_not_scheduled"


class SeriesAlreadyScheduled(Refusal):
    code = "series_already_scheduled"


class BadSchedule(Refusal):
    code = "bad_schedule"


class ChangeInThePast(Refusal):
    code = "change_in_the_past"


class LaterChangeExists(Refusal):
    code = "later_change_exists"


class OccurrenceNotFound(Refusal):
    code = "occurrence_not_found"


class OccurrenceCancelled(Refusal):
    code = "occurrence_cancelled"


class WrongKind(Refusal):
    code = "wrong_kind"


class UnknownTask(Refusal):
    code = "unknown_task"


class TaskFull(Refusal):
    code = "task_full"


class ShiftFull(Refusal):
    code = "shift_full"


class AlreadyOnTask(Refusal):
    code = "already_on_task"


class NoTask(Refusal):
    code = "no_task"


class NotSignedUp(Refusal):
    code = "not_signed_up"


class AlreadySignedUp(Refusal):
    code = "already_signed_up"


class NoHandOverOffered(Refusal):
    code = "no_hand_over_offered"


class NoClaim(Refusal):
    code = "no_claim"


class ClaimExpired(Refusal):
    code = "claim_expired"


class NoIntention(Refusal):
    code = "no_intention"


class NotToday(Refusal):
    code = "not_today"


class OccurrenceOver(Refusal):
    code = "occurrence_over"


class NoCookingPlace(Refusal):
    code = "no_cooking_place"


class Version(msgspec.Struct, frozen=True, kw_only=True):
    """How the series runs from a date on."""

    weekdays: tuple[int, ...]
    start: str
    end: str
    until: datetime.date | None
    tasks: tuple[r.TaskSpec, ...]
    capacity: int | None


class Occurrence(msgspec.Struct, frozen=True, kw_only=True):
    occurrence_id: str
    first_date: datetime.date  # the date it was scheduled for, part of its id
    day: datetime.date  # the date it happens (after a move)
    start: str
    end: str
    status: Literal["scheduled", "cancelled"] = "scheduled"
    # Cancelled by a series change (not by a person): a later change may bring it back.
    cancelled_by_change: bool = False
    restored: int = 0  # times a series change brought it back (meal days: the meal's new id)
    tasks: tuple[r.TaskSpec, ...] = ()
    capacity: int | None = None
    people: tuple[str, ...] = ()  # joined the party or signed up for the shift, in order
    task_of: Mapping[str, str] = {}
    checked_in: tuple[str, ...] = ()
    offers: tuple[str, ...] = ()
    claims: Mapping[str, str | None] = {}  # tentative: crew_id -> task
    # Meal days: claims confirmed here (crew_id -> head_cook or helper). The meals service
    # keeps who cooks; this only stops the rota from promising the same place twice.
    cooks: Mapping[str, str] = {}

    def holders(self, task: str) -> int:
        return sum(1 for t in self.task_of.values() if t == task)

    def claimed(self, task: str | None, but: str | None = None) -> int:
        return sum(1 for who, t in self.claims.items() if t == task and who != but)

    def task_capacity(self, task: str) -> int | None:
        return next((t.capacity for t in self.tasks if t.task == task), None)


class Series(msgspec.Struct, frozen=True, kw_only=True):
    series_id: str
    plan: r.SeriesScheduled | None = None
    versions: tuple[tuple[datetime.date, Version], ...] = ()
    materialised_until: datetime.date | None = None
    occurrences: Mapping[str, Occurrence] = {}
    intentions: Mapping[str, r.IntentionStated] = {}

    @property
    def kind(self) -> r.Kind:
        if self.plan is None:
            raise SeriesNotScheduled(f"series {self.series_id} is not scheduled")
        return self.plan.kind


# Every reason a series change gives starts so; older cancellations are read by it.
CHANGE_REASON = "the series changed from"


def initial(series_id: str) -> Series:
    return Series(series_id=series_id)


# evolve -------------------------------------------------------------------------------------


def _with(series: Series, occ: Occurrence) -> Series:
    return replace(series, occurrences={**series.occurrences, occ.occurrence_id: occ})


def _without_person(occ: Occurrence, who: str) -> Occurrence:
    return replace(
        occ,
        people=tuple(p for p in occ.people if p != who),
        task_of={p: t for p, t in occ.task_of.items() if p != who},
        offers=tuple(p for p in occ.offers if p != who),
    )


def _join(occ: Occurrence, who: str) -> Occurrence:
    return occ if who in occ.people else replace(occ, people=(*occ.people, who))


def _version_of_fields(fields: Mapping[str, Any]) -> Version:
    return Version(
        weekdays=tuple(fields["weekdays"]),
        start=fields["start"],
        end=fields["end"],
        until=fields["until"],
        tasks=tuple(fields["tasks"]),
        capacity=fields["capacity"],
    )


def _version_of(event: r.SeriesScheduled | r.SeriesChanged) -> Version:
    return _version_of_fields(msgspec.structs.asdict(event))


def _shaped_by(occ: Occurrence, event: r.OccurrenceChanged | r.OccurrenceRestored) -> Occurrence:
    """The occurrence with the times, tasks and capacity a series change gave it."""
    return replace(
        occ, start=event.start, end=event.end, tasks=tuple(event.tasks), capacity=event.capacity
    )


def evolve(series: Series, event: r.RotaEvent) -> Series:
    match event:
        case r.SeriesScheduled():
            return replace(series, plan=event, versions=((event.starts_on, _version_of(event)),))
        case r.SeriesChanged():
            kept = tuple((d, v) for d, v in series.versions if d < event.effective_from)
            return replace(series, versions=(*kept, (event.effective_from, _version_of(event))))
        case r.IntentionStated(crew_id=who):
            return replace(series, intentions={**series.intentions, who: event})
        case r.IntentionDropped(crew_id=who):
            return replace(
                series, intentions={k: v for k, v in series.intentions.items() if k != who}
            )
        case r.OccurrenceScheduled():
            scheduled = Occurrence(
                occurrence_id=event.occurrence_id,
                first_date=event.date,
                day=event.date,
                start=event.start,
                end=event.end,
                tasks=tuple(event.tasks),
                capacity=event.capacity,
            )
            until = max(series.materialised_until or event.date, event.date)
            return replace(_with(series, scheduled), materialised_until=until)
    found = series.occurrences.get(getattr(event, "occurrence_id", ""))
    if found is None:
        return series
    occ = found
    match event:
        case r.OccurrenceChanged():
            occ = _shaped_by(occ, event)
        case r.OccurrenceMoved():
            occ = replace(occ, day=event.date, start=event.start, end=event.end)
        case r.OccurrenceCancelled(by_series_change=by_change):
            if by_change is msgspec.UNSET:  # older events: a series change said so in its reason
                by_change = event.reason.startswith(CHANGE_REASON)
            occ = replace(occ, status="cancelled", cancelled_by_change=by_change)
        case r.OccurrenceRestored():
            occ = replace(
                _shaped_by(occ, event),
                status="scheduled",
                cancelled_by_change=False,
                restored=occ.restored + 1,
                cooks={},  # a meal day back is a new meal: nobody cooks at it yet
            )
        case r.SignUpAffected(crew_id=who, outcome="task_released"):
            occ = replace(occ, task_of={p: t for p, t in occ.task_of.items() if p != who})
        case r.SignUpAffected(crew_id=who, outcome="released"):
            occ = _without_person(occ, who)
        case r.SignUpAffected(crew_id=who, outcome="moved", moved_to=target, task=task) if target:
            series = _with(series, _without_person(occ, who))
            destination = series.occurrences.get(target)
            if destination is None:
                return series
            if task is msgspec.UNSET:  # written before `task`: carried where its team had room
                task = occ.task_of.get(who)
                room = task is not None and destination.holders(task) < (
                    destination.task_capacity(task) or 0
                )
                task = task if room else None
            destination = _join(destination, who)
            if task:  # the decider carried it along only where there was room
                destination = replace(destination, task_of={**destination.task_of, who: task})
            return _with(series, destination)
        case r.JoinedCleaningParty(crew_id=who) | r.SignedUpForShift(crew_id=who):
            occ = _join(occ, who)
        case r.LeftCleaningParty(crew_id=who) | r.WithdrewFromShift(crew_id=who):
            occ = _without_person(occ, who)
        case r.TookTask(crew_id=who, task=task):
            occ = replace(_join(occ, who), task_of={**occ.task_of, who: task})
        case r.DroppedTask(crew_id=who):
            occ = replace(occ, task_of={p: t for p, t in occ.task_of.items() if p != who})
        case r.CheckedIn(crew_id=who):
            occ = occ if who in occ.checked_in else replace(occ, checked_in=(*occ.checked_in, who))
        case r.HandOverOffered(crew_id=who):
            occ = replace(occ, offers=(*occ.offers, who))
        case r.HandOverTaken(crew_id=taker, from_crew_id=giver, task=task):
            people = tuple(taker if p == giver else p for p in occ.people)
            task_of = {p: t for p, t in occ.task_of.items() if p != giver}
            if task:
                task_of[taker] = task
            offers = tuple(p for p in occ.offers if p != giver)
            claims = {k: v for k, v in occ.claims.items() if k != taker}
            occ = replace(occ, people=people, task_of=task_of, offers=offers, claims=claims)
        case r.TentativeClaimMade(crew_id=who, task=task):
            occ = replace(occ, claims={**occ.claims, who: task})
        case r.ClaimConfirmed(crew_id=who, kind="meal", task=task):
            claims = {k: v for k, v in occ.claims.items() if k != who}
            occ = replace(occ, claims=claims, cooks={**occ.cooks, who: task or "helper"})
        case r.ClaimConfirmed(crew_id=who) | r.ClaimReleased(crew_id=who):
            occ = replace(
                occ,
                claims={k: v for k, v in occ.claims.items() if k != who},
                cooks={k: v for k, v in occ.cooks.items() if k != who},
            )
    return _with(series, occ)


# decide -------------------------------------------------------------------------------------


class Draft:
    """Events decided so far, and the series as they leave it."""

    def __init__(self, series: Series) -> None:
        self.series = series
        self.events: list[r.RotaEvent] = []

    def emit(self, *events: r.RotaEvent) -> None:
        for event in events:
            self.events.append(event)
            self.series = evolve(self.series, event)


def _plan(series: Series) -> r.SeriesScheduled:
    if series.plan is None:
        raise SeriesNotScheduled(f"series {series.series_id} is not scheduled")
    return series.plan


def _today(series: Series, at: datetime.datetime | None) -> datetime.date:
    if at is None:
        raise ValueError("the command has no time (`at`); the shell fills it in")
    zone = ZoneInfo(series.plan.timezone if series.plan else HOUSE_TIMEZONE)
    return at.astimezone(zone).date()


def _occurrence(series: Series, occurrence: str, kinds: Iterable[str] | None = None) -> Occurrence:
    plan = _plan(series)
    occ = series.occurrences.get(occurrence)
    if occ is None:
        raise OccurrenceNotFound(f"{occurrence} is not an occurrence of series {series.series_id}")
    if occ.status == "cancelled":
        raise OccurrenceCancelled(f"{occurrence} was cancelled")
    if kinds is not None and plan.kind not in kinds:
        raise WrongKind(f"{occurrence} is a {plan.kind.replace('_', ' ')}")
    return occ


def _late(series: Series, occ: Occurrence, at: datetime.datetime | None) -> bool:
    plan = _plan(series)
    if at is None:
        return False
    starts = local_start(occ.day, occ.start, plan.timezone)
    return at > starts - datetime.timedelta(hours=plan.withdrawal_cutoff_hours)


def _refuse_if_over(series: Series, occ: Occurrence, at: datetime.datetime | None) -> None:
    """Joining, handing over or moving is for occurrences still to come (or today)."""
    if _today(series, at) > occ.day:
        raise OccurrenceOver(f"{occ.occurrence_id} was on {occ.day}; it is over")


def _has_room(series: Series, occ: Occurrence, task: str | None, who: str) -> bool:
    """Is there a place for `who` (their own claim does not count against them)?"""
    plan = _plan(series)
    if plan.kind == "meal":
        role = task or "helper"
        limit = 1 if role == "head_cook" else plan.helper_slots
        cooking = sum(1 for p, t in occ.cooks.items() if t == role and p != who)
        return cooking + occ.claimed(role, but=who) < limit
    if plan.kind == "shift":
        taken = len([p for p in occ.people if p != who]) + occ.claimed(None, but=who)
        return occ.capacity is None or taken < occ.capacity
    if task is None:
        return True
    capacity = occ.task_capacity(task)
    if capacity is None:
        return False
    holders = sum(1 for p, t in occ.task_of.items() if t == task and p != who)
    return holders + occ.claimed(task, but=who) < capacity


def _check_room(series: Series, occ: Occurrence, task: str | None, who: str) -> None:
    if _has_room(series, occ, task, who):
        return
    kind = _plan(series).kind
    if kind == "shift":
        raise ShiftFull(f"{occ.occurrence_id} is full ({occ.capacity} people)")
    if kind == "meal":
        raise NoCookingPlace(f"the {task or 'helper'} places at {occ.occurrence_id} are taken")
    raise TaskFull(f"the {task} team is full ({occ.task_capacity(task or '')} people)")


def _check_schedule(
    start: str, end: str, tasks: Iterable[r.TaskSpec], kind: str, capacity: int | None = None
) -> None:
    if end <= start:
        raise BadSchedule(f"the end ({end}) must be after the start ({start})")
    names = [t.task for t in tasks]
    if len(names) != len(set(names)):
        raise BadSchedule("each task may be listed once")
    if names and kind != "cleaning_party":
        raise BadSchedule("only a cleaning party has tasks")
    if capacity is not None and kind != "shift":
        raise BadSchedule(
            "only a duty shift has a capacity (a cleaning party has unlimited places, its "
            "tasks have their own; meal days have helper_slots and seats)"
        )


def _claims_for(draft: Draft, occ_id: str, today: datetime.date, only: str | None = None) -> None:
    """Tentative claims on a new (or restored) occurrence for every standing intention that
    fits it; `only` one person's, when they state theirs (a claim someone else gave up on an
    existing occurrence is not made again because another person stated an intention)."""
    series = draft.series
    for who, intention in series.intentions.items():
        if only is not None and who != only:
            continue
        occ = draft.series.occurrences[occ_id]
        wanted = intention.weekdays is None or occ.day.weekday() in intention.weekdays
        far_enough = not _past_deadline(series, occ, today)
        free = who not in occ.people and who not in occ.claims and who not in occ.cooks
        room = free and _has_room(draft.series, occ, intention.task, who)
        if wanted and far_enough and room and occ.status == "scheduled":
            draft.emit(
                r.TentativeClaimMade(
                    series_id=series.series_id,
                    occurrence_id=occ_id,
                    crew_id=who,
                    task=intention.task,
                )
            )


def _schedule(draft: Draft, day: datetime.date, version: Version) -> str:
    plan = _plan(draft.series)
    occ_id = occurrence_id(draft.series.series_id, day)
    draft.emit(
        r.OccurrenceScheduled(
            series_id=draft.series.series_id,
            occurrence_id=occ_id,
            kind=plan.kind,
            title=plan.title,
            date=day,
            start=version.start,
            end=version.end,
            tasks=list(version.tasks),
            capacity=version.capacity,
            helper_slots=plan.helper_slots,
            seats=plan.seats,
        )
    )
    return occ_id


def _materialise(draft: Draft, today: datetime.date) -> None:
    plan = _plan(draft.series)
    # As far as the horizon, or as far as occurrences already go (a change adds the days
    # of its new weekdays there too).
    last = max(horizon(today, plan.weeks_ahead), draft.series.materialised_until or today)
    for day, _ in versions_dates(_weekly_versions(draft.series), today, last):
        new = occurrence_id(draft.series.series_id, day) not in draft.series.occurrences
        if new and _moved_onto(draft.series, day) is None:
            occ_id = _schedule(draft, day, _version_on(draft.series, day))
            _claims_for(draft, occ_id, today)


def _moved_onto(series: Series, day: datetime.date) -> str | None:
    """The occurrence moved by hand onto `day`, if any: the party of that day already."""
    return next(
        (
            o.occurrence_id
            for o in series.occurrences.values()
            if o.day == day and o.first_date != day and o.status == "scheduled"
        ),
        None,
    )


def _weekly_versions(series: Series) -> list[tuple[datetime.date, Weekly]]:
    plan = _plan(series)
    return [
        (
            d,
            Weekly(
                weekdays=v.weekdays,
                start=v.start,
                end=v.end,
                starts_on=plan.starts_on,
                until=v.until,
            ),
        )
        for d, v in series.versions
    ]


def _version_on(series: Series, day: datetime.date) -> Version:
    current = series.versions[0][1]
    for effective_from, version in series.versions:
        if effective_from <= day:
            current = version
    return current


def _past_deadline(series: Series, occ: Occurrence, today: datetime.date) -> bool:
    """A tentative claim on `occ` must be confirmed more than `claim_confirm_days` before it."""
    return (occ.day - today).days <= _plan(series).claim_confirm_days


def _release_expired(draft: Draft, occ: Occurrence, today: datetime.date) -> Occurrence:
    """Release the claims on `occ` past their deadline; returns `occ` as that leaves it. The
    calendar does this hourly; a command asking for a place does it first, so an expired claim
    never holds a place against a newcomer between two ticks."""
    if occ.status == "scheduled" and _past_deadline(draft.series, occ, today):
        days = _plan(draft.series).claim_confirm_days
        for who in list(occ.claims):
            _release_claim(draft, occ, who, f"not confirmed {days} days before")
    return draft.series.occurrences[occ.occurrence_id]


def _release_unconfirmed(draft: Draft, today: datetime.date) -> None:
    for occ in list(draft.series.occurrences.values()):
        _release_expired(draft, occ, today)


def _release_everyone(draft: Draft, occ: Occurrence, reason: str) -> None:
    sid = draft.series.series_id
    for who in occ.people:
        draft.emit(
            r.SignUpAffected(
                series_id=sid,
                occurrence_id=occ.occurrence_id,
                crew_id=who,
                outcome="released",
                reason=reason,
            )
        )
    for who in (*occ.claims, *occ.cooks):  # tentative claims, and meal days' confirmed ones
        _release_claim(draft, occ, who, reason)


def _reconcile(draft: Draft, change: r.SeriesChanged, today: datetime.date) -> None:
    """Bring every occurrence from the change on in line with the new version, saying what
    happened to each sign-up. Occurrences moved by hand are exceptions and stay as they are;
    occurrences an earlier change cancelled come back where their day is in the series again
    (those cancelled by hand stay cancelled)."""
    sid = draft.series.series_id
    plan = _plan(draft.series)
    version = draft.series.versions[-1][1]
    last = max(horizon(today, plan.weeks_ahead), draft.series.materialised_until or today)
    new_days = {
        day
        for day, _ in versions_dates(_weekly_versions(draft.series), change.effective_from, last)
    }
    reason = f"{CHANGE_REASON} {change.effective_from}"
    fresh: list[str] = []  # scheduled or restored here: claims are made once the moves are done
    for day in sorted(d for d in new_days if d >= today):
        found = draft.series.occurrences.get(occurrence_id(sid, day))
        if found and found.cancelled_by_change and _moved_onto(draft.series, day) is None:
            _restore(draft, found, version, reason)
            fresh.append(found.occurrence_id)
    affected = [
        o
        for o in sorted(draft.series.occurrences.values(), key=lambda o: o.first_date)
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
        if occ.first_date in new_days:
            continue
        week = occ.first_date.isocalendar()[:2]
        target_day = next(
            (d for d in sorted(new_days) if d.isocalendar()[:2] == week and d >= today),
            None,
        )
        target = None
        if target_day is not None:
            target = _moved_onto(draft.series, target_day) or occurrence_id(sid, target_day)
            if target not in draft.series.occurrences:
                fresh.append(_schedule(draft, target_day, version))
        draft.emit(
            r.OccurrenceCancelled(
                kind=draft.series.kind,
                series_id=sid,
                occurrence_id=occ.occurrence_id,
                reason=reason,
                by_series_change=True,
                meal_id=_meal_id(draft.series, occ),
            )
        )
        for who in occ.people:
            _move_sign_up(draft, occ, who, target, reason)
        for who in (*occ.claims, *occ.cooks):  # tentative claims, and meal days' confirmed ones
            _release_claim(draft, occ, who, reason)
    for occ_id in fresh:
        _claims_for(draft, occ_id, today)


def _restore(draft: Draft, occ: Occurrence, version: Version, reason: str) -> None:
    plan = _plan(draft.series)
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
            meal_id=_meal_id(draft.series, replace(occ, restored=occ.restored + 1)),
        )
    )


def _meal_id(series: Series, occ: Occurrence) -> str | msgspec.UnsetType:
    """The id of a meal day's meal in meals, where it is not the occurrence id: meals cannot
    plan a cancelled meal again, so each return of the day is a new meal."""
    if occ.restored == 0 or _plan(series).kind != "meal":
        return msgspec.UNSET
    return f"{occ.occurrence_id}-r{occ.restored}"


def _move_sign_up(draft: Draft, occ: Occurrence, who: str, target: str | None, reason: str) -> None:
    """Move `who` from the cancelled `occ` to `target`, with their task where it still has
    room; say so, and say what could not come along. A claim of theirs on `target` is settled
    first, so it never counts beside the place they take."""
    sid = draft.series.series_id
    task = occ.task_of.get(who)
    ids = {"series_id": sid, "occurrence_id": occ.occurrence_id, "crew_id": who}
    destination = draft.series.occurrences.get(target or "")
    why = None
    if destination is None:
        why = "no date that week"
    elif destination.status == "cancelled":
        why = f"{destination.day} is cancelled"
    elif who in destination.people:
        why = f"already in on {destination.day}"
    elif not _has_room(draft.series, destination, None, who):
        why = f"{destination.day} is full"
    if destination is None or why is not None:
        draft.emit(
            r.SignUpAffected(**ids, outcome="released", task=task, reason=f"{reason}: {why}")
        )
        return
    moved = f"{reason}: moved to {destination.day}"
    carried = task if task and _has_room(draft.series, destination, task, who) else None
    _settle_claim(draft, destination, who, carried, f"{moved} with another task")
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


def _release_claim(draft: Draft, occ: Occurrence, who: str, reason: str) -> None:
    draft.emit(
        r.ClaimReleased(
            series_id=draft.series.series_id,
            occurrence_id=occ.occurrence_id,
            crew_id=who,
            reason=reason,
        )
    )


def _reshape(draft: Draft, occ: Occurrence, version: Version, reason: str) -> None:
    """The occurrence takes the new version's times, tasks and capacity. Sign-ups beyond the
    new capacity (latest first) and tentative claims beyond what is left are released."""
    sid = draft.series.series_id
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
            series_id=sid,
            occurrence_id=occ.occurrence_id,
            start=version.start,
            end=version.end,
            tasks=list(version.tasks),
            capacity=version.capacity,
            kind=draft.series.kind,
            date=occ.day,
            meal_id=_meal_id(draft.series, occ),
        )
    )
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
                series_id=sid,
                occurrence_id=occ.occurrence_id,
                crew_id=who,
                outcome=outcome,
                reason=why,
                task=task,
            )
        )
    # Claims keep their order: the earliest stay while there is room, the rest are released.
    now = draft.series.occurrences[occ.occurrence_id]
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
            room, why = draft.series.kind == "meal", f"no task {task} now"
        if not room:
            _release_claim(draft, now, who, f"{reason}: {why}")


def decide(series: Series, command: r.RotaCommand) -> list[r.RotaEvent]:
    draft = Draft(series)
    sid = series.series_id
    match command:
        case r.ScheduleSeries():
            _check_schedule(
                command.start, command.end, command.tasks, command.kind, command.capacity
            )
            if command.until is not None and command.until < command.starts_on:
                raise BadSchedule("`until` is before `starts_on`")
            fields = msgspec.structs.asdict(command)
            for name in ("type", "at"):
                fields.pop(name, None)
            scheduled = r.SeriesScheduled(**fields)
            if series.plan is not None:
                if series.plan == scheduled:
                    return []
                raise SeriesAlreadyScheduled(
                    f"series {sid} is already scheduled; change it instead"
                )
            draft.emit(scheduled)
            _materialise(draft, _today(draft.series, command.at))

        case r.ChangeSeries():
            plan = _plan(series)
            today = _today(series, command.at)
            if command.effective_from < today:
                raise ChangeInThePast(f"a change takes effect from today ({today}) or later")
            current = _version_on(series, command.effective_from)
            resolved = {
                name: (value if value is not msgspec.UNSET else getattr(current, name))
                for name in ("weekdays", "start", "end", "until", "tasks", "capacity")
                for value in [getattr(command, name)]
            }
            _check_schedule(
                resolved["start"],
                resolved["end"],
                resolved["tasks"],
                plan.kind,
                resolved["capacity"],
            )
            later = [d for d, _ in series.versions[1:] if d > command.effective_from]
            if later:  # it would replace the later change unseen
                raise LaterChangeExists(
                    f"the series already changes from {max(later)}; a change from an earlier "
                    f"date would undo that one: change it from {max(later)} or later, or make "
                    "both changes again in date order"
                )
            if _version_of_fields(resolved) == current:  # a retry, or what already holds
                return []
            change = r.SeriesChanged(
                series_id=sid,
                effective_from=command.effective_from,
                weekdays=list(resolved["weekdays"]),
                start=resolved["start"],
                end=resolved["end"],
                until=resolved["until"],
                tasks=list(resolved["tasks"]),
                capacity=resolved["capacity"],
            )
            draft.emit(change)
            _reconcile(draft, change, today)
            _materialise(draft, today)

        case r.AdvanceCalendar():
            today = _today(_plan_checked(series), command.at)
            _materialise(draft, today)
            _release_unconfirmed(draft, today)

        case r.StateIntention(crew_id=who, task=task):
            plan = _plan(series)
            today = _today(series, command.at)
            _check_intended_task(plan, task)
            stated = r.IntentionStated(
                series_id=sid, crew_id=who, weekdays=command.weekdays, task=task
            )
            if series.intentions.get(who) == stated:
                return []
            if who in series.intentions:
                _drop_intention(draft, who, today, "intention changed")
            draft.emit(stated)
            for occ in sorted(draft.series.occurrences.values(), key=lambda o: o.day):
                if occ.day >= today:
                    _claims_for(draft, occ.occurrence_id, today, only=who)

        case r.DropIntention(crew_id=who):
            _plan(series)
            if who not in series.intentions:
                raise NoIntention(f"{who} has no standing intention for {sid}")
            _drop_intention(draft, who, _today(series, command.at), "intention dropped")

        case r.MoveOccurrence():
            occ = _occurrence(series, command.occurrence_id)
            start, end = command.start or occ.start, command.end or occ.end
            _check_schedule(start, end, (), "")
            _refuse_if_over(series, occ, command.at)
            if command.date < _today(series, command.at):
                raise BadSchedule("an occurrence cannot be moved into the past")
            if (occ.day, occ.start, occ.end) == (command.date, start, end):
                return []
            draft.emit(
                r.OccurrenceMoved(
                    kind=draft.series.kind,
                    series_id=sid,
                    occurrence_id=occ.occurrence_id,
                    date=command.date,
                    start=start,
                    end=end,
                    reason=command.reason,
                    meal_id=_meal_id(series, occ),
                )
            )

        case r.CancelOccurrence():
            existing = series.occurrences.get(command.occurrence_id)
            if existing is not None and existing.status == "cancelled":
                return []
            occ = _occurrence(series, command.occurrence_id)
            draft.emit(
                r.OccurrenceCancelled(
                    kind=draft.series.kind,
                    series_id=sid,
                    occurrence_id=occ.occurrence_id,
                    reason=command.reason,
                    by_series_change=False,
                    meal_id=_meal_id(series, occ),
                )
            )
            _release_everyone(
                draft, occ, f"cancelled: {command.reason}" if command.reason else "cancelled"
            )

        case _:
            _decide_participation(draft, command)
    return draft.events


# The code the rota's own follower of `meals.withdrew` sends (services/rota/follows_meals.py);
# every other code is a refusal from meals.
WITHDREW = "withdrew"


def _why_released(code: str) -> str:
    if not code:
        return "released by its holder"
    if code == WITHDREW:
        return "withdrew from cooking in meals"
    return f"the meals service said no ({code})"


def _plan_checked(series: Series) -> Series:
    _plan(series)
    return series


def _check_intended_task(plan: r.SeriesScheduled, task: str | None) -> None:
    if plan.kind == "meal":
        if task not in (None, "head_cook", "helper"):
            raise UnknownTask("for meal days the task is head_cook or helper")
    elif plan.kind == "shift":
        if task is not None:
            raise UnknownTask("a duty shift has no tasks")
    elif task is not None and task not in {t.task for t in plan.tasks}:
        raise UnknownTask(f"the cleaning party has no task {task!r}")


def _drop_intention(draft: Draft, who: str, today: datetime.date, reason: str) -> None:
    sid = draft.series.series_id
    draft.emit(r.IntentionDropped(series_id=sid, crew_id=who))
    for occ in list(draft.series.occurrences.values()):
        if who in occ.claims and occ.day >= today:
            _release_claim(draft, occ, who, reason)


def _confirm_claim(draft: Draft, occ: Occurrence, who: str) -> str | None:
    """Confirm `who`'s tentative claim on `occ`, if they hold one; returns the task claimed."""
    if who not in occ.claims:
        return None
    task = occ.claims[who]
    draft.emit(
        r.ClaimConfirmed(
            kind=draft.series.kind,
            series_id=draft.series.series_id,
            occurrence_id=occ.occurrence_id,
            crew_id=who,
            task=task,
            meal_id=_meal_id(draft.series, occ),
        )
    )
    return task


def _settle_claim(draft: Draft, occ: Occurrence, who: str, taking: str | None, why: str) -> None:
    """`who` takes a place doing `taking`: a claim of theirs for it is confirmed; a claim for
    something else is released, saying `why`, so no claim ever vanishes without an event."""
    if who not in occ.claims:
        return
    claimed = occ.claims[who]
    if claimed == taking or claimed is None:
        _confirm_claim(draft, occ, who)
    else:
        _release_claim(draft, occ, who, why)


def _take_place(draft: Draft, occ: Occurrence, who: str, task: str | None) -> None:
    """`who` is in: joined the cleaning party (doing `task`) or signed up for the shift."""
    ids = {"series_id": draft.series.series_id, "occurrence_id": occ.occurrence_id, "crew_id": who}
    if draft.series.kind == "shift":
        draft.emit(r.SignedUpForShift(**ids))
    elif draft.series.kind == "cleaning_party":
        if who not in occ.people:
            draft.emit(r.JoinedCleaningParty(**ids))
        if task:
            draft.emit(r.TookTask(**ids, task=task))


def _decide_participation(draft: Draft, command: Any) -> None:
    series = draft.series
    sid = series.series_id
    who = command.crew_id
    occ_id = command.occurrence_id
    match command:
        case r.JoinCleaningParty():
            occ = _occurrence(series, occ_id, ["cleaning_party"])
            if who in occ.people:
                return
            _refuse_if_over(series, occ, command.at)
            occ = _release_expired(draft, occ, _today(series, command.at))
            claimed = occ.claims.get(who)
            if claimed is None or _has_room(series, occ, claimed, who):
                _take_place(draft, occ, who, _confirm_claim(draft, occ, who))
            else:  # the party has room for everyone; the claimed task no longer does
                _release_claim(draft, occ, who, f"the {claimed} team is full")
                _take_place(draft, occ, who, None)

        case r.SignUpForShift():
            occ = _occurrence(series, occ_id, ["shift"])
            if who in occ.people:
                return
            _refuse_if_over(series, occ, command.at)
            occ = _release_expired(draft, occ, _today(series, command.at))
            _check_room(series, occ, None, who)
            _confirm_claim(draft, occ, who)
            _take_place(draft, occ, who, None)

        case r.LeaveCleaningParty() | r.WithdrawFromShift():
            kind = "shift" if isinstance(command, r.WithdrawFromShift) else "cleaning_party"
            occ = _occurrence(series, occ_id, [kind])
            if who not in occ.people:
                raise NotSignedUp(f"{who} is not signed up for {occ_id}")
            stepped_back = r.WithdrewFromShift if kind == "shift" else r.LeftCleaningParty
            late = _late(series, occ, command.at)
            draft.emit(
                stepped_back(
                    series_id=sid,
                    occurrence_id=occ_id,
                    crew_id=who,
                    late=late,
                    reason=command.reason,
                )
            )

        case r.TakeTask(task=task):
            occ = _occurrence(series, occ_id, ["cleaning_party"])
            if occ.task_capacity(task) is None:
                names = ", ".join(t.task for t in occ.tasks) or "none"
                raise UnknownTask(f"{occ_id} has no task {task!r} (tasks: {names})")
            current = occ.task_of.get(who)
            if current == task:
                return
            if current is not None:
                raise AlreadyOnTask(f"{who} already does {current}; drop it first")
            _refuse_if_over(series, occ, command.at)
            occ = _release_expired(draft, occ, _today(series, command.at))
            _check_room(series, occ, task, who)
            _settle_claim(draft, occ, who, task, f"took {task} instead")
            _take_place(draft, occ, who, task)

        case r.DropTask():
            occ = _occurrence(series, occ_id, ["cleaning_party"])
            if who not in occ.task_of:
                raise NoTask(f"{who} has no task at {occ_id}")
            draft.emit(
                r.DroppedTask(
                    series_id=sid, occurrence_id=occ_id, crew_id=who, task=occ.task_of[who]
                )
            )

        case r.ConfirmClaim():
            occ = _occurrence(series, occ_id)
            if who not in occ.claims:
                raise NoClaim(f"{who} has no tentative claim on {occ_id}")
            _refuse_if_over(series, occ, command.at)
            if _past_deadline(series, occ, _today(series, command.at)):
                days = _plan(series).claim_confirm_days
                raise ClaimExpired(
                    f"a claim on {occ_id} is confirmed more than {days} days before it; this "
                    "one has expired and gives way: take a place if one is still open"
                )
            _check_room(series, occ, occ.claims[who], who)
            _take_place(draft, occ, who, _confirm_claim(draft, occ, who))

        case r.ReleaseClaim(code=code):
            occ = _occurrence(series, occ_id)
            if who in occ.cooks and not code:  # meals has them cooking: they withdraw there
                raise NoClaim(f"{who} cooks at {occ_id}; to step back, withdraw from the meal")
            if who not in occ.claims and who not in occ.cooks:
                raise NoClaim(f"{who} has no claim on {occ_id}")
            _release_claim(draft, occ, who, _why_released(code))

        case r.CheckIn():
            occ = _occurrence(series, occ_id, ["cleaning_party", "shift"])
            if _today(series, command.at) != occ.day:
                raise NotToday(f"{occ_id} is on {occ.day}; check in on the day")
            if who in occ.checked_in:
                return
            if who not in occ.people:
                if series.kind == "shift":
                    raise NotSignedUp(f"{who} is not signed up for {occ_id}")
                _take_place(draft, occ, who, None)  # a walk-in is welcome at the party
            assert command.at is not None
            draft.emit(r.CheckedIn(series_id=sid, occurrence_id=occ_id, crew_id=who, at=command.at))

        case r.OfferHandOver():
            occ = _occurrence(series, occ_id, ["cleaning_party", "shift"])
            if who not in occ.people:
                raise NotSignedUp(f"{who} is not signed up for {occ_id}")
            if who in occ.offers:
                return
            _refuse_if_over(series, occ, command.at)
            draft.emit(r.HandOverOffered(series_id=sid, occurrence_id=occ_id, crew_id=who))

        case r.TakeHandOver(from_crew_id=giver):
            occ = _occurrence(series, occ_id, ["cleaning_party", "shift"])
            if giver not in occ.offers:
                raise NoHandOverOffered(
                    f"{giver} has no place on offer at {occ_id} (taken already?)"
                )
            if who == giver:
                raise AlreadySignedUp(f"{who} offered this place; someone else takes it over")
            if who in occ.people:
                raise AlreadySignedUp(f"{who} is already signed up for {occ_id}")
            _refuse_if_over(series, occ, command.at)
            if who in occ.claims:  # their own tentative claim gives way to the place they take
                _release_claim(draft, occ, who, f"took over the place of {giver}")
            draft.emit(
                r.HandOverTaken(
                    series_id=sid,
                    occurrence_id=occ_id,
                    crew_id=who,
                    from_crew_id=giver,
                    task=occ.task_of.get(giver),
                )
            )
        case _:
            raise TypeError(f"not a rota command: {type(command).__name__}")


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
