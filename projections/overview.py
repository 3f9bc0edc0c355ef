"""Named queries for the house at a glance: the coordinators' dashboard (/coordinator,
docs/coordinator.md) and the yearly report for funders (`crew report`). Each reads one view,
and its name says which, so every figure can say where it came from.

The dashboard's queries may name people (only the coordinator role sees them); the report's
return counts only, and `house/report.py` merges the groups under 5 people.
"""

from __future__ import annotations

import datetime

import msgspec

from crew.sql import NamedQuery, named

# The dashboard: the next 14 days, and what each meal, cleaning party and shift lacks.


class Coming(msgspec.Struct, frozen=True, kw_only=True):
    kind: str  # `meal`, `cleaning_party` or `shift`
    occurrence_id: str  # the meal id, or the rota occurrence
    date: datetime.date
    start_time: str | None
    title: str
    people: int  # cooks and helpers of a meal; everyone in of a party or shift
    needs_cook: bool  # a meal with no head cook
    open_helper_slots: int  # a meal's helper places still free
    open_places: int | None  # a shift's places still free; None for no limit
    open_task_places: int  # a cleaning party's task places still free


COMING_DAYS = 14
COMING = NamedQuery(
    "coming",
    Coming,
    "select * from ("
    "select 'meal' as kind, meal_id as occurrence_id, date, time as start_time, "
    "'meal' as title, (head_cook is not null)::int + len(helpers) as people, "
    "head_cook is null as needs_cook, open_helper_slots, null::int as open_places, "
    "0 as open_task_places from meal_plan "
    "where status in ('open', 'closed') and date >= house_today() "
    "and date < house_today() + cast($1 as integer) "
    "union all select kind, occurrence_id, date, start_time, title, len(people), false, 0, "
    "open_places, coalesce(list_sum(list_transform(tasks, lambda t: "
    "greatest(0, t.capacity - len(t.people) - len(t.tentative)))), 0)::int "
    "from rota where kind in ('cleaning_party', 'shift') and status = 'scheduled' "
    "and date < house_today() + cast($1 as integer)"
    ") order by date, start_time, kind, occurrence_id",
    ("days",),
)


class AskedForHelp(msgspec.Struct, frozen=True, kw_only=True):
    """The notices that ask for help with one gap (docs/notices.md): who was told, not who."""

    about: str  # the meal or occurrence
    rule: str  # `meal_needs_cook`, `meal_needs_helpers`, `hand_over`
    notice_ids: list[str]
    told: int  # notices recorded for it
    sent: int  # of those, sent
    last_sent_at: datetime.datetime | None


ASKED_FOR_HELP = named(
    "asked_for_help",
    AskedForHelp,
    "from (select about, rule, list(notice_id order by notice_id) as notice_ids, "
    "count(*) as told, count(*) filter (status = 'sent') as sent, max(sent_at) as last_sent_at "
    "from notices where rule in ('meal_needs_cook', 'meal_needs_helpers', 'hand_over') "
    "and status <> 'cancelled' group by about, rule) order by about, rule",
)


# The burnout watch, month by month (load_balance).


class MonthLoad(msgspec.Struct, frozen=True, kw_only=True):
    period_start: datetime.date
    contributions: int
    contributors: int
    crew: int
    top_10pct_share: float | None
    gini: float | None
    rising_load_names: list[str] | None  # the dashboard's only; never in the report


MONTH_LOAD = named(
    "month_load",
    MonthLoad,
    "from load_balance where period = 'month' and period_start >= cast($1 as date) "
    "and period_start <= cast($2 as date) order by period_start",
    "from",
    "to",
)


class PersonLoad(msgspec.Struct, frozen=True, kw_only=True):
    display_name: str | None
    contributions: int  # within the window (crew_contributions.contributions_in_window)
    window_months: int


# Everyone, zeros included, busiest first: a few carrying everything shows at a glance.
PERSON_LOAD = NamedQuery(
    "person_load",
    PersonLoad,
    "select display_name, contributions_in_window as contributions, window_months "
    "from crew_contributions where display_name is not null "
    "order by contributions_in_window desc, display_name",
    (),
)


