"""SQL views over the folded tables: "we are all crew" contributions and the onboarding funnel."""

from __future__ import annotations

from crew.settings import ProjectorSettings
from projections.view import SqlView
from schemas.common import HOUSE_TIMEZONE

# An activity place or task, initiative membership (now or before) and a recorded contribution
# count too: one contribution each (docs/views.md).
COUNTED_STATUSES = frozenset(
    {"signed_up", "joined", "checked_in", "covering", "hosted", "buddy", "on_task", "member"}
    | {"former_member", "recorded"}
)
COUNTED = "(" + ", ".join(f"'{status}'" for status in sorted(COUNTED_STATUSES)) + ")"
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
# What one contribution adds to each count: contribution_counts' columns after its key, and
# crew_contributions' sums, in that order. The one place that says which kind counts where; the
# projector's counts (contribution_counts.py) and the views sum these.
ADDS = ", ".join(
    ["1 as contributions"]
    + [f"({where})::bigint as {name}" for name, where in KINDS.items()]
    + ["coalesce(minutes, 0) as minutes"]
)
SUMS = ",\n".join(
    [f"sum(if(in_total, {name}, 0))::bigint as {name}" for name in KINDS]
    + [f"sum(if(in_window, {name}, 0))::bigint as {name}_in_window" for name in KINDS]
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
select crew_id, counted_kind as kind, occurrence_id, counted_at as "at",
       counted_covered_for as covered_for, counted_minutes as minutes
from participation_rows  -- what each counts, kept by the projector (contribution_counts.py)
where counted_at <= house_now();
create or replace view crew_contributions as
with counted_rows as (
    -- whole months before this one, from the kept counts
    select crew_id, contributions, {", ".join(KINDS)}, minutes, true as in_total,
           period_start > date_trunc('month', house_now() - to_months(contribution_window_months()))
               as in_window
    from contribution_counts
    where period = 'month' and period_start < date_trunc('month', house_now())
    union all
    -- one by one: this month up to now, and the part of the window's first month in the window
    select crew_id, {ADDS},
           "at" >= date_trunc('month', house_now()), in_contribution_window("at")
    from contributions
    where "at" >= date_trunc('month', house_now())
       or (in_contribution_window("at")
           and "at" < date_trunc('month', house_now() - to_months(contribution_window_months()))
                      + interval 1 month)
),
counted as (  -- in one pass: sum(if(...)) takes half the time of sum() filter (...) here
    select crew_id,
           {SUMS},
           sum(if(in_total, contributions, 0))::bigint as contributions,
           sum(if(in_window, contributions, 0))::bigint as contributions_in_window,
           sum(if(in_total, minutes, 0)) as minutes
    from counted_rows
    group by crew_id
),
times as (
    select crew_id, min("at") as first_contribution_at, max("at") as last_contribution_at
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
       t.first_contribution_at,
       t.last_contribution_at,
       -- greatest() skips a NULL: someone who never contributed has no days since
       if(t.last_contribution_at is null, null,
          greatest(date_diff('day', t.last_contribution_at::date, house_now()::date), 0))
           as days_since_last,
       coalesce(c.minutes, 0)::bigint as minutes  -- where start and end (or minutes) are known
from people p
left join counted c using (crew_id)
left join times t using (crew_id)
order by contributions desc, display_name;
"""

# Who was crew in a period: welcomed or registered before it ended, and not forgotten before it
# began (house time).
CREW_IN = """r.since < p.period_end
     and (r.stage = 'crew' or (r.stage = 'forgotten' and r.forgotten >= p.period_start))"""
# The same, for the period of a row of per_person: welcomed before it ended is welcomed in its
# week (or month) or before, which spares adding a week or a month to 290,000 starts at the
# full size (docs/performance.md, "`load_balance`'s plan").
CREW_IN_PP = (
    "if(pp.period = 'week', r.since_week, r.since_month) <= pp.period_start\n"
    "     and (r.stage = 'crew' or (r.stage = 'forgotten' and r.forgotten >= pp.period_start))"
)

# Everyone who was crew in a period counts, with zero for those who did nothing. They are not
# listed one by one: ranked by load the zeros come first, so the gini and the top-10 % share
# follow from how many contributed how much (a tie ranks the same in any order: its ranks' sum
# is fixed). Only someone with 3 or more can be rising.
LOAD_BALANCE_DDL = f"""
create or replace view load_balance as
with per_person as (  -- whole periods from the kept counts; this week and month as of now
    select period, period_start, crew_id, contributions as n
    from contribution_counts
    where period_start < if(period = 'week', date_trunc('week', house_now()),
                            date_trunc('month', house_now()))
    union all
    select 'week', date_trunc('week', "at")::date, crew_id, count(*) from contributions
    where "at" >= date_trunc('week', house_now()) group by all
    union all
    select 'month', date_trunc('month', "at")::date, crew_id, count(*) from contributions
    where "at" >= date_trunc('month', house_now()) group by all
),
loads as (  -- how many did n, per period: a few hundred rows the rest reads
    select period, period_start, n, count(*) as c from per_person group by all
),
periods as (
    select period, period_start,
           period_start + if(period = 'week', interval 7 day, interval 1 month) as period_end,
           sum(c)::bigint as contributors, sum(n * c) as total
    from loads
    group by period, period_start
),
registry as (  -- crew at some time (a forgotten person counts until forgotten), in house time
    select person_id as crew_id, stage,
           timezone('{HOUSE_TIMEZONE}', coalesce(onboarded_at, registered_at)) as since,
           timezone('{HOUSE_TIMEZONE}', forgotten_at) as forgotten,
           date_trunc('week', since)::date as since_week,  -- for CREW_IN_PP
           date_trunc('month', since)::date as since_month
    from crew_registry_rows
    where stage in ('crew', 'forgotten')
),
crew_sizes as (  -- the crew of each period
    select p.period, p.period_start, sum(r.people) as members
    from periods p
    join (select stage, since, forgotten, count(*) as people from registry group by all) r
      on {{CREW_IN}}
    group by p.period, p.period_start
),
outsiders as (  -- who contributed in a period without being crew in it
    select pp.period, pp.period_start, count(*) as outsiders
    from per_person pp
    left join registry r using (crew_id)
    where not coalesce({{CREW_IN_PP}}, false)
    group by pp.period, pp.period_start
),
sizes as (  -- people counted: the crew of the period, and anyone else who contributed in it
    select p.*, (coalesce(c.members, 0) + coalesce(o.outsiders, 0))::bigint as people
    from periods p
    left join crew_sizes c using (period, period_start)
    left join outsiders o using (period, period_start)
),
tally as (  -- how many did n, and how many did less (the zeros too) and more
    select t.*, s.people, s.total,
           s.people - s.contributors
               + coalesce(sum(c) over (partition by period, period_start order by n
                                       rows between unbounded preceding and 1 preceding), 0)
               as below,
           coalesce(sum(c) over (partition by period, period_start order by n desc
                                 rows between unbounded preceding and 1 preceding), 0) as above
    from loads t
    join sizes s using (period, period_start)
),
shares as (
    select period, period_start,
           -- the busiest 10 % of the people counted (rounded up, at least one)
           sum(n * greatest(least(c, greatest(ceil(people * 0.1), 1) - above), 0)) as top,
           -- the sum of rank times load, ranked from the least loaded up
           sum(n * (c * below + c * (c + 1) // 2)) as ranked
    from tally
    group by period, period_start
),
heavy as materialized (  -- at least double their usual (the 3 calendar periods before) and 3 more
    select c.period, c.period_start, c.crew_id, c.n,
           -- a period with nothing listed is a zero
           coalesce(sum(b.n) filter (where b.period_start >= c.usual_from) / 3.0, 0) as usual,
           count(b.n) > 0 as contributed_before
    from (select *,
                 (period_start - if(period = 'week', interval 21 day, interval 3 month))::date
                     as usual_from,
                 (period_start - if(period = 'week', interval 7 day, interval 1 month))::date
                     as usual_to
          from per_person where n >= 3) c
    left join per_person b
      on b.period = c.period and b.crew_id = c.crew_id and b.period_start <= c.usual_to
    group by c.period, c.period_start, c.crew_id, c.n
    having c.n >= 2 * usual and c.n >= usual + 3
),
rising as (  -- heavy, and counted in an earlier period: they contributed, or were crew
    select h.period, h.period_start,
           list(h.crew_id order by h.n desc, h.crew_id) as rising_load,
           list(display_name(h.crew_id) order by h.n desc, h.crew_id) as rising_load_names
    from (select * from heavy where contributed_before
          union all  -- the registry is asked only for those who did not
          select * from heavy h
          where not contributed_before
            and exists (select 1 from registry r
                        join periods p on p.period = h.period and p.period_start < h.period_start
                        where r.crew_id = h.crew_id and {{CREW_IN}})) h
    group by h.period, h.period_start
)
select s.period,
       s.period_start,
       s.total::bigint as contributions,  -- a sum is HUGEINT, which Parquet lacks
       s.contributors,
       s.people as crew,
       round(t.top::double / s.total, 3) as top_10pct_share,
       round(2.0 * t.ranked / (s.people * s.total) - (s.people + 1.0) / s.people, 3) as gini,
       r.rising_load,
       r.rising_load_names
from sizes s
join shares t using (period, period_start)
left join rising r using (period, period_start)
order by s.period, s.period_start;
""".replace("{CREW_IN}", CREW_IN).replace("{CREW_IN_PP}", CREW_IN_PP)

# The usual gap is worked out only for those who may be drifting: 4 or more, none for 6 weeks.
DRIFTING_AWAY_DDL = """
create or replace view drifting_away as
with people as (
    select crew_id, count(*) as contributions, max("at") as last_contribution_at
    from contributions group by crew_id
),
quiet as (
    select p.*
    from people p
    left join crew_registry_rows r on r.person_id = p.crew_id
    where p.contributions >= 4
      and coalesce(r.stage, 'crew') <> 'forgotten'
      and not exists (  -- one planned ahead: not drifting
          select 1 from participation_rows c
          where c.crew_id = p.crew_id and c.counted_at > house_now())
      and date_diff('day', p.last_contribution_at::date, house_now()::date) > 42
),
history as (
    select crew_id,
           date_diff('day', lag("at") over (partition by crew_id order by "at"), "at") as gap_days
    from contributions
    where crew_id in (select crew_id from quiet)
),
gaps as (
    select crew_id, coalesce(median(gap_days), 7) as usual_gap_days from history group by crew_id
)
select p.crew_id, display_name(p.crew_id) as display_name, p.contributions, p.last_contribution_at,
       date_diff('day', p.last_contribution_at::date, house_now()::date) as days_since_last,
       g.usual_gap_days
from quiet p
join gaps g using (crew_id)
where date_diff('day', p.last_contribution_at::date, house_now()::date) > greatest(42, 3 * g.usual_gap_days)
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
       (m.head_cook is not null)::integer + len(m.helpers::varchar[]) as cooks,
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
