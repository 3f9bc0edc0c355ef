"""SQL views over the folded tables: "we are all crew" contributions and the onboarding funnel."""

from __future__ import annotations

from crew.settings import ProjectorSettings
from projections.view import SqlView
from schemas.common import HOUSE_TIMEZONE

# An activity place or task, initiative membership (now or before) and a recorded contribution
# count too: one contribution each (docs/views.md).
COUNTED = (
    "('signed_up', 'joined', 'checked_in', 'covering', 'hosted', 'buddy', 'on_task', 'member', "
    "'former_member', 'recorded')"
)
KIND_COLUMNS = {  # column: the kind of contribution it counts (a cover counts in its kind)
    "meals_cooked": "meal_head_cook",
    "meals_helped": "meal_helper",
    "cleaning_parties": "cleaning_party",
    "shifts": "shift",
    "conversations_hosted": "conversation_host",
    "buddy_for": "buddy",
    # the families beyond the three routines (activities context)
    "activities": "activity",
    "initiatives": "initiative",
    "recorded_contributions": "contribution",
}
OWN_KINDS = "(" + ", ".join(f"'{kind}'" for kind in KIND_COLUMNS.values()) + ")"

# A contribution that stands: counted in its own kind (the rota's `meal` days are the meals
# context's meals, counted there), with a time. `contributions` keeps those that have happened.
STANDS = f'status in {COUNTED} and kind in {OWN_KINDS} and "at" is not null'

# The default; the file's own window, else CREW_CONTRIBUTION_WINDOW_MONTHS, replaces it as the
# projection opens (projection.py).
WINDOW_MONTHS = ProjectorSettings().contribution_window_months

_BY_KIND = [(column, f"kind = '{kind}'") for column, kind in KIND_COLUMNS.items()]
KINDS = dict(  # column: the contributions it counts; covering someone, after the shifts
    [*_BY_KIND[:4], ("covered_for_others", "covered_for is not null"), *_BY_KIND[4:]]
)
COUNTS = ",\n".join(
    [f"count(*) filter (where {where}) as {name}" for name, where in KINDS.items()]
    + [
        f'count(*) filter (where {where} and in_contribution_window("at")) as {name}_in_window'
        for name, where in KINDS.items()
    ]
)
KIND_TOTALS = ",\n".join(f"coalesce(c.{name}, 0) as {name}" for name in KINDS)
WINDOW_TOTALS = ",\n".join(f"coalesce(c.{name}_in_window, 0) as {name}_in_window" for name in KINDS)

CREW_CONTRIBUTIONS_DDL = f"""
create or replace macro contribution_window_months() as {WINDOW_MONTHS};
-- `at` is house time (a TIMESTAMP with no zone), so "now" is house time too (house_now(),
-- projection.py's CORE_DDL)
create or replace macro in_contribution_window(t) as
    t >= house_now() - to_months(contribution_window_months());
create or replace view contributions as  -- every contribution that stands and has happened
select crew_id, kind, occurrence_id, "at", covered_for, minutes
from contribution_rows  -- what stands in participation, kept by the projector
where "at" <= house_now();
create or replace view crew_contributions as
with counted as (
    select crew_id,
           {COUNTS},
           count(*) as contributions,
           count(*) filter (where in_contribution_window("at")) as contributions_in_window,
           min("at") as first_contribution_at,
           max("at") as last_contribution_at,
           sum(minutes) as minutes
    from contributions
    group by crew_id
),
people as (
    select crew_id from crew  -- crew now, and crew who were forgotten
    union
    select crew_id from counted
)
select p.crew_id,
       display_name(p.crew_id) as display_name,
       {KIND_TOTALS},
       coalesce(c.contributions, 0) as contributions,
       contribution_window_months() as window_months,
       coalesce(c.contributions_in_window, 0) as contributions_in_window,
       {WINDOW_TOTALS},
       c.first_contribution_at,
       c.last_contribution_at,
       -- greatest() skips a NULL: someone who never contributed has no days since
       if(c.last_contribution_at is null, null,
          greatest(date_diff('day', c.last_contribution_at::date, house_now()::date), 0))
           as days_since_last,
       coalesce(c.minutes, 0)::bigint as minutes  -- where start and end (or minutes) are known
from people p
left join counted c using (crew_id)
order by contributions desc, display_name;
"""