# "We are all crew": contributions by kind and month, and people per month (contributions).


class KindMonth(msgspec.Struct, frozen=True, kw_only=True):
    month: datetime.date
    kind: str
    contributions: int
    people: int  # different people behind them: the report pools a kind of fewer than 5


KIND_MONTHS = named(
    "kind_months",
    KindMonth,
    "from (select date_trunc('month', \"at\")::date as month, kind, count(*) as contributions, "
    "count(distinct crew_id) as people "
    'from contributions where "at" >= cast($1 as date) and "at" < cast($2 as date) + 1 '
    "group by all) order by month, kind",
    "from",
    "to",
)


class PeopleMonth(msgspec.Struct, frozen=True, kw_only=True):
    month: datetime.date
    people: int  # different people who contributed in the month


PEOPLE_MONTHS = named(
    "people_months",
    PeopleMonth,
    "from (select date_trunc('month', \"at\")::date as month, count(distinct crew_id) as people "
    'from contributions where "at" >= cast($1 as date) and "at" < cast($2 as date) + 1 '
    "group by all) order by month",
    "from",
    "to",
)


# Newcomers: the funnel, and the median days between its steps (onboarding_funnel).


class Funnel(msgspec.Struct, frozen=True, kw_only=True):
    registered: int
    conversation: int
    welcomed: int
    redirected: int
    first_contribution: int
    regular: int
    days_to_conversation: float | None  # medians
    days_conversation_to_welcome: float | None
    days_welcome_to_first_contribution: float | None
    days_first_contribution_to_regular: float | None
    days_to_first_contribution: float | None


FUNNEL = NamedQuery(
    "funnel",
    Funnel,
    "select count(*) as registered, "
    "count(*) filter (conversation_held_at is not null) as conversation, "
    "count(*) filter (outcome = 'onboarded') as welcomed, "
    "count(*) filter (outcome = 'redirected') as redirected, "
    "count(*) filter (first_contribution_at is not null) as first_contribution, "
    "count(*) filter (regular) as regular, "
    "median(days_to_conversation) as days_to_conversation, "
    "median(days_conversation_to_outcome) filter (outcome = 'onboarded') "
    "as days_conversation_to_welcome, "
    "median(days_outcome_to_first_contribution) as days_welcome_to_first_contribution, "
    "median(days_first_contribution_to_regular) as days_first_contribution_to_regular, "
    "median(days_to_first_contribution) as days_to_first_contribution "
    "from onboarding_funnel where arrived_at >= cast($1 as date) "
    "and arrived_at < cast($2 as date) + 1",
    ("from", "to"),
)


# Drifting away: for a kind check-in, by their buddy if they have one (drifting_away).


class Drifting(msgspec.Struct, frozen=True, kw_only=True):
    display_name: str | None
    last_contribution_at: datetime.datetime | None
    days_since_last: int | None
    usual_gap_days: float | None
    usual_kind: str | None  # what they did most: the check-in can name it
    buddy_name: str | None


DRIFTING = NamedQuery(
    "drifting",
    Drifting,
    "select d.display_name, d.last_contribution_at, d.days_since_last, d.usual_gap_days, "
    "(select mode(kind) from contributions c where c.crew_id = d.crew_id) as usual_kind, "
    "b.display_name as buddy_name from drifting_away d "
    "left join crew m on m.crew_id = d.crew_id "
    "left join crew b on b.crew_id = m.buddy_crew_id and not b.forgotten "
    "order by d.days_since_last desc, d.display_name",
    (),
)


# The SQL box offers the views with their columns.


class ViewColumns(msgspec.Struct, frozen=True, kw_only=True):
    view: str
    columns: list[str]


VIEW_COLUMNS = NamedQuery(
    "view_columns",
    ViewColumns,
    "select table_name as view, list(column_name order by column_index) as columns "
    "from duckdb_columns() where database_name = current_database() and schema_name = 'main' "
    "and not internal group by table_name order by table_name",
    (),
)


# The report's totals for a period: counts only, each from the view its name gives.


