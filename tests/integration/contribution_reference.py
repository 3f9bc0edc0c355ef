"""The counting views as they were before the projector kept the counts (issue 18): plain SQL
over `participation` and every contribution, kept word for word (only renamed) as the reference
the views over the kept counts must agree with: as temporary views on a connection of one's own,
or as a query any reader may send (`crew sql`)."""

from __future__ import annotations

import duckdb

VIEWS = ("contributions", "crew_contributions", "load_balance", "drifting_away")

CONTRIBUTIONS = """
select crew_id, kind, occurrence_id, "at", covered_for, minutes
from participation
where status in ('signed_up', 'joined', 'checked_in', 'covering', 'hosted', 'buddy', 'on_task',
                 'member', 'former_member', 'recorded')
  and kind in ('meal_head_cook', 'meal_helper', 'cleaning_party', 'shift', 'conversation_host',
               'buddy', 'activity', 'initiative', 'contribution')
  and "at" is not null and "at" <= house_now()
"""

CREW_CONTRIBUTIONS = """
with counted as (
    select crew_id,
           count(*) filter (where kind = 'meal_head_cook') as meals_cooked,
           count(*) filter (where kind = 'meal_helper') as meals_helped,
           count(*) filter (where kind = 'cleaning_party') as cleaning_parties,
           count(*) filter (where kind = 'shift') as shifts,
           count(*) filter (where covered_for is not null) as covered_for_others,
           count(*) filter (where kind = 'conversation_host') as conversations_hosted,
           count(*) filter (where kind = 'buddy') as buddy_for,
           count(*) filter (where kind = 'activity') as activities,
           count(*) filter (where kind = 'initiative') as initiatives,
           count(*) filter (where kind = 'contribution') as recorded_contributions,
           count(*) filter (where kind = 'meal_head_cook' and in_contribution_window("at"))
               as meals_cooked_in_window,
           count(*) filter (where kind = 'meal_helper' and in_contribution_window("at"))
               as meals_helped_in_window,
           count(*) filter (where kind = 'cleaning_party' and in_contribution_window("at"))
               as cleaning_parties_in_window,
           count(*) filter (where kind = 'shift' and in_contribution_window("at"))
               as shifts_in_window,
           count(*) filter (where covered_for is not null and in_contribution_window("at"))
               as covered_for_others_in_window,
           count(*) filter (where kind = 'conversation_host' and in_contribution_window("at"))
               as conversations_hosted_in_window,
           count(*) filter (where kind = 'buddy' and in_contribution_window("at"))
               as buddy_for_in_window,
           count(*) filter (where kind = 'activity' and in_contribution_window("at"))
               as activities_in_window,
           count(*) filter (where kind = 'initiative' and in_contribution_window("at"))
               as initiatives_in_window,
           count(*) filter (where kind = 'contribution' and in_contribution_window("at"))
               as recorded_contributions_in_window,
           count(*) as contributions,
           count(*) filter (where in_contribution_window("at")) as contributions_in_window,
           min("at") as first_contribution_at,
           max("at") as last_contribution_at,
           sum(minutes) as minutes
    from reference_contributions
    group by crew_id
),
people as (
    select crew_id from crew  -- crew now, and crew who were forgotten
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
           coalesce(c.activities, 0) as activities,
           coalesce(c.initiatives, 0) as initiatives,
           coalesce(c.recorded_contributions, 0) as recorded_contributions,
       coalesce(c.contributions, 0) as contributions,
       contribution_window_months() as window_months,
       coalesce(c.contributions_in_window, 0) as contributions_in_window,
       coalesce(c.meals_cooked_in_window, 0) as meals_cooked_in_window,
           coalesce(c.meals_helped_in_window, 0) as meals_helped_in_window,
           coalesce(c.cleaning_parties_in_window, 0) as cleaning_parties_in_window,
           coalesce(c.shifts_in_window, 0) as shifts_in_window,
           coalesce(c.covered_for_others_in_window, 0) as covered_for_others_in_window,
           coalesce(c.conversations_hosted_in_window, 0) as conversations_hosted_in_window,
           coalesce(c.buddy_for_in_window, 0) as buddy_for_in_window,
           coalesce(c.activities_in_window, 0) as activities_in_window,
           coalesce(c.initiatives_in_window, 0) as initiatives_in_window,
           coalesce(c.recorded_contributions_in_window, 0) as recorded_contributions_in_window,
       c.first_contribution_at,
       c.last_contribution_at,
       -- greatest() skips a NULL: someone who never contributed has no days since
       if(c.last_contribution_at is null, null,
          greatest(date_diff('day', c.last_contribution_at::date, house_now()::date), 0))
           as days_since_last,
       coalesce(c.minutes, 0)::bigint as minutes  -- where start and end (or minutes) are known
from people p
left join counted c using (crew_id)
order by contributions desc, display_name
"""

LOAD_BALANCE = """
with per_person as (
    select 'week' as period, date_trunc('week', "at")::date as period_start, crew_id, count(*) as n
    from reference_contributions group by all
    union all
    select 'month', date_trunc('month', "at")::date, crew_id, count(*) from reference_contributions group by all
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
      on timezone('Europe/Copenhagen', coalesce(r.onboarded_at, r.registered_at)) < p.period_end
     and (r.stage = 'crew'
          or (r.stage = 'forgotten' and timezone('Europe/Copenhagen', r.forgotten_at) >= p.period_start))
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
order by period, period_start
"""

DRIFTING_AWAY = """
with history as (
    select crew_id, "at",
           date_diff('day', lag("at") over (partition by crew_id order by "at"), "at") as gap_days
    from reference_contributions
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
      select 1 from participation c
      where c.crew_id = p.crew_id
        and status in ('signed_up', 'joined', 'checked_in', 'covering', 'hosted', 'buddy',
                       'on_task', 'member', 'former_member', 'recorded')
        and kind in ('meal_head_cook', 'meal_helper', 'cleaning_party', 'shift',
                     'conversation_host', 'buddy', 'activity', 'initiative', 'contribution')
        and "at" is not null and c."at" > house_now())
  and date_diff('day', p.last_contribution_at::date, house_now()::date) > greatest(42, 3 * p.usual_gap_days)
order by days_since_last desc
"""

BODIES = {
    "contributions": CONTRIBUTIONS,
    "crew_contributions": CREW_CONTRIBUTIONS,
    "load_balance": LOAD_BALANCE,
    "drifting_away": DRIFTING_AWAY,
}


def install(con: duckdb.DuckDBPyConnection) -> None:
    """`reference_<view>` for each of VIEWS, on this connection only (temporary views)."""
    for view, body in BODIES.items():
        con.execute(f"create or replace temp view reference_{view} as {body}")


def query(view: str) -> str:
    """The reference of one view as a plain query, for a reader that cannot create views."""
    if view == "contributions":
        return CONTRIBUTIONS
    return f"with reference_contributions as ({CONTRIBUTIONS}\n)\nselect * from ({BODIES[view]}\n)"
