"""The burnout watch: the same few carrying everything, noticed early, told to those who asked.

The house's `load_balance` view (docs/views.md) says per month how the work is shared; the
notices service cannot read the views itself, so it asks the query service (`crew.query.sql`)
the named query `MONTH_LOAD`, at most once an hour (services/notices/at_work.py), for this
month's row. `burnout_notices` is the rule, pure like the others: over that row, the picture's
`burnout_watch` subscribers and `now`, it finds

- `rising_load`: someone's load this month is at least double their usual, and 3 more
  (the view's `rising_load`);
- `top_share`: the busiest 10 % of the crew made more than half of this month's contributions
  (`top_10pct_share` above 0.5), once the month has `SHARE_FROM_CONTRIBUTIONS` of them: before
  that, the first few contributions of a month are always "the same few".

Each subscriber is told once a month per finding. The facts are the month, the share and how
many are rising: no names and no crew ids, so the log holds none.

A subscriber who holds the coordinator role (onboarding's `coordinator_granted`, until
`coordinator_revoked` or their forget) is also told who is rising: `names_for` gives their
display names from this month's row, when the mail is written, so they never reach the log. The
query asks for the names only while a coordinator subscribes (`names_wanted`); a coordinator's
mail waits until a row with the names is known.
"""

from __future__ import annotations

import datetime
from typing import Literal

import msgspec

from crew.sql import NamedQuery
from schemas import notices as n
from services.notices.picture import HOUSE, Due, Picture, notice_id

Finding = Literal["rising_load", "top_share"]
SHARE_ABOVE = 0.5  # the busiest 10 % making more than this share of the month's contributions
SHARE_FROM_CONTRIBUTIONS = 10  # a month's share is judged from this many contributions on


class MonthLoad(msgspec.Struct, frozen=True, kw_only=True):
    """A month's row of `load_balance`: the number of people whose load is rising and, when
    asked `named`, their display names (personal data: never logged, never in the log)."""

    period_start: datetime.date
    contributions: int
    crew: int
    top_10pct_share: float
    rising: int
    rising_names: list[str] = []
    named: bool = False  # asked with the names (without: rising_names is empty)


MONTH_LOAD = NamedQuery(
    "month_load",
    MonthLoad,
    "select period_start, contributions, crew, top_10pct_share, "
    "coalesce(len(rising_load), 0)::bigint as rising, "
    "case when cast($2 as boolean) then coalesce(rising_load_names, []::varchar[]) "
    "else []::varchar[] end as rising_names, "
    "cast($2 as boolean) as named "
    "from load_balance where period = 'month' and period_start = cast($1 as date)",
    ("month_start", "with_names"),
)


def names_wanted(picture: Picture) -> bool:
    """Whether a `burnout_watch` subscriber holds the coordinator role: only then are names
    asked for."""
    return any(who in picture.coordinators for who in picture.subscribers("burnout_watch"))


def names_for(
    picture: Picture, notice: n.NoticeRecorded, load: MonthLoad | None
) -> list[str] | None:
    """The display names a notice's mail tells, when it is written: for a burnout watch notice
    to someone who holds the coordinator role now, telling of someone rising, the names of
    those rising this month; [] for every other notice. None: the coordinator's names are not
    known yet (no row of the notice's month asked with names): the mail waits for them."""
    if notice.rule != "burnout_watch" or notice.crew_id not in picture.coordinators:
        return []
    if notice.facts.get("rising", "0") == "0":
        return []
    month = notice.facts.get("month", "")
    if load is None or not load.named or load.period_start.isoformat()[:7] != month:
        return None
    return list(load.rising_names)


def month_of(now: datetime.datetime) -> tuple[str, datetime.date]:
    """The month of `now` in house time, as 2030-01, and its first day."""
    local = now.astimezone(HOUSE)
    return f"{local.year:04d}-{local.month:02d}", datetime.date(local.year, local.month, 1)


def findings(load: MonthLoad) -> list[Finding]:
    found: list[Finding] = []
    if load.rising > 0:
        found.append("rising_load")
    if load.top_10pct_share > SHARE_ABOVE and load.contributions >= SHARE_FROM_CONTRIBUTIONS:
        found.append("top_share")
    return found


def burnout_notices(
    picture: Picture,
    load: MonthLoad | None,
    now: datetime.datetime,
    after: datetime.datetime,
) -> list[Due]:
    """What this month's `load` (None: not known, or no contribution yet this month) tells the
    `burnout_watch` subscribers: one notice each per finding and month. A row of another month
    (asked before the month turned) tells nothing."""
    month, first = month_of(now)
    if load is None or load.period_start != first:
        return []
    facts = {
        "month": month,
        "top_10pct_share": f"{load.top_10pct_share:.2f}",
        "rising": str(load.rising),
    }
    return [
        Due(
            crew_id=who,
            notice_id=notice_id("burnout_watch", f"{month}-{finding}", who),
            topic="burnout_watch",
            rule="burnout_watch",
            about=f"{month}-{finding}",
            send_after=after,
            facts={**facts, "finding": finding},
        )
        for finding in findings(load)
        for who in picture.subscribers("burnout_watch")
    ]
