"""The named queries (projections/queries.py) on a small house folded into a temporary DuckDB
file, asked the way the query service answers them: through its guards, and over the wire as
JSON. Rows come back typed, values are bound, never spliced into the text."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from crew import subjects
from crew.eventstore import Recorded
from crew.sql import SqlError, SqlRequest, SqlResult, answer_decoder
from projections import queries as q
from projections.projection import Projection
from projections.query import encode_reply, run_query
from schemas import meals as m
from schemas import notices as n
from schemas import onboarding as o
from schemas import rota as r
from schemas.common import house_today
from services.notices.burnout import MONTH_LOAD, MonthLoad

TODAY = house_today()
# the month of the one meal that has happened (m0, three days ago): the burnout watch's month
M0_MONTH = (TODAY - datetime.timedelta(days=3)).replace(day=1)
AT = datetime.datetime(2020, 1, 6, 9, tzinfo=datetime.UTC)


def day(n: int) -> datetime.date:
    return TODAY + datetime.timedelta(days=n)


def house_events() -> list[msgspec.Struct]:
    def occurrence(occurrence_id: str, kind: str, n: int, **more: Any) -> r.OccurrenceScheduled:
        return r.OccurrenceScheduled(
            series_id="s",
            occurrence_id=occurrence_id,
            kind=kind,  # type: ignore[arg-type]
            title=kind.replace("_", " "),
            date=day(n),
            start="10:00",
            end="12:00",
            **more,
        )

    return [
        o.CrewMemberRegistered(person_id="anna", display_name="Anna Holm", registered_at=AT),
        o.CrewMemberRegistered(person_id="bo", display_name="Bo", registered_at=AT),
        o.NewcomerArrived(person_id="n-1", display_name="Nora", arrived_at=AT),  # not welcomed yet
        m.MealPlanned(meal_id="m1", date=day(1), time="17:30", helper_slots=2),
        m.VolunteeredToCook(meal_id="m1", crew_id="anna", role="head_cook"),
        m.VolunteeredToCook(meal_id="m1", crew_id="bo", role="helper"),
        m.SignedUpToEat(meal_id="m1", crew_id="cy", portions=2),
        m.MealPlanned(meal_id="m2", date=day(10), time="18:00", helper_slots=1),  # not this week
        m.MealPlanned(meal_id="m0", date=day(-3), time="18:00", helper_slots=1),  # past
        m.VolunteeredToCook(meal_id="m0", crew_id="anna", role="head_cook"),
        occurrence("c1", "cleaning_party", 2, tasks=[r.TaskSpec(task="kitchen", capacity=2)]),
        r.JoinedCleaningParty(series_id="s", occurrence_id="c1", crew_id="anna"),
        r.TookTask(series_id="s", occurrence_id="c1", crew_id="anna", task="kitchen"),
        occurrence("sh1", "shift", 1, capacity=2),
        r.SignedUpForShift(series_id="s", occurrence_id="sh1", crew_id="bo"),
        occurrence("sh9", "shift", 9, capacity=2),  # past the board's three days
        *standing_arrangements(),
        *notice_choices(),
    ]


def notice_choices() -> list[msgspec.Struct]:
    """Bo set an address and chose two topics, then let one go; Cy chose one and was forgotten."""
    return [
        n.AddressSet(crew_id="bo", email="sealed:x"),
        n.Subscribed(crew_id="bo", topic="weekly_digest"),
        n.Subscribed(crew_id="bo", topic="meal_needs_cook"),
        n.Subscribed(crew_id="bo", topic="weekly_digest"),
        n.Unsubscribed(crew_id="bo", topic="meal_needs_cook"),
        n.Subscribed(crew_id="cy", topic="hand_over"),
        n.NoticesStopped(crew_id="cy", stopped_at=AT),
    ]


def standing_arrangements() -> list[msgspec.Struct]:
    """A weekly cleaning party, changed from a date on; Bo usually does the kitchen, so a
    place is held for him, and Anna said so once and then stopped."""
    kitchen = [r.TaskSpec(task="kitchen", capacity=2)]
    return [
        r.SeriesScheduled(
            series_id="w",
            kind="cleaning_party",
            title="Weekly clean",
            weekdays=[3],
            start="10:00",
            end="12:00",
            starts_on=day(-30),
            tasks=kitchen,
        ),
        r.SeriesChanged(
            series_id="w",
            effective_from=day(5),
            weekdays=[4],
            start="11:00",
            end="13:00",
            tasks=[*kitchen, r.TaskSpec(task="floors", capacity=1)],
        ),
        r.IntentionStated(series_id="w", crew_id="bo", task="kitchen"),
        r.IntentionStated(series_id="w", crew_id="anna", weekdays=[4]),
        r.IntentionDropped(series_id="w", crew_id="anna"),
        r.OccurrenceScheduled(
            series_id="w",
            occurrence_id="w1",
            kind="cleaning_party",
            title="Weekly clean",
            date=day(12),
            start="11:00",
            end="13:00",
            tasks=kitchen,
        ),
        r.TentativeClaimMade(series_id="w", occurrence_id="w1", crew_id="bo", task="kitchen"),
    ]


def recorded(seq: int, event: msgspec.Struct) -> Recorded:
    tag = str(type(event).__struct_config__.tag)
    aggregate = next(
        getattr(event, f)
        for f in ("meal_id", "occurrence_id", "person_id", "series_id", "crew_id")
        if hasattr(event, f)
    )
    return Recorded(
        seq=seq,
        subject=subjects.event_subject(tag, aggregate),
        data=msgspec.json.encode(event),
        headers={subjects.EVENT_TYPE: tag, subjects.OCCURRED_AT: AT.isoformat()},
        recorded_at=AT,
    )


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Projection]:
    projection = Projection(Path(tmp_path_factory.mktemp("views")) / "views.duckdb")
    applied = projection.apply([recorded(n, e) for n, e in enumerate(house_events(), start=1)])
    assert applied.dead == 0
    projection.lock_down()  # as the query service finds it
    yield projection
    projection.close()


def answer(views: Projection, request: SqlRequest) -> SqlResult:
    """As a caller gets it: run behind the guards, sent as JSON, decoded."""
    reply = answer_decoder.decode(encode_reply(run_query(lambda: views.con, request, 10)))
    assert isinstance(reply, SqlResult), reply
    return reply


def test_the_board_reads_this_weeks_meals_the_next_party_the_next_shifts_and_names(
    views: Projection,
) -> None:
    [meal] = q.BOARD_MEALS.rows(answer(views, q.BOARD_MEALS.ask(7)))
    [party] = q.BOARD_CLEANING_PARTY.rows(answer(views, q.BOARD_CLEANING_PARTY.ask()))
    [shift] = q.BOARD_SHIFTS.rows(answer(views, q.BOARD_SHIFTS.ask(3)))
    crew = q.BOARD_CREW.rows(answer(views, q.BOARD_CREW.ask()))
    assert (meal.meal_id, meal.date, meal.head_cook_name, meal.helper_names) == (
        "m1",
        day(1),
        "Anna Holm",
        ["Bo"],
    )
    assert (meal.open_helper_slots, meal.diners, meal.portions) == (1, 1, 2)
    assert party.tasks == [q.Task(task="kitchen", capacity=2, people=["anna"], tentative=[])]
    assert (party.occurrence_id, party.people_names) == ("c1", ["Anna Holm"])
    assert (shift.occurrence_id, shift.people, shift.open_places) == ("sh1", ["bo"], 1)
    assert crew == [  # a newcomer may sign up before their conversation
        q.CrewOnBoard(crew_id="anna", display_name="Anna Holm"),
        q.CrewOnBoard(crew_id="bo", display_name="Bo"),
        q.CrewOnBoard(crew_id="n-1", display_name="Nora", newcomer=True),
    ]


def test_a_calendar_holds_only_that_persons_upcoming_meals_and_shifts(views: Projection) -> None:
    meals = q.CALENDAR_MEALS.rows(answer(views, q.CALENDAR_MEALS.ask("anna")))
    rota = q.CALENDAR_ROTA.rows(answer(views, q.CALENDAR_ROTA.ask("bo")))
    assert meals == [q.CalendarMeal(meal_id="m1", date=day(1), time="17:30", head_cook="anna")]
    assert [s.occurrence_id for s in rota] == ["sh1"]
    assert q.CALENDAR_ROTA.rows(answer(views, q.CALENDAR_ROTA.ask("cy"))) == []


def test_an_export_reads_a_persons_participation_and_contributions(views: Projection) -> None:
    rows = q.PERSON_PARTICIPATION.rows(answer(views, q.PERSON_PARTICIPATION.ask("anna")))
    [counts] = q.PERSON_CONTRIBUTIONS.rows(answer(views, q.PERSON_CONTRIBUTIONS.ask("anna")))
    assert sorted((p.kind, p.occurrence_id) for p in rows) == [
        ("cleaning_party", "c1"),
        ("meal_head_cook", "m0"),
        ("meal_head_cook", "m1"),
    ]
    assert all(p.crew_id == "anna" and p.history for p in rows)
    assert (counts.crew_id, counts.meals_cooked, counts.display_name) == ("anna", 1, "Anna Holm")


@pytest.mark.parametrize(
    ("query", "view"),
    [(q.PERSON_PARTICIPATION, "participation"), (q.PERSON_CONTRIBUTIONS, "crew_contributions")],
)
def test_an_export_carries_every_column_of_its_view_in_order(
    views: Projection, query: q.NamedQuery[Any], view: str
) -> None:
    columns = [row[0] for row in views.con.execute(f"describe {view}").fetchall()]
    assert list(query.row.__struct_fields__) == columns


@pytest.mark.parametrize(
    ("query", "values"),
    [
        (q.BOARD_MEALS, (7,)),
        (q.BOARD_CLEANING_PARTY, ()),
        (q.BOARD_SHIFTS, (3,)),
        (q.BOARD_CREW, ()),
        (q.CALENDAR_MEALS, ("anna",)),
        (q.CALENDAR_ROTA, ("bo",)),
        (q.PERSON_PARTICIPATION, ("anna",)),
        (q.PERSON_CONTRIBUTIONS, ("anna",)),
        (MONTH_LOAD, (M0_MONTH.isoformat(), True)),
        (q.PERSON, ("anna",)),
        (q.CHANGES, ()),
        (q.NEWCOMERS_WAITING, ()),
    ],
)
def test_typed_rows_encode_to_the_json_the_rows_were_sent_as(
    views: Projection, query: q.NamedQuery[Any], values: tuple[str, ...]
) -> None:
    """What the kiosk and `crew export` hand on is what the views answered, key for key."""
    got = answer(views, query.ask(*values))
    assert got.rows, "the house has rows for it"
    as_sent = [dict(zip(got.columns, row, strict=True)) for row in got.rows]
    assert msgspec.json.encode(query.rows(got)) == msgspec.json.encode(as_sent)


def test_the_burnout_watch_reads_one_months_load_with_a_count_of_who_rises(
    views: Projection,
) -> None:
    """The notices service's named query (services/notices/burnout.py) on the real view."""
    [month] = MONTH_LOAD.rows(answer(views, MONTH_LOAD.ask(M0_MONTH.isoformat(), False)))
    # anna cooked m0; bo, crew too, did nothing: the busiest one (of two) did it all
    assert month == MonthLoad(
        period_start=M0_MONTH, contributions=1, crew=2, top_10pct_share=1.0, rising=0
    )
    assert MONTH_LOAD.rows(answer(views, MONTH_LOAD.ask("2000-01-01", False))) == []


