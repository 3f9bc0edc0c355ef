"""Named queries: what the kiosk board, the calendar feeds, `crew export` and `crew forget` read
from the views, each with its parameters bound and its rows typed.

A named query is sent to the query service like any other read-only query (the same guards
apply), as SQL with a `$1` for each value and the values beside it: a crew id never becomes
part of the text. Its select list is made from its row Struct's fields, so the columns asked
for and the rows decoded cannot drift apart, and the rows encode in the order they were asked
(`NamedQuery` is the kernel's, crew/sql.py: the notices service asks too).
"""

from __future__ import annotations

import datetime

import msgspec

from crew.personal import SEALED
from crew.sql import NamedQuery, named

# The kiosk board: only what a passer-by may see.


class MealOnBoard(msgspec.Struct, frozen=True, kw_only=True):
    meal_id: str
    date: datetime.date
    time: str | None
    head_cook: str | None
    head_cook_name: str | None
    helpers: list[str]
    helper_names: list[str] | None
    waitlist: list[str]
    open_helper_slots: int
    helper_slots: int
    diners: int
    seats: int | None
    portions: int
    status: str


class Task(msgspec.Struct, frozen=True, kw_only=True):
    task: str
    capacity: int
    people: list[str]
    tentative: list[str]


class CleaningPartyOnBoard(msgspec.Struct, frozen=True, kw_only=True):
    occurrence_id: str
    date: datetime.date
    start_time: str
    end_time: str
    title: str
    people: list[str]
    people_names: list[str] | None
    tasks: list[Task]
    checked_in: list[str]
    hand_overs_offered: list[str]  # crew ids offering their place to whoever takes it


class ShiftOnBoard(msgspec.Struct, frozen=True, kw_only=True):
    occurrence_id: str
    date: datetime.date
    start_time: str
    end_time: str
    title: str
    people: list[str]
    people_names: list[str] | None
    open_places: int | None
    hand_overs_offered: list[str]


class CrewOnBoard(msgspec.Struct, frozen=True, kw_only=True):
    crew_id: str
    display_name: str | None
    newcomer: bool = False  # registered, not yet welcomed: may sign up already, shown as "ny"


BOARD_MEALS = named(
    "board_meals",
    MealOnBoard,
    "from meal_plan where date >= house_today() and date < house_today() + cast($1 as integer) "
    "and status in ('open', 'closed') order by date, time",
    "days",
)
BOARD_CLEANING_PARTY = named(
    "board_cleaning_party",
    CleaningPartyOnBoard,
    "from rota where kind = 'cleaning_party' and status = 'scheduled' order by date limit 1",
)
BOARD_SHIFTS = named(
    "board_shifts",
    ShiftOnBoard,
    "from rota where kind = 'shift' and status = 'scheduled' "
    "and date < house_today() + cast($1 as integer) order by date, start_time",
    "days",
)
# The crew and the newcomers not yet welcomed (nor pointed elsewhere): a newcomer may eat and
# help before their conversation.
BOARD_CREW = named(
    "board_crew",
    CrewOnBoard,
    "from (select crew_id, display_name, false as newcomer from crew where not forgotten "
    "union all select newcomer_id, display_name, true from onboarding_funnel "
    "where stage = 'newcomer' and not forgotten) order by display_name, crew_id",
)


# A person's calendar feed: what they cook or help with, and their cleaning parties and shifts.


class CalendarMeal(msgspec.Struct, frozen=True, kw_only=True):
    meal_id: str
    date: datetime.date
    time: str
    head_cook: str | None
    ends_at: str | None = None  # HH:MM; unknown: the feed gives the meal two hours


class CalendarShift(msgspec.Struct, frozen=True, kw_only=True):
    occurrence_id: str
    date: datetime.date
    start_time: str
    end_time: str
    title: str


CALENDAR_MEALS = named(
    "calendar_meals",
    CalendarMeal,
    "from meal_plan where date >= house_today() - 1 and status in ('open', 'closed') "
    "and (head_cook = $1 or list_contains(helpers, $1))",
    "crew_id",
)
CALENDAR_ROTA = named(
    "calendar_rota",
    CalendarShift,
    "from rota where status = 'scheduled' and list_contains(people, $1)",
    "crew_id",
)


# `crew export`: a person's rows in participation and crew_contributions, every column of each
# (a test holds these Structs to the views' columns: an export leaves nothing out).


class Step(msgspec.Struct, frozen=True, kw_only=True):
    status: str | None
    role: str | None
    at: datetime.datetime | None
    seq: int | None


class Participation(msgspec.Struct, frozen=True, kw_only=True):
    crew_id: str
    kind: str | None
    occurrence_id: str | None
    at: datetime.datetime | None
    status: str | None
    role: str | None
    late: bool | None
    checked_in_at: datetime.datetime | None
    covered_for: str | None
    history: list[Step] | None
    series_id: str | None
    updated_at: datetime.datetime | None
    first_seq: int | None
    last_seq: int | None
    minutes: int | None


class Contributions(msgspec.Struct, frozen=True, kw_only=True):
    crew_id: str
    display_name: str | None
    meals_cooked: int
    meals_helped: int
    cleaning_parties: int
    shifts: int
    covered_for_others: int
    conversations_hosted: int
    buddy_for: int
    activities: int
    initiatives: int
    recorded_contributions: int
    contributions: int
    window_months: int
    contributions_in_window: int
    meals_cooked_in_window: int
    meals_helped_in_window: int
    cleaning_parties_in_window: int
    shifts_in_window: int
    covered_for_others_in_window: int
    conversations_hosted_in_window: int
    buddy_for_in_window: int
    activities_in_window: int
    initiatives_in_window: int
    recorded_contributions_in_window: int
    first_contribution_at: datetime.datetime | None
    last_contribution_at: datetime.datetime | None
    days_since_last: int | None
    minutes: int


