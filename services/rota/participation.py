"""Taking part in one occurrence: joining the party or signing up for the shift, stepping
back, tasks, checking in, handing a place over. What differs per kind is the series' policy
(services/rota/policies.py); a kind's own commands are refused `wrong_kind` by the others."""

from __future__ import annotations

from schemas import rota as r
from services.rota.claims import confirm_claim, release_claim, release_expired, settle_claim
from services.rota.draft import Draft, late, occurrence, refuse_if_over, take_place, today
from services.rota.policies import check_room, has_room, policy_of
from services.rota.refusals import (
    AlreadyOnTask,
    AlreadySignedUp,
    NoHandOverOffered,
    NoTask,
    NotSignedUp,
    NotToday,
    UnknownTask,
)


def join_cleaning_party(draft: Draft, command: r.JoinCleaningParty) -> None:
    series, who = draft.series, command.crew_id
    occ = occurrence(series, command.occurrence_id, command)
    if who in occ.people:
        return
    refuse_if_over(series, occ, command.at)
    occ = release_expired(draft, occ, today(series, command.at))
    claimed = occ.claims.get(who)
    if claimed is None or has_room(series, occ, claimed, who):
        take_place(draft, occ, who, confirm_claim(draft, occ, who))
    else:  # the party has room for everyone; the claimed task no longer does
        release_claim(draft, occ, who, f"the {claimed} team is full", by_holder=True)
        take_place(draft, occ, who, None)


def sign_up_for_shift(draft: Draft, command: r.SignUpForShift) -> None:
    series, who = draft.series, command.crew_id
    occ = occurrence(series, command.occurrence_id, command)
    if who in occ.people:
        return
    refuse_if_over(series, occ, command.at)
    occ = release_expired(draft, occ, today(series, command.at))
    check_room(series, occ, None, who)
    confirm_claim(draft, occ, who)
    take_place(draft, occ, who, None)


def step_back(draft: Draft, command: r.LeaveCleaningParty | r.WithdrawFromShift) -> None:
    """Leave the party or withdraw from the shift; late when within the cutoff, never blamed."""
    series, who, occ_id = draft.series, command.crew_id, command.occurrence_id
    occ = occurrence(series, occ_id, command)
    if who not in occ.people:
        raise NotSignedUp(f"{who} is not signed up for {occ_id}")
    stepped_back = policy_of(series).steps_back
    assert stepped_back is not None, "a kind that takes stepping back names its event"
    draft.emit(
        stepped_back(
            series_id=series.series_id,
            occurrence_id=occ_id,
            crew_id=who,
            late=late(series, occ, command.at),
            reason=command.reason,
        )
    )


def take_task(draft: Draft, command: r.TakeTask) -> None:
    series, who, occ_id, task = draft.series, command.crew_id, command.occurrence_id, command.task
    occ = occurrence(series, occ_id, command)
    if occ.task_capacity(task) is None:
        names = ", ".join(t.task for t in occ.tasks) or "none"
        raise UnknownTask(f"{occ_id} has no task {task!r} (tasks: {names})")
    current = occ.task_of.get(who)
    if current == task:
        return
    if current is not None:
        raise AlreadyOnTask(f"{who} already does {current}; drop it first")
    refuse_if_over(series, occ, command.at)
    occ = release_expired(draft, occ, today(series, command.at))
    check_room(series, occ, task, who)
    settle_claim(draft, occ, who, task, f"took {task} instead")
    take_place(draft, occ, who, task)


def drop_task(draft: Draft, command: r.DropTask) -> None:
    series, who, occ_id = draft.series, command.crew_id, command.occurrence_id
    occ = occurrence(series, occ_id, command)
    if who not in occ.task_of:
        raise NoTask(f"{who} has no task at {occ_id}")
    draft.emit(
        r.DroppedTask(
            series_id=series.series_id, occurrence_id=occ_id, crew_id=who, task=occ.task_of[who]
        )
    )


def check_in(draft: Draft, command: r.CheckIn) -> None:
    series, who, occ_id = draft.series, command.crew_id, command.occurrence_id
    occ = occurrence(series, occ_id, command)
    if today(series, command.at) != occ.day:
        raise NotToday(f"{occ_id} is on {occ.day}; check in on the day")
    if who in occ.checked_in:
        return
    if who not in occ.people:
        if not policy_of(series).welcomes_walk_ins:
            raise NotSignedUp(f"{who} is not signed up for {occ_id}")
        take_place(draft, occ, who, None)  # a walk-in is welcome at the party
    assert command.at is not None
    draft.emit(
        r.CheckedIn(series_id=series.series_id, occurrence_id=occ_id, crew_id=who, at=command.at)
    )


def offer_hand_over(draft: Draft, command: r.OfferHandOver) -> None:
    series, who, occ_id = draft.series, command.crew_id, command.occurrence_id
    occ = occurrence(series, occ_id, command)
    if who not in occ.people:
        raise NotSignedUp(f"{who} is not signed up for {occ_id}")
    if who in occ.offers:
        return
    refuse_if_over(series, occ, command.at)
    draft.emit(r.HandOverOffered(series_id=series.series_id, occurrence_id=occ_id, crew_id=who))


def take_hand_over(draft: Draft, command: r.TakeHandOver) -> None:
    series, who, occ_id = draft.series, command.crew_id, command.occurrence_id
    giver = command.from_crew_id
    occ = occurrence(series, occ_id, command)
    if giver not in occ.offers:
        raise NoHandOverOffered(f"{giver} has no place on offer at {occ_id} (taken already?)")
    if who == giver:
        raise AlreadySignedUp(f"{who} offered this place; someone else takes it over")
    if who in occ.people:
        raise AlreadySignedUp(f"{who} is already signed up for {occ_id}")
    refuse_if_over(series, occ, command.at)
    if who in occ.claims:  # their own tentative claim gives way to the place they take
        release_claim(draft, occ, who, f"took over the place of {giver}", by_holder=True)
    draft.emit(
        r.HandOverTaken(
            series_id=series.series_id,
            occurrence_id=occ_id,
            crew_id=who,
            from_crew_id=giver,
            task=occ.task_of.get(giver),
        )
    )