def test_the_burnout_watch_counts_who_rises_and_names_them_when_asked(tmp_path: Path) -> None:
    """anna cooks once a month, then five times in April: double her usual and 3 more."""
    cooked = [
        (f"m-{month}-{n}", datetime.date(2025, month, 1 + n))
        for month, times in ((1, 1), (2, 1), (3, 1), (4, 5))
        for n in range(times)
    ]
    events: list[msgspec.Struct] = [
        o.CrewMemberRegistered(person_id="anna", display_name="Anna", registered_at=AT)
    ]
    for meal_id, date in cooked:
        events.append(m.MealPlanned(meal_id=meal_id, date=date, time="18:00", helper_slots=0))
        events.append(m.VolunteeredToCook(meal_id=meal_id, crew_id="anna", role="head_cook"))
    projection = Projection(tmp_path / "views.duckdb")
    try:
        projection.apply([recorded(n, e) for n, e in enumerate(events, start=1)])
        projection.lock_down()
        [april] = MONTH_LOAD.rows(answer(projection, MONTH_LOAD.ask("2025-04-01", False)))
        [march] = MONTH_LOAD.rows(answer(projection, MONTH_LOAD.ask("2025-03-01", True)))
        [named] = MONTH_LOAD.rows(answer(projection, MONTH_LOAD.ask("2025-04-01", True)))
    finally:
        projection.close()
    assert (april.contributions, april.rising, april.rising_names, april.named) == (5, 1, [], False)
    assert (march.contributions, march.rising, march.rising_names) == (1, 0, [])
    # asked with names (for a coordinator), on the everyday query path: her display name
    assert (named.rising, named.rising_names, named.named) == (1, ["Anna"], True)