PERSON_PARTICIPATION = named(
    "person_participation",
    Participation,
    'from participation where crew_id = $1 order by "at"',
    "crew_id",
)
PERSON_CONTRIBUTIONS = named(
    "person_contributions", Contributions, "from crew_contributions where crew_id = $1", "crew_id"
)


# `crew forget`: whether any event names the person (the views' copy of the log).

# The fields of an event that name a person (besides the aggregate id in its subject).
PERSON_FIELDS = (
    "crew_id",
    "newcomer_id",
    "person_id",
    "host_crew_id",
    "buddy_crew_id",
    "from_crew_id",
    "to_crew_id",
    "started_by",
    "guest_id",
)


class Mentions(msgspec.Struct, frozen=True, kw_only=True):
    events: int


MENTIONS = NamedQuery(
    "mentions",
    Mentions,
    "select count(*) as events from event_log where split_part(subject, '.', 4) = $1 or "
    + " or ".join(f"payload->>'{field}' = $1" for field in PERSON_FIELDS),
    ("crew_id",),
)


# A crew member's own page (/me): who they are, and what changed in the house, newest first.


class Change(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    recorded_at: datetime.datetime
    type: str  # `<context>.<name>`, e.g. `meals.meal_planned`
    about: str  # the meal, series, occurrence or newcomer (the aggregate id)
    actor: str | None  # a crew id, `coordinator:<name>` or a service's name
    actor_name: str | None  # the actor's display name; None for a service or a coordinator
    source: str | None
    reason: str | None  # the reason given, if the event has one


CHANGES_SHOWN = 40
CHANGES = NamedQuery(
    "changes",
    Change,
    "select e.seq, e.recorded_at, e.type, split_part(e.subject, '.', 4) as about, e.actor, "
    "c.display_name as actor_name, e.source, "
    # a reason in someone's own words is sealed under their key: it stays sealed, unshown
    f"case when starts_with(e.payload->>'reason', '{SEALED}') then null "
    "else nullif(e.payload->>'reason', '') end as reason "
    "from event_log e left join crew c on c.crew_id = e.actor and not c.forgotten "
    "where e.type not like 'notices.%' "
    f"order by e.seq desc limit {CHANGES_SHOWN}",
    (),
)


class PersonOnPage(msgspec.Struct, frozen=True, kw_only=True):
    crew_id: str
    display_name: str | None
    coordinator: bool  # holds the coordinator role (docs/pages.md)


PERSON = named("person", PersonOnPage, "from crew where crew_id = $1 and not forgotten", "crew_id")


class NewcomerWaiting(msgspec.Struct, frozen=True, kw_only=True):
    newcomer_id: str
    display_name: str | None
    arrived_at: datetime.datetime
    conversation_host: str | None
    conversation_at: datetime.datetime | None
    conversation_held_at: datetime.datetime | None


NEWCOMERS_WAITING = named(
    "newcomers_waiting",
    NewcomerWaiting,
    "from onboarding_funnel where stage = 'newcomer' and not forgotten order by arrived_at",
)


class SeriesOnPage(msgspec.Struct, frozen=True, kw_only=True):
    series_id: str
    kind: str
    title: str
    weekdays: list[int]  # 0 Monday … 6 Sunday
    start_time: str
    end_time: str
    tasks: list[str]  # a cleaning party's tasks; empty for shifts and meal days
    until: datetime.date | None


SERIES_ON_PAGE = named(
    "series_on_page",
    SeriesOnPage,
    "from series_rows where until is null or until >= house_today() order by title, series_id",
)


class IntentionOnPage(msgspec.Struct, frozen=True, kw_only=True):
    series_id: str
    weekdays: list[int] | None  # None: every day of the series
    task: str | None


MY_INTENTIONS = named(
    "my_intentions", IntentionOnPage, "from intention_rows where crew_id = $1", "crew_id"
)


class ClaimOnPage(msgspec.Struct, frozen=True, kw_only=True):
    """A place held for someone by their standing intention, until they confirm or release it."""

    occurrence_id: str
    series_id: str
    kind: str
    title: str
    date: datetime.date
    start_time: str
    task: str | None


MY_CLAIMS = NamedQuery(
    "my_claims",
    ClaimOnPage,
    "select occurrence_id, series_id, kind, title, date, start_time, "
    "list_filter(tasks, lambda k: list_contains(k.tentative, $1))[1].task as task "
    "from rota where status = 'scheduled' and list_contains(tentative, $1) order by date",
    ("crew_id",),
)


class DoneOnPage(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    occurrence_id: str
    at: datetime.datetime | None
    status: str
    role: str | None


HISTORY_SHOWN = 20
MY_HISTORY = NamedQuery(
    "my_history",
    DoneOnPage,
    'select kind, occurrence_id, "at", status, role from participation where crew_id = $1 '
    f'order by "at" desc nulls last limit {HISTORY_SHOWN}',
    ("crew_id",),
)


class NoticeChoices(msgspec.Struct, frozen=True, kw_only=True):
    topics: list[str]
    has_address: bool
    stopped: bool


MY_NOTICE_CHOICES = NamedQuery(
    "my_notice_choices",
    NoticeChoices,
    "select topics, has_address, stopped from notice_choices where crew_id = $1",
    ("crew_id",),
)
