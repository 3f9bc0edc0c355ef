"""Named queries of the activities context's views: what the kiosk board and a person's own
page show of activities, initiatives and the kinds of contribution, and a person's calendar
feed. Guests are counted, never named (projections/activities.py)."""

from __future__ import annotations

import datetime

import msgspec

from crew.sql import named


class ActivityTask(msgspec.Struct, frozen=True, kw_only=True):
    task: str
    capacity: int
    people: list[str]


class ActivityOnBoard(msgspec.Struct, frozen=True, kw_only=True):
    activity_id: str
    title: str
    starts_at: datetime.datetime  # house time
    ends_at: datetime.datetime
    place: str | None
    capacity: int | None
    open_places: int | None
    signed_up: list[str]
    signed_up_names: list[str] | None
    waitlist: list[str]
    guests: int
    guests_waiting: int
    tasks: list[ActivityTask]
    initiative_id: str | None
    initiative_title: str | None
    open_to_guests: bool
    fee_note: str | None
    description: str | None


class InitiativeOnBoard(msgspec.Struct, frozen=True, kw_only=True):
    initiative_id: str
    title: str
    description: str | None
    lead: str | None
    lead_name: str | None
    members: list[str]
    member_count: int
    activities: int


class KindOnBoard(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    label_da: str
    label_en: str


UPCOMING = "status = 'planned' and ends_at >= timezone('Europe/Copenhagen', now())"
BOARD_ACTIVITIES = named(
    "board_activities",
    ActivityOnBoard,
    f"from activities where {UPCOMING} "
    "and starts_at < timezone('Europe/Copenhagen', now()) + to_days(cast($1 as integer)) "
    "order by starts_at, activity_id",
    "days",
)
BOARD_INITIATIVES = named(
    "board_initiatives", InitiativeOnBoard, "from initiatives order by title, initiative_id"
)
CONTRIBUTION_KINDS = named(
    "contribution_kinds", KindOnBoard, "from contribution_kinds order by label_da, kind"
)
ACTIVITY_DAYS = 60  # how far ahead a page shows activities: a season


class MyActivity(msgspec.Struct, frozen=True, kw_only=True):
    """A person's part in an activity, for their own page's "Min del"."""

    activity_id: str
    title: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    status: str  # the activity's: planned or cancelled
    part: str  # signed_up, waitlisted, or a task's name


MY_ACTIVITIES = named(
    "my_activities",
    MyActivity,
    "from (select *, case when list_contains(signed_up, $1) then 'signed_up' "
    "when list_contains(waitlist, $1) then 'waitlisted' "
    "else list_filter(tasks, lambda k: list_contains(k.people, $1))[1].task end as part "
    "from activities) where part is not null "
    "and ends_at >= timezone('Europe/Copenhagen', now()) - interval 30 day "
    "order by starts_at",
    "crew_id",
)


class CalendarActivity(msgspec.Struct, frozen=True, kw_only=True):
    activity_id: str
    title: str
    starts_at: datetime.datetime  # house time
    ends_at: datetime.datetime
    place: str | None


CALENDAR_ACTIVITIES = named(
    "calendar_activities",
    CalendarActivity,
    "from activities where status = 'planned' and starts_at >= house_today() - 1 "
    "and (list_contains(signed_up, $1) or "
    "len(list_filter(tasks, lambda k: list_contains(k.people, $1))) > 0) order by starts_at",
    "crew_id",
)