def test_mentions_counts_the_events_that_name_a_person_by_subject_or_field(
    views: Projection,
) -> None:
    def mentions(person: str) -> int:
        [found] = q.MENTIONS.rows(answer(views, q.MENTIONS.ask(person)))
        return found.events

    assert mentions("cy") == 3  # signed up to eat (a field only), chose a topic, forgotten
    assert mentions("anna") == 7  # registered (by subject), cooked ×2, party, task, usually ×2
    assert mentions("nobody") == 0


def test_a_value_is_bound_never_spliced_into_the_text(views: Projection) -> None:
    sneaky = "anna' or '1'='1"
    request = q.MENTIONS.ask(sneaky)
    assert sneaky not in request.sql and request.params == [sneaky]
    [found] = q.MENTIONS.rows(answer(views, request))
    assert found.events == 0


def test_a_named_query_asked_with_the_wrong_values_is_not_sent() -> None:
    with pytest.raises(TypeError, match="crew_id"):
        q.CALENDAR_MEALS.ask()
    with pytest.raises(TypeError, match="no values"):
        q.BOARD_CREW.ask("anna")


def test_parameters_pass_the_same_guards_as_the_text(views: Projection) -> None:
    def ask(sql: str, *params: Any) -> Any:
        return run_query(lambda: views.con, SqlRequest(sql=sql, params=list(params)), 10)

    assert ask("select count(*) from range(?)", 3).rows == [[3]]
    assert ask("select ? as a, ? as b", "x", None).rows == [["x", None]]
    refused = ask("select * from read_text(?)", str(views.path))
    assert isinstance(refused, SqlError) and "read_text() is not answered" in refused.message
    wrong = ask("select ?", 1, 2)
    assert isinstance(wrong, SqlError), wrong
    big = ask("select length(?)", "x" * 70_000)
    assert isinstance(big, SqlError) and "at most 65,536 bytes" in big.message