LOAD_BALANCE_DDL = f"""
create or replace view load_balance as
with per_person as (
    select 'week' as period, date_trunc('week', "at")::date as period_start, crew_id, count(*) as n
    from contributions group by all
    union all
    select 'month', date_trunc('month', "at")::date, crew_id, count(*) from contributions group by all
),
periods as (
    select distinct period, period_start,
           period_start + if(period = 'week', interval 7 day, interval 1 month) as period_end
    from per_person
),
members as (  -- crew at some time in the period (a forgotten person counts until forgotten),
              -- and anyone who contributed in it: people who did nothing count as zeros
    select p.period, p.period_start, r.person_id as crew_id
    from periods p
    join crew_registry_rows r
      on timezone('{HOUSE_TIMEZONE}', coalesce(r.onboarded_at, r.registered_at)) < p.period_end
     and (r.stage = 'crew'
          or (r.stage = 'forgotten' and timezone('{HOUSE_TIMEZONE}', r.forgotten_at) >= p.period_start))
    union
    select period, period_start, crew_id from per_person
),
loads as (
    select m.period, m.period_start, m.crew_id, coalesce(pp.n, 0) as n
    from members m
    left join per_person pp using (period, period_start, crew_id)
),
ranked as (
    select *,
           row_number() over (partition by period, period_start order by n, crew_id) as rank_up,
           row_number() over (partition by period, period_start order by n desc, crew_id) as rank_down,
           count(*) over (partition by period, period_start) as people,
           sum(n) over (partition by period, period_start) as total,
           -- the 3 calendar periods before: one with no contributions listed is a zero
           sum(n) over (partition by period, crew_id order by period_start
                        range between interval 21 day preceding and interval 7 day preceding)
               / 3.0 as usual_week,
           sum(n) over (partition by period, crew_id order by period_start
                        range between interval 3 month preceding and interval 1 month preceding)
               / 3.0 as usual_month,
           count(*) over (partition by period, crew_id order by period_start
                          rows between unbounded preceding and 1 preceding) as counted_before
    from loads
),
flagged as (  -- rising: counted in an earlier period, and at least double their usual, and 3 more
    select *,
           coalesce(if(period = 'week', usual_week, usual_month), 0) as usual,
           counted_before > 0 and n >= 2 * usual and n >= usual + 3 as rising
    from ranked
)
select period,
       period_start,
       any_value(total)::bigint as contributions,  -- a sum is HUGEINT, which Parquet lacks
       count(*) filter (where n > 0) as contributors,
       any_value(people) as crew,
       round(sum(n) filter (where rank_down <= greatest(ceil(people * 0.1), 1))::double / any_value(total), 3)
           as top_10pct_share,
       round(2.0 * sum(rank_up * n) / (any_value(people) * any_value(total))
             - (any_value(people) + 1.0) / any_value(people), 3) as gini,
       list(crew_id order by n desc, crew_id) filter (where rising) as rising_load,
       list(display_name(crew_id) order by n desc, crew_id) filter (where rising) as rising_load_names
from flagged
group by period, period_start
order by period, period_start;
"""

DRIFTING_AWAY_DDL = f"""
create or replace view drifting_away as
with history as (
    select crew_id, "at",
           date_diff('day', lag("at") over (partition by crew_id order by "at"), "at") as gap_days
    from contributions
),
people as (
    select crew_id, count(*) as contributions, max("at") as last_contribution_at,
           coalesce(median(gap_days), 7) as usual_gap_days
    from history group by crew_id
)
select p.crew_id, display_name(p.crew_id) as display_name, p.contributions, p.last_contribution_at,
       date_diff('day', p.last_contribution_at::date, house_now()::date) as days_since_last,
       p.usual_gap_days
from people p
left join crew_registry_rows r on r.person_id = p.crew_id
where p.contributions >= 4
  and coalesce(r.stage, 'crew') <> 'forgotten'
  and not exists (  -- one planned ahead: not drifting
      select 1 from participation c where c.crew_id = p.crew_id and {STANDS} and c."at" > house_now())
  and date_diff('day', p.last_contribution_at::date, house_now()::date) > greatest(42, 3 * p.usual_gap_days)
order by days_since_last desc;
"""

