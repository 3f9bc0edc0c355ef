"""The rows of `participation` that the activities context makes: a place or a task at an
activity (context `activities`), membership of an initiative (`initiative`), and a recorded
contribution of any kind (`contribution`, its house-defined kind as the role). Each counts as
one contribution, as a meal or a cleaning party does; `minutes` says how long, where known."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from msgspec.structs import replace

from projections.view import Fact
from schemas import activities as a
from schemas.common import HOUSE_TIMEZONE

if TYPE_CHECKING:
    from projections.participation import ParticipationRow

CONTEXTS = ("activities", "initiative", "contribution")


def keys_of(event: object) -> list[str]:
    match event:
        case (
            a.SignedUpForActivity()
            | a.WaitlistedForActivity()
            | a.WithdrewFromActivity()
            | a.ActivitySignUpAffected()
            | a.TookActivityTask()
            | a.DroppedActivityTask()
        ):
            return [f"activities:{event.activity_id}:{event.crew_id}"]
        case a.PromotedOnActivity(crew_id=who) if who:
            return [f"activities:{event.activity_id}:{who}"]
        case a.InitiativeStarted(started_by=who):
            return [f"initiative:{event.initiative_id}:{who}"]
        case a.JoinedInitiative(crew_id=who) | a.LeftInitiative(crew_id=who):
            return [f"initiative:{event.initiative_id}:{who}"]
        case a.InitiativeHandedOn(from_crew_id=giver, to_crew_id=taker):
            return [f"initiative:{event.initiative_id}:{p}" for p in (giver, taker)]
        case a.ContributionRecorded(contribution_id=cid, crew_id=who):
            return [f"contribution:{cid}:{who}"]
    return []


def _on(day: datetime.date) -> datetime.datetime:
    """A contribution recorded for a day counts at noon, house time, that day."""
    return datetime.datetime.combine(day, datetime.time(12), ZoneInfo(HOUSE_TIMEZONE))


def fold(row: ParticipationRow, fact: Fact, crew_id: str, status: Any) -> ParticipationRow:
    """`status(row, step, fact, **changes)` moves the row on and keeps its history."""
    event = fact.event
    match event:
        case a.SignedUpForActivity() | a.PromotedOnActivity():
            row = status(row, "signed_up", fact, role=row.role or "place")
        case a.WaitlistedForActivity():
            row = status(row, "waitlisted", fact, role="place")
        case a.WithdrewFromActivity():
            on_task = row.role not in (None, "place")
            row = status(row, "on_task" if on_task else "withdrawn", fact)
        case a.TookActivityTask(task=task):
            row = status(
                row, "signed_up" if row.status == "signed_up" else "on_task", fact, role=task
            )
        case a.DroppedActivityTask():
            kept = row.status == "signed_up" and any(
                step["status"] == "signed_up" and step["role"] == "place" for step in row.history
            )
            row = status(row, "signed_up" if kept else "dropped_task", fact, role="place")
        case a.ActivitySignUpAffected(outcome="cancelled"):
            row = status(row, "cancelled", fact)
        case a.ActivitySignUpAffected(outcome=outcome):
            row = replace(row, history=[*row.history, _step(outcome, row.role, fact)])
        case a.InitiativeStarted():
            row = status(row, "member", fact, role="lead", happened_at=fact.recorded_at)
        case a.InitiativeHandedOn(to_crew_id=taker) if taker == crew_id:
            since = row.happened_at or fact.recorded_at
            row = status(row, "member", fact, role="lead", happened_at=since)
        case a.InitiativeHandedOn():
            row = status(row, "member", fact, role="member")
        case a.JoinedInitiative():
            since = row.happened_at or fact.recorded_at
            row = status(row, "member", fact, role="member", happened_at=since)
        case a.LeftInitiative():
            row = status(row, "former_member", fact)
        case a.ContributionRecorded(kind=kind, on=day, minutes=minutes):
            at = _on(day) if day is not None else fact.recorded_at
            row = status(row, "recorded", fact, role=kind, happened_at=at, minutes=minutes)
    return row


def _step(outcome: str, role: str | None, fact: Fact) -> dict[str, Any]:
    return {"status": outcome, "role": role, "at": fact.occurred_at, "seq": fact.seq}
