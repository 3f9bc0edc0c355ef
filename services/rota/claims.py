"""Standing intentions and the tentative claims they make: stating and dropping an intention,
confirming, settling, releasing and expiring claims."""

from __future__ import annotations

import datetime

from schemas import rota as r
from services.rota.draft import Draft, meal_id, occurrence, plan_of, refuse_if_over, take_place
from services.rota.draft import today as today_of
from services.rota.meals_bridge import by_holder, why_released
from services.rota.policies import check_room, has_room, policy_of
from services.rota.refusals import ClaimExpired, NoClaim, NoIntention
from services.rota.state import Occurrence, Series, occurrence_now, open_from


def past_deadline(series: Series, occ: Occurrence, today: datetime.date) -> bool:
    """A tentative claim on `occ` must be confirmed more than `claim_confirm_days` before it."""
    return (occ.day - today).days <= plan_of(series).claim_confirm_days


def release_claim(
    draft: Draft, occ: Occurrence, who: str, reason: str, by_holder: bool = False
) -> None:
    draft.emit(
        r.ClaimReleased(
            series_id=draft.series.series_id,
            occurrence_id=occ.occurrence_id,
            crew_id=who,
            reason=reason,
            by_holder=by_holder,
        )
    )


def confirm_claim(draft: Draft, occ: Occurrence, who: str) -> str | None:
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
            meal_id=meal_id(draft.series, occ),
        )
    )
    return task


def settle_claim(draft: Draft, occ: Occurrence, who: str, taking: str | None, why: str) -> None:
    """`who` takes a place doing `taking`: a claim of theirs for it is confirmed; a claim for
    something else is released, saying `why`, so no claim ever vanishes without an event."""
    if who not in occ.claims:
        return
    claimed = occ.claims[who]
    if claimed == taking or claimed is None:
        confirm_claim(draft, occ, who)
    else:
        release_claim(draft, occ, who, why, by_holder=True)


def release_expired(draft: Draft, occ: Occurrence, today: datetime.date) -> Occurrence:
    """Release the claims on `occ` past their deadline; returns `occ` as that leaves it. The
    calendar does this hourly; a command asking for a place does it first, so an expired claim
    never holds a place against a newcomer between two ticks."""
    if occ.status == "scheduled" and past_deadline(draft.series, occ, today):
        days = plan_of(draft.series).claim_confirm_days
        for who in list(occ.claims):
            release_claim(draft, occ, who, f"not confirmed {days} days before")
    return occurrence_now(draft.series, occ.occurrence_id)


def release_unconfirmed(draft: Draft, today: datetime.date) -> None:
    # Only open occurrences hold claims: one holding a claim is never moved to the past.
    for occ in list(draft.series.occurrences.values()):
        release_expired(draft, occ, today)


def claims_for(draft: Draft, occ_id: str, today: datetime.date, only: str | None = None) -> None:
    """Tentative claims on a new (or restored) occurrence for every standing intention that
    fits it; `only` one person's, when they state theirs (a claim someone else gave up on an
    existing occurrence is not made again because another person stated an intention)."""
    series = draft.series
    for who, intention in series.intentions.items():
        if only is not None and who != only:
            continue
        occ = occurrence_now(draft.series, occ_id)
        wanted = intention.weekdays is None or occ.day.weekday() in intention.weekdays
        far_enough = not past_deadline(series, occ, today)
        free = who not in occ.people and who not in occ.claims and who not in occ.cooks
        room = free and has_room(draft.series, occ, intention.task, who)
        if wanted and far_enough and room and occ.status == "scheduled":
            draft.emit(
                r.TentativeClaimMade(
                    series_id=series.series_id,
                    occurrence_id=occ_id,
                    crew_id=who,
                    task=intention.task,
                )
            )


def _drop(draft: Draft, who: str, today: datetime.date, reason: str) -> None:
    draft.emit(r.IntentionDropped(series_id=draft.series.series_id, crew_id=who))
    # Only open occurrences hold claims.
    for occ in list(draft.series.occurrences.values()):
        if who in occ.claims and occ.day >= today:
            release_claim(draft, occ, who, reason, by_holder=True)


# Commands -----------------------------------------------------------------------------------


def state_intention(draft: Draft, command: r.StateIntention) -> None:
    series, who = draft.series, command.crew_id
    plan = plan_of(series)
    today = today_of(series, command.at)
    policy_of(series).check_intention(plan, command.task)
    stated = r.IntentionStated(
        series_id=series.series_id, crew_id=who, weekdays=command.weekdays, task=command.task
    )
    if series.intentions.get(who) == stated:
        return
    if who in series.intentions:
        _drop(draft, who, today, "intention changed")
    draft.emit(stated)
    for occ in sorted(open_from(draft.series, today), key=lambda o: o.day):
        if occ.day >= today:
            claims_for(draft, occ.occurrence_id, today, only=who)


def drop_intention(draft: Draft, command: r.DropIntention) -> None:
    series, who = draft.series, command.crew_id
    plan_of(series)
    if who not in series.intentions:
        raise NoIntention(f"{who} has no standing intention for {series.series_id}")
    _drop(draft, who, today_of(series, command.at), "intention dropped")


def confirm(draft: Draft, command: r.ConfirmClaim) -> None:
    series, who, occ_id = draft.series, command.crew_id, command.occurrence_id
    occ = occurrence(series, occ_id)
    if who not in occ.claims:
        raise NoClaim(f"{who} has no tentative claim on {occ_id}")
    refuse_if_over(series, occ, command.at)
    if past_deadline(series, occ, today_of(series, command.at)):
        days = plan_of(series).claim_confirm_days
        raise ClaimExpired(
            f"a claim on {occ_id} is confirmed more than {days} days before it; this "
            "one has expired and gives way: take a place if one is still open"
        )
    check_room(series, occ, occ.claims[who], who)
    take_place(draft, occ, who, confirm_claim(draft, occ, who))


def release(draft: Draft, command: r.ReleaseClaim) -> None:
    series, who, occ_id = draft.series, command.crew_id, command.occurrence_id
    occ = occurrence(series, occ_id)
    if who in occ.cooks and not command.code:  # meals has them cooking: they withdraw there
        raise NoClaim(f"{who} cooks at {occ_id}; to step back, withdraw from the meal")
    if who not in occ.claims and who not in occ.cooks:
        raise NoClaim(f"{who} has no claim on {occ_id}")
    release_claim(draft, occ, who, why_released(command.code), by_holder(command.code))
