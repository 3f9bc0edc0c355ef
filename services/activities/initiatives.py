"""Pure rules of initiatives (started from a personal impulse; leadership passes on, it is not
held) and of the house's book of contributions of any kind."""

from __future__ import annotations

from schemas import activities as a
from services.activities.refusals import (
    DECIDE,
    ContributionAlreadyRecorded,
    InitiativeAlreadyStarted,
    InitiativeNotStarted,
    LeadHandsOnFirst,
    NotAMember,
    UnknownContributionKind,
)
from services.activities.state import Aggregate, Initiative


def _started(state: Aggregate) -> Initiative:
    if not state.initiative.started:
        raise InitiativeNotStarted(f"initiative {state.aggregate_id} has not been started")
    return state.initiative


@DECIDE.on(a.StartInitiative)
def _start(state: Aggregate, command: a.StartInitiative) -> list[a.ActivityEvent]:
    started = a.InitiativeStarted(
        initiative_id=state.aggregate_id,
        title=command.title,
        started_by=command.started_by,
        description=command.description,
    )
    if not state.initiative.started:
        return [started]
    raise InitiativeAlreadyStarted(f"initiative {state.aggregate_id} was started already")


@DECIDE.on(a.JoinInitiative)
def _join(state: Aggregate, command: a.JoinInitiative) -> list[a.ActivityEvent]:
    if command.crew_id in _started(state).members:
        return []
    return [a.JoinedInitiative(initiative_id=state.aggregate_id, crew_id=command.crew_id)]


@DECIDE.on(a.LeaveInitiative)
def _leave(state: Aggregate, command: a.LeaveInitiative) -> list[a.ActivityEvent]:
    initiative, who = _started(state), command.crew_id
    if who not in initiative.members:
        raise NotAMember(f"{who} is not in initiative {state.aggregate_id}")
    if initiative.lead == who:
        raise LeadHandsOnFirst("the lead hands the initiative on before leaving it")
    return [a.LeftInitiative(initiative_id=state.aggregate_id, crew_id=who)]


@DECIDE.on(a.HandOnInitiative)
def _hand_on(state: Aggregate, command: a.HandOnInitiative) -> list[a.ActivityEvent]:
    initiative = _started(state)
    if initiative.lead == command.to_crew_id or initiative.lead is None:
        return []
    return [
        a.InitiativeHandedOn(
            initiative_id=state.aggregate_id,
            from_crew_id=initiative.lead,
            to_crew_id=command.to_crew_id,
        )
    ]


@DECIDE.on(a.DefineContributionKind)
def _define(state: Aggregate, command: a.DefineContributionKind) -> list[a.ActivityEvent]:
    labels = (command.label_da, command.label_en)
    if state.book.kinds.get(command.kind) == labels:
        return []
    return [a.ContributionKindDefined(kind=command.kind, label_da=labels[0], label_en=labels[1])]


@DECIDE.on(a.RecordContribution)
def _record(state: Aggregate, command: a.RecordContribution) -> list[a.ActivityEvent]:
    if command.kind not in state.book.kinds:
        raise UnknownContributionKind(f"the house has no contribution kind {command.kind}")
    fields = {f: getattr(command, f) for f in command.__struct_fields__}
    recorded = a.ContributionRecorded(**fields)
    earlier = state.book.recorded.get(command.contribution_id)
    if earlier is None:
        return [recorded]
    if earlier.crew_id == recorded.crew_id and earlier.kind == recorded.kind:
        return []  # a retry: the note is sealed in the log, so it is not compared
    raise ContributionAlreadyRecorded(f"contribution {command.contribution_id} is recorded")
