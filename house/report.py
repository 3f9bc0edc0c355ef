"""`crew report`: what the house did in a period, for funders and the municipality.

Counts only: no name and no id. A count of people between 1 and 4 is never shown ("under 5"),
and groups of people under 5 are merged with the next smallest, so no one can be singled out
(docs/coordinator.md). Every figure names the view it came from. `gather` asks the query
service; `build` is pure, over the views' rows; house/report_render.py writes HTML, PDF or CSV.
"""

from __future__ import annotations

import datetime
import statistics
from dataclasses import dataclass, field
from typing import Any

from house import client
from projections import overview

LEAST = 5  # the smallest group of people a figure may show


@dataclass(frozen=True)
class Figure:
    key: str  # what it is: its words are in house/report_render.py
    value: int | float | None  # None: fewer than LEAST people, not shown
    view: str  # the view it was counted from
    section: str


@dataclass(frozen=True)
class Month:
    month: datetime.date
    contributions: int
    people: int | None  # None: fewer than LEAST
    top_10pct_share: float | None  # None: no row, or its crew under LEAST


@dataclass(frozen=True)
class Report:
    start: datetime.date
    end: datetime.date
    figures: list[Figure]
    months: list[Month]
    kinds: list[dict[str, Any]]  # month, kind, contributions; kinds of few people pooled
    outcomes: list[tuple[list[str], int | None]]  # newcomers: merged outcome groups
    views: list[str] = field(default_factory=list)  # every view a figure came from

    def figure(self, key: str) -> Figure:
        return next(f for f in self.figures if f.key == key)


def people(n: int) -> int | None:
    """A count of people as it may be shown: none at all, LEAST or more, or not shown."""
    return n if n == 0 or n >= LEAST else None


def merge_small(groups: dict[str, int]) -> list[tuple[list[str], int | None]]:
    """Groups of people (name -> count), each under LEAST merged with the next smallest until
    every group that has anyone holds LEAST or more; one group left under LEAST is not shown.
    Empty groups stay as they are: they single no one out."""
    merged = [([name], n) for name, n in groups.items() if n > 0]
    while len(merged) > 1:
        merged.sort(key=lambda group: group[1])
        if merged[0][1] >= LEAST:
            break
        (first, a), (second, b) = merged[0], merged[1]
        merged[:2] = [(first + second, a + b)]
    order = list(groups)  # as given: a merged group names its groups in that order too
    shown = [(sorted(names, key=order.index), people(n)) for names, n in merged]
    shown += [([name], 0) for name, n in groups.items() if n == 0]
    return sorted(shown, key=lambda group: order.index(group[0][0]))


def pooled_kinds(rows: list[overview.KindMonth]) -> list[dict[str, Any]]:
    """Contributions by kind and month, a kind of fewer than LEAST people in a month pooled
    into `other` for that month."""
    out: dict[tuple[datetime.date, str], int] = {}
    for row in rows:
        kind = row.kind if row.people >= LEAST else "other"
        out[(row.month, kind)] = out.get((row.month, kind), 0) + row.contributions
    return [{"month": m, "kind": k, "contributions": n} for (m, k), n in sorted(out.items())]


def _months(
    loads: list[overview.MonthLoad],
    kinds: list[overview.KindMonth],
    people_months: list[overview.PeopleMonth],
) -> list[Month]:
    share = {row.period_start: row.top_10pct_share for row in loads if row.crew >= LEAST}
    done: dict[datetime.date, int] = {}
    for row in kinds:
        done[row.month] = done.get(row.month, 0) + row.contributions
    return [
        Month(
            month=row.month,
            contributions=done.get(row.month, 0),
            people=people(row.people),
            top_10pct_share=share.get(row.month),
        )
        for row in people_months
    ]


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.fmean(known), 3) if known else None


def build(
    start: datetime.date,
    end: datetime.date,
    totals: overview.Totals,
    loads: list[overview.MonthLoad],
    kinds: list[overview.KindMonth],
    people_months: list[overview.PeopleMonth],
    funnel: overview.Funnel,
) -> Report:
    t = totals
    shown_loads = [row for row in loads if row.crew >= LEAST]
    before, now = people(t.contributors_before), people(t.contributors)
    first = funnel.days_to_first_contribution
    rows: list[tuple[str, str, str, int | float | None]] = [
        ("meals", "meals_held", "meal_stats", t.meals_held),
        ("meals", "meals_served", "meal_stats", t.meals_served),
        ("meals", "diners_served", "meal_stats", t.diners_served),
        ("meals", "portions", "meal_stats", t.portions),
        ("meals", "cooks", "contributions", people(t.cooks)),
        ("meals", "helpers", "contributions", people(t.helpers)),
        ("cleaning", "cleaning_parties_held", "rota_rows", t.cleaning_parties_held),
        ("cleaning", "cleaning_attendance", "contributions", t.cleaning_attendance),
        ("cleaning", "cleaning_people", "contributions", people(t.cleaning_people)),
        ("cleaning", "shifts_held", "rota_rows", t.shifts_held),
        ("crew", "contributions", "contributions", t.contributions),
        ("crew", "contributors", "contributions", now),
        ("crew", "contributors_before", "contributions", before),
        ("crew", "contributors_change", "contributions", _change(before, now)),
        ("newcomers", "newcomers", "onboarding_funnel", people(funnel.registered)),
        (
            "newcomers",
            "days_to_first_contribution",
            "onboarding_funnel",
            round(first, 1) if first is not None and funnel.first_contribution >= LEAST else None,
        ),
        (
            "load",
            "top_10pct_share",
            "load_balance",
            _mean([r.top_10pct_share for r in shown_loads]),
        ),
        ("load", "gini", "load_balance", _mean([r.gini for r in shown_loads])),
        ("hours", "hours", "contributions", t.hours),
    ]
    open_ = funnel.registered - funnel.welcomed - funnel.redirected
    outcomes = {"welcomed": funnel.welcomed, "redirected": funnel.redirected, "open": open_}
    figures = [Figure(key=k, value=v, view=view, section=s) for s, k, view, v in rows]
    return Report(
        start=start,
        end=end,
        figures=figures,
        months=_months(loads, kinds, people_months),
        kinds=pooled_kinds(kinds),
        outcomes=merge_small(outcomes),
        views=sorted({view for _, _, view, _ in rows}),
    )


def _change(before: int | None, now: int | None) -> int | None:
    return now - before if before is not None and now is not None else None


async def gather(nc: Any, start: datetime.date, end: datetime.date) -> Report:
    """The report for the period, from the query service (the same read-only SQL as
    `crew sql`)."""
    period = (start.isoformat(), end.isoformat())
    totals = await client.rows_of(nc, overview.TOTALS, *period)
    loads = await client.rows_of(nc, overview.MONTH_LOAD, *period)
    kinds = await client.rows_of(nc, overview.KIND_MONTHS, *period)
    people_months = await client.rows_of(nc, overview.PEOPLE_MONTHS, *period)
    funnel = await client.rows_of(nc, overview.FUNNEL, *period)
    return build(start, end, totals[0], loads, kinds, people_months, funnel[0])