MEAL_STATS_DDL = f"""
create or replace view meal_stats as
with cooks as (  -- since the head cook's latest sign-up as head cook, not their first step
    select p.occurrence_id as meal_id, max(step."at") as head_cook_since
    from participation_rows p, unnest(p.history) as steps(step)
    where p.context = 'meals' and p.status = 'signed_up' and p.role = 'head_cook'
      and step.status = 'signed_up' and step.role = 'head_cook'
    group by p.occurrence_id
)
select m.meal_id, m.date, m.time, m.status,
       (m.head_cook is not null)::integer + len(m.helpers) as cooks,
       m.helper_slots, m.open_helper_slots, m.diners, m.portions, m.served_diners,
       c.head_cook_since,
       m.head_cook is null
           or c.head_cook_since between served - interval 24 hour and served as nearly_no_cook
from meal_plan_rows m
left join cooks c using (meal_id),
lateral (select timezone('{HOUSE_TIMEZONE}', m.date + cast(m.time as time)) as served)
where m.status <> 'unplanned'
order by m.date, m.time;
"""

ONBOARDING_FUNNEL_DDL = f"""
create or replace view onboarding_funnel as
with steps as (
    select crew_id, "at", lag("at", 2) over (partition by crew_id order by "at") as two_before
    from contributions
),
firsts as (
    select crew_id, min("at") as first_at,
           min("at") filter (where "at" < two_before + interval 60 day) as regular_at
    from steps
    group by crew_id
),
funnel as (
    select r.*,
           case when r.onboarded_at is not null or r.registered_at is not null then 'onboarded'
                when r.redirected_at is not null then 'redirected' end as outcome,
           coalesce(r.onboarded_at, r.registered_at, r.redirected_at) as outcome_at,
           f.first_at,
           f.regular_at
    from crew_registry_rows r
    left join firsts f on f.crew_id = r.person_id
    where r.arrivals > 0
)
select person_id as newcomer_id,
       display_name(person_id) as display_name,
       stage,
       arrivals,
       arrived_at,
       conversation_host,
       conversation_at,
       conversation_held_at,
       outcome,
       outcome_at,
       forgotten_at is not null as forgotten,
       (select nullif(p.redirected_to, '') from personal.people p
        where p.person_id = funnel.person_id) as redirected_to,
       buddy_crew_id,
       first_at as first_contribution_at,
       regular_at is not null as regular,
       regular_at,
       round(date_diff('minute', arrived_at, conversation_held_at) / 1440.0, 1) as days_to_conversation,
       round(date_diff('minute', arrived_at, outcome_at) / 1440.0, 1) as days_to_outcome,
       date_diff('day', timezone('{HOUSE_TIMEZONE}', arrived_at)::date, first_at::date)
           as days_to_first_contribution,
       round(date_diff('minute', conversation_held_at, outcome_at) / 1440.0, 1)
           as days_conversation_to_outcome,
       date_diff('day', timezone('{HOUSE_TIMEZONE}', outcome_at)::date, first_at::date)
           as days_outcome_to_first_contribution,
       date_diff('day', first_at::date, regular_at::date) as days_first_contribution_to_regular
from funnel
order by arrived_at;
"""

CREW_CONTRIBUTIONS = SqlView(name="crew_contributions", ddl=CREW_CONTRIBUTIONS_DDL)
LOAD_BALANCE = SqlView(name="load_balance", ddl=LOAD_BALANCE_DDL)
DRIFTING_AWAY = SqlView(name="drifting_away", ddl=DRIFTING_AWAY_DDL)
MEAL_STATS = SqlView(name="meal_stats", ddl=MEAL_STATS_DDL)
ONBOARDING_FUNNEL = SqlView(name="onboarding_funnel", ddl=ONBOARDING_FUNNEL_DDL)
