"""The activities views, and activities, initiatives and recorded contributions counted in
"we are all crew", on known events folded by the real projection into a real DuckDB file."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from schemas import activities as a
from schemas import meals as m
from schemas import onboarding as o
from schemas import rota as r
from tests.integration import test_views as views

UTC = datetime.UTC
NOW = datetime.datetime.now(UTC).replace(microsecond=0)
LAST_WEEK = NOW - datetime.timedelta(days=7)
NEXT_WEEK = NOW + datetime.timedelta(days=7)


class House(views.House):
    """test_views' house, with the activities context's aggregates."""

    AGGREGATES = ("activity_id", "series_id", "initiative_id", "meal_id", "person_id")
    OTHERWISE = a.BOOK

    def add(self, *events: Any, at: datetime.datetime | None = None) -> None:  # type: ignore[override]
        for event in events:
            super().add(event, at)


@pytest.fixture
def house(tmp_path: Path) -> Iterator[House]:
    built = House(tmp_path / "views.duckdb")
    for who in ("anna", "bo", "cy"):
        built.add(
            o.CrewMemberRegistered(person_id=who, display_name=who.title(), registered_at=NOW)
        )
    yield built
    built.projection.close()


def planned(activity_id: str, start: datetime.datetime, **more: Any) -> a.ActivityPlanned:
    end = start + datetime.timedelta(hours=2)
    return a.ActivityPlanned(
        activity_id=activity_id, title="Repair cafe", starts_at=start, ends_at=end, **more
    )


def test_an_activity_shows_places_waitlist_tasks_and_guests_counted_never_named(
    house: House,
) -> None:
    needs = [a.Need(task="coffee", capacity=2)]
    house.add(
        a.InitiativeStarted(initiative_id="i1", title="Vores Rum", started_by="anna"),
        planned("w1", NEXT_WEEK, capacity=2, open_to_guests=True, initiative_id="i1", needs=needs),
        a.SignedUpForActivity(activity_id="w1", crew_id="anna"),
        a.GuestSignedUp(activity_id="w1", guest_id="g1", display_name="Gitte"),
        a.WaitlistedForActivity(activity_id="w1", crew_id="bo"),
        a.GuestSignedUp(activity_id="w1", guest_id="g2", display_name="Gert", waitlisted=True),
        a.TookActivityTask(activity_id="w1", crew_id="cy", task="coffee"),
    )
    [row] = house.rows("from activities")
    assert row["signed_up"] == ["anna"] and row["waitlist"] == ["bo"]
    assert (row["guests"], row["guests_waiting"], row["open_places"]) == (1, 1, 0)
    assert row["tasks"] == [{"task": "coffee", "capacity": 2, "people": ["cy"]}]
    assert (row["initiative_title"], row["minutes"]) == ("Vores Rum", 120)
    assert row["signed_up_names"] == ["Anna"]
    house.add(a.GuestWithdrew(activity_id="w1", guest_id="g1"))
    house.add(a.PromotedOnActivity(activity_id="w1", crew_id="bo"))
    [row] = house.rows("select signed_up, guests, guests_waiting from activities")
    assert row == {"signed_up": ["anna", "bo"], "guests": 0, "guests_waiting": 1}
    everything = str(house.rows("from activities")) + str(house.rows("from participation"))
    assert "Gitte" not in everything and "Gert" not in everything


def test_initiatives_keep_their_leads_history_and_activity_over_time(house: House) -> None:
    house.add(
        a.InitiativeStarted(initiative_id="i1", title="Vores Rum", started_by="anna"),
        a.JoinedInitiative(initiative_id="i1", crew_id="bo"),
        a.InitiativeHandedOn(initiative_id="i1", from_crew_id="anna", to_crew_id="cy"),
        a.LeftInitiative(initiative_id="i1", crew_id="anna"),
        planned("w1", NEXT_WEEK, initiative_id="i1"),
        planned("w2", NEXT_WEEK, initiative_id="i1"),
        r.SeriesScheduled(
            series_id="vr-fridays",
            kind="shift",
            title="Vores Rum: åbent værksted",
            weekdays=[4],
            start="16:00",
            end="18:00",
            starts_on=NOW.date(),
            initiative_id="i1",
        ),
    )
    [row] = house.rows("from initiatives")
    assert (row["lead"], row["lead_name"], row["members"]) == ("cy", "Cy", ["bo", "cy"])
    assert [lead["crew_id"] for lead in row["leads"]] == ["anna", "cy"]
    assert row["activities"] == 2 and row["activity_by_month"][0]["activities"] == 2
    assert row["series"] == ["vr-fridays"], "an initiative may own series in the rota"


def test_activities_initiatives_and_recorded_contributions_count_one_each_with_minutes(
    house: House,
) -> None:
    house.add(
        planned("w1", LAST_WEEK, capacity=5),
        a.SignedUpForActivity(activity_id="w1", crew_id="anna"),
        a.WaitlistedForActivity(activity_id="w1", crew_id="bo"),  # waiting: not counted
        a.InitiativeStarted(initiative_id="i1", title="Skraldecaféen", started_by="anna"),
        a.ContributionRecorded(contribution_id="c1", crew_id="anna", kind="baked", minutes=45),
        a.ContributionRecorded(
            contribution_id="c2", crew_id="bo", kind="good_atmosphere", on=LAST_WEEK.date()
        ),
        m.MealPlanned(
            meal_id="m1", date=LAST_WEEK.date(), time="12:00", ends_at="13:30", helper_slots=2
        ),
        m.VolunteeredToCook(meal_id="m1", crew_id="anna", role="helper"),
    )
    rows = {
        r["crew_id"]: r
        for r in house.rows(
            "select crew_id, activities, initiatives, recorded_contributions, meals_helped, "
            "contributions, minutes from crew_contributions"
        )
    }
    assert rows["anna"] == {
        "crew_id": "anna",
        "activities": 1,
        "initiatives": 1,
        "recorded_contributions": 1,
        "meals_helped": 1,
        "contributions": 4,
        "minutes": 120 + 45 + 90,
    }
    assert (rows["bo"]["recorded_contributions"], rows["bo"]["contributions"]) == (1, 1)
    kinds = {r["kind"] for r in house.rows("select kind from participation")}
    assert {"activity", "initiative", "contribution", "meal_helper"} <= kinds


def test_cancelling_an_activity_takes_it_out_of_the_counts(house: House) -> None:
    house.add(
        planned("w1", LAST_WEEK),
        a.SignedUpForActivity(activity_id="w1", crew_id="anna"),
        a.ActivityCancelled(activity_id="w1", reason="ill"),
        a.ActivitySignUpAffected(
            activity_id="w1", crew_id="anna", outcome="cancelled", reason="ill"
        ),
    )
    [row] = house.rows("select activities from crew_contributions where crew_id = 'anna'")
    assert row["activities"] == 0


def test_the_house_starts_with_four_kinds_and_adds_its_own(house: House) -> None:
    house.add(a.ContributionKindDefined(kind="sang", label_da="Sang", label_en="Sang"))
    kinds = [r["kind"] for r in house.rows("select kind from contribution_kinds")]
    assert kinds == ["baked", "fixed_something", "good_atmosphere", "sang", "welcomed_guests"]