class Totals(msgspec.Struct, frozen=True, kw_only=True):
    meals_held: int  # meal_stats: not cancelled, on a day up to today
    meals_served: int  # meal_stats: recorded as served
    diners_served: int  # meal_stats: head counts at the table
    portions: int  # meal_stats: portions signed up for
    cooks: int  # contributions: different people who cooked (head cook)
    helpers: int  # contributions: different people who helped cook
    cleaning_parties_held: int  # rota_rows: cleaning parties not cancelled, up to today
    cleaning_attendance: int  # contributions: places at those parties that stood
    cleaning_people: int  # contributions: different people at them
    shifts_held: int  # rota_rows: duty shifts not cancelled, up to today
    contributions: int  # contributions: all of them in the period
    contributors: int  # contributions: different people
    contributors_before: int  # contributions: different people in the period as long before
    hours: float  # contributions: their minutes, where start and end (or minutes) are known


_IN = '"at" >= cast($1 as date) and "at" < cast($2 as date) + 1'
_DAYS = "date between cast($1 as date) and least(cast($2 as date), house_today())"
_BEFORE = (
    '"at" >= cast($1 as date) - cast(cast($2 as date) - cast($1 as date) + 1 as integer) '
    'and "at" < cast($1 as date)'
)
TOTALS = NamedQuery(
    "totals",
    Totals,
    # Each view is read once (materialized), not once per figure: fourteen scans of the
    # `contributions` view side by side needed more than the query service's 128 MB.
    'with c as materialized (select crew_id, kind, occurrence_id, "at", minutes from contributions), '
    "m as materialized (select * from meal_stats) "
    f"select (select count(*) from m where status <> 'cancelled' and {_DAYS}) "
    "as meals_held, "
    f"(select count(*) from m where status = 'served' and {_DAYS}) as meals_served, "
    f"(select coalesce(sum(served_diners), 0) from m where {_DAYS}) as diners_served, "
    f"(select coalesce(sum(portions), 0) from m where status <> 'cancelled' "
    f"and {_DAYS}) as portions, "
    f"(select count(distinct crew_id) from c where kind = 'meal_head_cook' "
    f"and {_IN}) as cooks, "
    f"(select count(distinct crew_id) from c where kind = 'meal_helper' "
    f"and {_IN}) as helpers, "
    "(select count(*) from rota_rows where kind = 'cleaning_party' and status = 'scheduled' "
    f"and {_DAYS}) as cleaning_parties_held, "
    f"(select count(*) from c where kind = 'cleaning_party' and {_IN}) "
    "as cleaning_attendance, "
    f"(select count(distinct crew_id) from c where kind = 'cleaning_party' "
    f"and {_IN}) as cleaning_people, "
    "(select count(*) from rota_rows where kind = 'shift' and status = 'scheduled' "
    f"and {_DAYS}) as shifts_held, "
    f"(select count(*) from c where {_IN}) as contributions, "
    f"(select count(distinct crew_id) from c where {_IN}) as contributors, "
    f"(select count(distinct crew_id) from c where {_BEFORE}) "
    "as contributors_before, "
    f"(select coalesce(round(sum(minutes) / 60, 1), 0) from c where {_IN}) as hours",
    ("from", "to"),
)


# Each kind of contribution in words, for the dashboard and the report alike; a kind not named
# here (a new family) shows as its name rather than failing.
KIND_WORDS = {
    "da": {
        "meal_head_cook": "kok",
        "meal_helper": "hjælper",
        "cleaning_party": "rengøringsfest",
        "shift": "vagt",
        "conversation_host": "snak med en ny",
        "buddy": "makker",
        "activity": "aktivitet",
        "initiative": "initiativ",
        "contribution": "andet bidrag",
    },
    "en": {
        "meal_head_cook": "head cook",
        "meal_helper": "helper",
        "cleaning_party": "cleaning party",
        "shift": "shift",
        "conversation_host": "conversation with a newcomer",
        "buddy": "buddy",
        "activity": "activity",
        "initiative": "initiative",
        "contribution": "other contribution",
    },
}


def kind_in_words(kind: str, lang: str) -> str:
    return KIND_WORDS[lang].get(kind, kind)