def test_a_request_without_parameters_is_as_before() -> None:
    assert msgspec.json.decode(b'{"sql": "select 1"}', type=SqlRequest).params == []
    assert msgspec.json.encode(SqlRequest(sql="select 1")).startswith(b'{"sql":"select 1"')


def test_what_changed_is_newest_first_with_names_and_never_a_sealed_reason(
    views: Projection,
) -> None:
    changes = q.CHANGES.rows(answer(views, q.CHANGES.ask()))
    assert [c.seq for c in changes] == sorted((c.seq for c in changes), reverse=True)
    assert not any(c.type.startswith("notices.") for c in changes)
    assert all(c.reason is None or not c.reason.startswith("sealed:") for c in changes)
    [nora] = q.NEWCOMERS_WAITING.rows(answer(views, q.NEWCOMERS_WAITING.ask()))
    assert (nora.newcomer_id, nora.display_name, nora.conversation_at) == ("n-1", "Nora", None)


def test_a_page_reads_the_series_as_changed_the_persons_intentions_and_held_places(
    views: Projection,
) -> None:
    [series] = q.SERIES_ON_PAGE.rows(answer(views, q.SERIES_ON_PAGE.ask()))
    assert series == q.SeriesOnPage(
        series_id="w",
        kind="cleaning_party",
        title="Weekly clean",
        weekdays=[4],
        start_time="11:00",
        end_time="13:00",
        tasks=["kitchen", "floors"],
        until=None,
    )
    assert q.MY_INTENTIONS.rows(answer(views, q.MY_INTENTIONS.ask("bo"))) == [
        q.IntentionOnPage(series_id="w", weekdays=None, task="kitchen")
    ]
    assert q.MY_INTENTIONS.rows(answer(views, q.MY_INTENTIONS.ask("anna"))) == []  # dropped
    [held] = q.MY_CLAIMS.rows(answer(views, q.MY_CLAIMS.ask("bo")))
    assert (held.occurrence_id, held.date, held.task) == ("w1", day(12), "kitchen")
    assert q.MY_CLAIMS.rows(answer(views, q.MY_CLAIMS.ask("anna"))) == []


def test_a_page_reads_the_persons_latest_places_newest_first(views: Projection) -> None:
    done = q.MY_HISTORY.rows(answer(views, q.MY_HISTORY.ask("anna")))
    assert [(d.kind, d.occurrence_id, d.status) for d in done] == [
        ("cleaning_party", "c1", "joined"),
        ("meal_head_cook", "m1", "signed_up"),
        ("meal_head_cook", "m0", "signed_up"),
    ]


def test_a_page_reads_the_persons_notice_choices_and_never_the_address(views: Projection) -> None:
    [bo] = q.MY_NOTICE_CHOICES.rows(answer(views, q.MY_NOTICE_CHOICES.ask("bo")))
    assert bo == q.NoticeChoices(topics=["weekly_digest"], has_address=True, stopped=False)
    [cy] = q.MY_NOTICE_CHOICES.rows(answer(views, q.MY_NOTICE_CHOICES.ask("cy")))
    assert cy == q.NoticeChoices(topics=[], has_address=False, stopped=True)
    assert q.MY_NOTICE_CHOICES.rows(answer(views, q.MY_NOTICE_CHOICES.ask("anna"))) == []
