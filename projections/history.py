"""As-of history: who was on which meal or occurrence, with `valid_from` and `valid_to`.

Every change of who is in is appended as a fact; the intervals are a window over them. The
`*_as_of` views read the session value `as_of`, which `crew sql --as-of <timestamp>` sets
(and nothing else: the query itself is not rewritten). Without it they answer for now."""

from __future__ import annotations

from projections.view import AppendView, Fact
from schemas import meals as m
from schemas import rota as r

DDL = """
create table if not exists membership_changes (
    seq           bigint,
    part          integer,      -- an event may change two people (a hand-over)
    "at"          timestamptz,  -- when it was decided
    context       varchar,      -- meals or rota
    occurrence_id varchar,      -- meal id or rota occurrence id
    crew_id       varchar,      -- null: everyone on it (a meal cancelled)
    role          varchar,      -- head_cook / helper, or the kind of rota sign-up
    change        varchar,      -- in or out
    primary key (seq, part)
);
create or replace view membership_history as
with personal_changes as (
    select *, lead("at") over (partition by context, occurrence_id, crew_id order by seq, part)
                  as next_at
    from membership_changes
    where crew_id is not null
)
select p.context, p.occurrence_id, p.crew_id, p.role, p."at" as valid_from,
       least(p.next_at, (select min(e."at") from membership_changes e
                         where e.crew_id is null and e.change = 'out' and e.context = p.context
                           and e.occurrence_id = p.occurrence_id and e.seq > p.seq)) as valid_to
from personal_changes p
where p.change = 'in'
order by p.context, p.occurrence_id, valid_from;
create or replace macro as_of_time() as coalesce(try_cast(getvariable('as_of') as timestamptz), now());
create or replace view meal_plan_as_of as
select occurrence_id as meal_id,
       any_value(crew_id) filter (where role = 'head_cook') as head_cook,
       list(crew_id order by valid_from) filter (where role = 'helper') as helpers,
       as_of_time() as as_of
from membership_history
where context = 'meals' and valid_from <= as_of_time() and (valid_to is null or valid_to > as_of_time())
group by occurrence_id
order by meal_id;
create or replace view rota_as_of as
select occurrence_id, list(crew_id order by valid_from) as people, as_of_time() as as_of
from membership_history
where context = 'rota' and valid_from <= as_of_time() and (valid_to is null or valid_to > as_of_time())
group by occurrence_id
order by occurrence_id;
"""


def rows(fact: Fact) -> list[tuple[object, ...]]:
    e = fact.event
    at = fact.occurred_at
    changes: list[tuple[str, str, str | None, str | None, str]] = []
    match e:
        case m.VolunteeredToCook(role=role):
            changes.append(("meals", e.meal_id, e.crew_id, role, "in"))
        case m.PromotedFromWaitlist():
            changes.append(("meals", e.meal_id, e.crew_id, "helper", "in"))
        case m.Withdrew(role=role) if role != "waitlist":
            changes.append(("meals", e.meal_id, e.crew_id, role, "out"))
        case m.MealCancelled():  # everyone on the meal is out
            changes.append(("meals", e.meal_id, None, None, "out"))
        case r.JoinedCleaningParty():
            changes.append(("rota", e.occurrence_id, e.crew_id, "cleaning_party", "in"))
        case r.SignedUpForShift():
            changes.append(("rota", e.occurrence_id, e.crew_id, "shift", "in"))
        case r.LeftCleaningParty() | r.WithdrewFromShift():
            changes.append(("rota", e.occurrence_id, e.crew_id, None, "out"))
        case r.SignUpAffected(outcome="released" | "moved"):
            changes.append(("rota", e.occurrence_id, e.crew_id, None, "out"))
            if e.outcome == "moved" and e.moved_to:
                changes.append(("rota", e.moved_to, e.crew_id, "moved_here", "in"))
        case r.HandOverTaken():
            changes.append(("rota", e.occurrence_id, e.from_crew_id, None, "out"))
            changes.append(("rota", e.occurrence_id, e.crew_id, "covering", "in"))
    return [(fact.seq, n, at, *change) for n, change in enumerate(changes)]


MEMBERSHIP = AppendView(name="membership_history", ddl=DDL, table="membership_changes", rows=rows)
