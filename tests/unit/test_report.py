"""The funders' report as pure functions: no group of people under 5 is shown, the figures are
the views' rows, and nothing written holds a name (house/report.py, house/report_render.py)."""

from __future__ import annotations

import datetime

from house import report, report_render
from projections import overview
from services.kiosk.coordinator import since_of

JUNE, JULY = datetime.date(2026, 6, 1), datetime.date(2026, 7, 1)


def test_a_count_of_one_to_four_people_is_not_shown() -> None:
    assert [report.people(n) for n in (0, 1, 4, 5, 12)] == [0, None, None, 5, 12]


def test_small_groups_merge_with_the_next_smallest_until_each_holds_five() -> None:
    merged = report.merge_small({"welcomed": 7, "redirected": 1, "open": 3})
    assert merged == [(["welcomed", "redirected", "open"], 11)]
    assert report.merge_small({"welcomed": 9, "redirected": 2, "open": 4}) == [
        (["welcomed"], 9),
        (["redirected", "open"], 6),
    ]


def test_groups_already_big_enough_or_empty_stay_as_they_are() -> None:
    merged = report.merge_small({"welcomed": 6, "redirected": 0, "open": 5})
    assert merged == [(["welcomed"], 6), (["redirected"], 0), (["open"], 5)]


def test_one_group_under_five_left_alone_is_not_shown() -> None:
    assert report.merge_small({"welcomed": 2, "redirected": 1, "open": 0}) == [
        (["welcomed", "redirected"], None),
        (["open"], 0),
    ]


def test_a_kind_of_fewer_than_five_people_in_a_month_is_pooled_as_other() -> None:
    rows = [
        overview.KindMonth(month=JUNE, kind="meal_helper", contributions=30, people=9),
        overview.KindMonth(month=JUNE, kind="buddy", contributions=2, people=2),
        overview.KindMonth(month=JUNE, kind="shift", contributions=3, people=3),
    ]
    assert report.pooled_kinds(rows) == [
        {"month": JUNE, "kind": "meal_helper", "contributions": 30},
        {"month": JUNE, "kind": "other", "contributions": 5},
    ]


def totals(**changed: int | float) -> overview.Totals:
    values: dict[str, int | float] = dict.fromkeys(overview.Totals.__struct_fields__, 0)
    return overview.Totals(**{**values, "hours": 0.0, **changed})  # type: ignore[arg-type]


def funnel(**changed: int | float | None) -> overview.Funnel:
    values: dict[str, int | float | None] = dict.fromkeys(overview.Funnel.__struct_fields__, 0)
    return overview.Funnel(**{**values, **changed})  # type: ignore[arg-type]


def sample() -> report.Report:
    loads = [
        overview.MonthLoad(period_start=JUNE, contributions=40, contributors=8, crew=10,
                           top_10pct_share=0.3, gini=0.4, rising_load_names=["Anna Holm"]),
        overview.MonthLoad(period_start=JULY, contributions=3, contributors=3, crew=4,
                           top_10pct_share=0.9, gini=0.8, rising_load_names=None),
    ]  # fmt: skip
    kinds = [overview.KindMonth(month=JUNE, kind="meal_helper", contributions=40, people=8)]
    people_months = [
        overview.PeopleMonth(month=JUNE, people=8),
        overview.PeopleMonth(month=JULY, people=3),
    ]
    return report.build(
        JUNE,
        datetime.date(2026, 7, 31),
        totals(meals_held=12, cooks=3, helpers=7, contributors=8, contributors_before=6),
        loads,
        kinds,
        people_months,
        funnel(registered=6, welcomed=4, redirected=1, first_contribution=4,
               days_to_first_contribution=9.0),
    )  # fmt: skip


def test_the_report_hides_small_counts_and_months_of_few_people() -> None:
    made = sample()
    assert made.figure("meals_held").value == 12
    assert made.figure("cooks").value is None  # 3 people
    assert made.figure("helpers").value == 7
    assert made.figure("contributors_change").value == 2
    assert made.figure("days_to_first_contribution").value is None  # 4 people
    # July's crew is 4: its share is left out of the mean, and its people are not shown
    assert made.figure("top_10pct_share").value == 0.3
    assert [(m.people, m.top_10pct_share) for m in made.months] == [(8, 0.3), (None, None)]
    assert made.figure("cooks").view == "contributions"
    assert made.figure("meals_held").view == "meal_stats"


def test_no_name_reaches_the_csv_or_the_html() -> None:
    made = sample()
    for written in (report_render.as_csv(made, "da"), report_render.as_html(made, "en")):
        assert "Anna" not in written
    assert "under 5" in report_render.as_csv(made, "da")
    assert "<svg" in report_render.as_html(made, "da")


def test_a_period_with_nothing_in_it_still_makes_every_format() -> None:
    empty = report.build(JUNE, JULY, totals(), [], [], [], funnel(days_to_first_contribution=None))
    assert report_render.as_pdf(empty, "da").startswith(b"%PDF")
    assert "<svg" not in report_render.as_html(empty, "en")
    assert "meals_held,Meals held,0,meal_stats" in report_render.as_csv(empty, "en")


def test_the_dashboard_charts_the_month_and_the_eleven_before() -> None:
    assert since_of(datetime.date(2026, 12, 5)) == datetime.date(2026, 1, 1)
    assert since_of(datetime.date(2026, 1, 31)) == datetime.date(2025, 2, 1)
