"""SQL views over the folded tables: "we are all crew" contributions and the onboarding funnel."""

from __future__ import annotations

import os

from projections.view import SqlView

COUNTED = "('signed_up', 'joined', 'checked_in', 'covering', 'hosted', 'buddy')"

WINDOW_MONTHS = int(os.environ.get("CREW_CONTRIBUTION_WINDOW_MONTHS", "6"))

CREW_CONTRIBUTIONS_DDL = f"""
create or replace macro contribution_window_months() as {WINDOW_MONTHS};
create or replace view contributions as  -- every contribution that stands, with its time
select crew_id, kind, occurrence_id, "at", covered_for
from participation
where status in {COUNTED} and "at" is not null;
create or replace view crew_contributions as
with counted as (
    select crew_id,
           count(*) filter (where kind = 'meal_head_cook') as meals_cooked,
           count(*) filter (where kind = 'meal_helper') as meals_helped,
           count(*) filter (where kind = 'cleaning_party') as cleaning_parties,
           count(*) filter (where kind = 'shift') as shifts,
           count(*) filter (where covered_for is not null) as covered_for_others,
           count(*) filter (where kind = 'conversation_host') as conversations_hosted,
           count(*) filter (where kind = 'buddy') as buddy_for,
           count(*) filter (where "at" >= now()::timestamp - to_months(contribution_window_months()))
               as contributions_in_window,
           count(*) filter (where kind = 'meal_head_cook'
                            and "at" >= now()::timestamp - to_months(contribution_window_months()))
               as meals_cooked_in_window,
           count(*) filter (where kind = 'meal_helper'
                            and "at" >= now()::timestamp - to_months(contribution_window_months()))
               as meals_helped_in_window,
           count(*) filter (where kind = 'cleaning_party'
                            and "at" >= now()::timestamp - to_months(contribution_window_months()))
               as cleaning_parties_in_window,
           count(*) filter (where kind = 'shift'
                            and "at" >= now()::timestamp - to_months(contribution_window_months()))
               as shifts_in_window,
           min("at") as first_contribution_at,
           max("at") as last_contribution_at
    from contributions
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
       coalesce(c.conversations_hosted, 0) as conversations_hosted,
       coalesce(c.buddy_for, 0) as buddy_for,
       coalesce(c.meals_cooked + c.meals_helped + c.cleaning_parties + c.shifts + c.conversations_hosted
                + c.buddy_for, 0) as contributions,
       contribution_window_months() as window_months,
       coalesce(c.contributions_in_window, 0) as contributions_in_window,
       coalesce(c.meals_cooked_in_window, 0) as meals_cooked_in_window,
       coalesce(c.meals_helped_in_window, 0) as meals_helped_in_window,
       coalesce(c.cleaning_parties_in_window, 0) as cleaning_parties_in_window,
       coalesce(c.shifts_in_window, 0) as shifts_in_window,
       c.first_contribution_at,
       c.last_contribution_at,
       greatest(date_diff('day', c.last_contribution_at::date, current_date), 0) as days_since_last
from people p
left join counted c using (crew_id)
order by contributions desc, display_name;
"""

LOAD_BALANCE_DDL = """
create or replace view load_balance as
with periods as (
    select 'week' as period, date_trunc('week', "at")::date as period_start, crew_id from contributions
    union all
    select 'month', date_trunc('month', "at")::date, crew_id from contributions
),
per_person as (
    select period, period_start, crew_id, count(*) as n from periods group by all
),
ranked as (
    select *,
           row_number() over (partition by period, period_start order by n) as rank_up,
           row_number() over (partition by period, period_start order by n desc) as rank_down,
           count(*) over (partition by period, period_start) as people,
           sum(n) over (partition by period, period_start) as total,
           avg(n) over (partition by period, crew_id order by period_start
                        rows between 3 preceding and 1 preceding) as usual
    from per_person
),
flagged as (  -- rising: at least double their usual of the 3 periods before, and 3 more
    select *, coalesce(n >= 2 * usual and n >= usual + 3, false) as rising from ranked
)
select period,
       period_start,
       any_value(total) as contributions,
       any_value(people) as contributors,
       round(sum(n) filter (where rank_down <= greatest(ceil(people * 0.1), 1))::double / any_value(total), 3)
           as top_10pct_share,
       round(2.0 * sum(rank_up * n) / (any_value(people) * any_value(total))
             - (any_value(people) + 1.0) / any_value(people), 3) as gini,
       list(crew_id order by n desc) filter (where rising) as rising_load,
       list(display_name(crew_id) order by n desc) filter (where rising) as rising_load_names
from flagged
group by period, period_start
order by period, period_start;
"""

DRIFTING_AWAY_DDL = """
create or replace view drifting_away as
with history as (
    select crew_id, "at",
           date_diff('day', lag("at") over (partition by crew_id order by "at"), "at") as gap_days
    from contributions
    where "at" <= now()::timestamp
),
people as (
    select crew_id, count(*) as contributions, max("at") as last_contribution_at,
           coalesce(median(gap_days), 7) as usual_gap_days
    from history group by crew_id
)
select p.crew_id, display_name(p.crew_id) as display_name, p.contributions, p.last_contribution_at,
       date_diff('day', p.last_contribution_at::date, current_date) as days_since_last,
       p.usual_gap_days
from people p
left join crew_registry_rows r on r.person_id = p.crew_id
where p.contributions >= 4
  and coalesce(r.stage, 'crew') <> 'forgotten'
  and not exists (select 1 from contributions c where c.crew_id = p.crew_id and c."at" > now()::timestamp)
  and date_diff('day', p.last_contribution_at::date, current_date) > greatest(42, 3 * p.usual_gap_days)
order by days_since_last desc;
"""

MEAL_STATS_DDL = """
create or replace view meal_stats as
with cooks as (
    select p.occurrence_id as meal_id,
           min(e.occurred_at) filter (where p.role = 'head_cook') as head_cook_since
    from participation_rows p
    join event_log e on e.seq = p.first_seq
    where p.context = 'meals' and p.status = 'signed_up'
    group by p.occurrence_id
)
select m.meal_id, m.date, m.time, m.status,
       (m.head_cook is not null)::integer + len(m.helpers) as cooks,
       m.helper_slots, m.open_helper_slots, m.diners, m.portions, m.served_diners,
       c.head_cook_since,
       m.head_cook is null
           or c.head_cook_since between (m.date + cast(m.time as time))::timestamptz - interval 24 hour
                                    and (m.date + cast(m.time as time))::timestamptz
           as nearly_no_cook
from meal_plan_rows m
left join cooks c using (meal_id)
where m.status <> 'unplanned'
order by m.date, m.time;
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
LOAD_BALANCE = SqlView(name="load_balance", ddl=LOAD_BALANCE_DDL)
DRIFTING_AWAY = SqlView(name="drifting_away", ddl=DRIFTING_AWAY_DDL)
MEAL_STATS = SqlView(name="meal_stats", ddl=MEAL_STATS_DDL)
ONBOARDING_FUNNEL = SqlView(name="onboarding_funnel", ddl=ONBOARDING_FUNNEL_DDL)
