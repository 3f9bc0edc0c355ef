"""SQL views over the folded tables: "we are all crew" contributions and the onboarding funnel."""

from __future__ import annotations

from projections.view import SqlView

COUNTED = "('signed_up', 'joined', 'checked_in', 'covering')"

CREW_CONTRIBUTIONS_DDL = f"""
create or replace view crew_contributions as
with counted as (
    select crew_id,
           count(*) filter (where kind = 'meal_head_cook') as meals_cooked,
           count(*) filter (where kind = 'meal_helper') as meals_helped,
           count(*) filter (where kind = 'cleaning_party') as cleaning_parties,
           count(*) filter (where kind = 'shift') as shifts,
           count(*) filter (where covered_for is not null) as covered_for_others,
           min("at") as first_contribution_at,
           max("at") as last_contribution_at
    from participation
    where status in {COUNTED}
    group by crew_id
),
people as (
    select person_id as crew_id from crew_registry_rows where stage in ('crew', 'forgotten')
    union
    select crew_id from counted
)
select p.crew_id,
       display_name(p.crew_id) as display_name,
       coalesce(c.meals_cooked, 0) as meals_cooked,
       coalesce(c.meals_helped, 0) as meals_helped,
       coalesce(c.cleaning_parties, 0) as cleaning_parties,
       coalesce(c.shifts, 0) as shifts,
       coalesce(c.covered_for_others, 0) as covered_for_others,
       coalesce(c.meals_cooked + c.meals_helped + c.cleaning_parties + c.shifts, 0) as contributions,
       c.first_contribution_at,
       c.last_contribution_at,
       greatest(date_diff('day', c.last_contribution_at::date, current_date), 0) as days_since_last
from people p
left join counted c using (crew_id)
order by contributions desc, display_name;
"""

ONBOARDING_FUNNEL_DDL = f"""
create or replace view onboarding_funnel as
with contributions as (
    select crew_id, min("at") as first_at, list("at" order by "at") as ats
    from participation
    where status in {COUNTED}
    group by crew_id
)
select r.person_id as newcomer_id,
       display_name(r.person_id) as display_name,
       r.stage,
       r.arrivals,
       r.arrived_at,
       r.conversation_host,
       r.conversation_at,
       r.conversation_held_at,
       case r.stage when 'crew' then 'onboarded' when 'redirected' then 'redirected'
                    when 'forgotten' then 'forgotten' end as outcome,
       coalesce(r.onboarded_at, r.redirected_at) as outcome_at,
       r.redirected_to,
       r.buddy_crew_id,
       c.first_at as first_contribution_at,
       coalesce(len(list_filter(c.ats, lambda a: a < c.first_at + interval 60 day)) >= 3, false) as regular,
       round(date_diff('minute', r.arrived_at, r.conversation_held_at) / 1440.0, 1) as days_to_conversation,
       round(date_diff('minute', r.arrived_at, coalesce(r.onboarded_at, r.redirected_at)) / 1440.0, 1)
           as days_to_outcome,
       date_diff('day', r.arrived_at::date, c.first_at::date) as days_to_first_contribution
from crew_registry_rows r
left join contributions c on c.crew_id = r.person_id
where r.arrivals > 0
order by r.arrived_at;
"""

CREW_CONTRIBUTIONS = SqlView(name="crew_contributions", ddl=CREW_CONTRIBUTIONS_DDL)
ONBOARDING_FUNNEL = SqlView(name="onboarding_funnel", ddl=ONBOARDING_FUNNEL_DDL)
