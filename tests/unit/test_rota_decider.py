"""The rota's rules on plain values. Time comes in with each command, so nothing sleeps."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import rota as r
from services.rota import decider as d
from services.rota.decider import ROTA

CPH = ZoneInfo("Europe/Copenhagen")
MONDAY = datetime.date(2030, 1, 7)  # a Monday; the party is on Thursdays


def at(day: datetime.date, hhmm: str = "09:00") -> datetime.datetime:
    h, m = (int(x) for x in hhmm.split(":"))
    return datetime.datetime(day.year, day.month, day.day, h, m, tzinfo=CPH)


def day(n: int) -> datetime.date:
    return MONDAY + datetime.timedelta(days=n)


PARTY = r.ScheduleSeries(
    series_id="cleaning",
    kind="cleaning_party",
    title="Cleaning party",
    weekdays=[3],
    start="17:00",
    end="19:00",
    starts_on=MONDAY,
    tasks=[r.TaskSpec(task="kitchen", capacity=2), r.TaskSpec(task="floors", capacity=3)],
    weeks_ahead=4,
    claim_confirm_days=2,
    at=at(MONDAY),
)
THU1, THU2, THU3, THU4 = (f"cleaning-{day(3 + 7 * w):%Y%m%d}" for w in range(4))


def run(
    *commands: r.RotaCommand, series: d.Series | None = None
) -> tuple[d.Series, list[r.RotaEvent]]:
    """Decide each command on the state the previous ones left; refusals raise."""
    state = series or d.initial("cleaning")
    events: list[r.RotaEvent] = []
    for command in commands:
        new = d.decide(state, command)
        for event in new:
            state = d.evolve(state, event)
        events += new
    return state, events


def occ(series: d.Series, occurrence: str) -> d.Occurrence:
    return series.occurrences[occurrence]


def test_a_weekly_cleaning_party_is_scheduled_weeks_ahead() -> None:
    series, events = run(PARTY)
    scheduled = [e.occurrence_id for e in events if isinstance(e, r.OccurrenceScheduled)]
    assert scheduled == [THU1, THU2, THU3, THU4]
    assert occ(series, THU1).day == day(3) and occ(series, THU1).start == "17:00"


def test_advancing_the_calendar_schedules_the_next_weeks_and_nothing_twice() -> None:
    series, _ = run(PARTY)
    series, events = run(r.AdvanceCalendar(series_id="cleaning", at=at(day(7))), series=series)
    assert [e.occurrence_id for e in events if isinstance(e, r.OccurrenceScheduled)] == [
        f"cleaning-{day(31):%Y%m%d}"
    ]
    assert d.decide(series, r.AdvanceCalendar(series_id="cleaning", at=at(day(7)))) == []


def test_people_join_take_tasks_and_a_full_team_says_so() -> None:
    series, events = run(
        PARTY,
        r.JoinCleaningParty(occurrence_id=THU1, crew_id="anna", at=at(MONDAY)),
        r.TakeTask(occurrence_id=THU1, crew_id="bo", task="kitchen", at=at(MONDAY)),
        r.TakeTask(occurrence_id=THU1, crew_id="carla", task="kitchen", at=at(MONDAY)),
    )
    assert occ(series, THU1).people == ("anna", "bo", "carla")
    assert [type(e).__name__ for e in events[-2:]] == ["JoinedCleaningParty", "TookTask"]
    with pytest.raises(d.TaskFull) as refusal:
        d.decide(
            series, r.TakeTask(occurrence_id=THU1, crew_id="anna", task="kitchen", at=at(MONDAY))
        )
    assert refusal.value.code == "task_full" and "kitchen team is full" in refusal.value.message
    with pytest.raises(d.UnknownTask):
        d.decide(series, r.TakeTask(occurrence_id=THU1, crew_id="anna", task="roof", at=at(MONDAY)))


def test_check_in_is_on_the_day_and_a_walk_in_joins_the_party() -> None:
    series, _ = run(PARTY)
    with pytest.raises(d.NotToday):
        d.decide(series, r.CheckIn(occurrence_id=THU1, crew_id="anna", at=at(MONDAY)))
    series, events = run(
        r.CheckIn(occurrence_id=THU1, crew_id="anna", at=at(day(3), "17:05")), series=series
    )
    assert [type(e).__name__ for e in events] == ["JoinedCleaningParty", "CheckedIn"]
    assert occ(series, THU1).checked_in == ("anna",)


def test_moving_one_occurrence_keeps_its_sign_ups() -> None:
    series, _ = run(
        PARTY,
        r.TakeTask(occurrence_id=THU2, crew_id="anna", task="kitchen", at=at(MONDAY)),
        r.MoveOccurrence(
            occurrence_id=THU2,
            date=day(11),
            start="10:00",
            end="12:00",
            reason="holiday",
            at=at(MONDAY),
        ),
    )
    moved = occ(series, THU2)
    assert (moved.day, moved.start, moved.people, dict(moved.task_of)) == (
        day(11),
        "10:00",
        ("anna",),
        {"anna": "kitchen"},
    )
    assert occ(series, THU3).day == day(17)  # the rest of the series is untouched


def test_changing_the_series_from_a_date_reports_what_happened_to_every_sign_up() -> None:
    series, _ = run(
        PARTY,
        r.TakeTask(occurrence_id=THU1, crew_id="anna", task="kitchen", at=at(MONDAY)),
        r.TakeTask(occurrence_id=THU3, crew_id="bo", task="kitchen", at=at(MONDAY)),
        r.TakeTask(occurrence_id=THU3, crew_id="carla", task="floors", at=at(MONDAY)),
    )
    change = r.ChangeSeries(
        series_id="cleaning",
        effective_from=day(14),
        weekdays=[4],  # Fridays from the third week on
        tasks=[r.TaskSpec(task="kitchen", capacity=2)],  # floors are dropped
        at=at(MONDAY),
    )
    series, events = run(change, series=series)
    affected = [
        (e.crew_id, e.outcome, e.moved_to) for e in events if isinstance(e, r.SignUpAffected)
    ]
    fri3 = f"cleaning-{day(18):%Y%m%d}"
    assert affected == [("bo", "moved", fri3), ("carla", "moved", fri3)]
    assert occ(series, THU3).status == "cancelled"
    assert occ(series, THU1).people == ("anna",), "before the change, nothing moves"
    assert occ(series, fri3).people == ("bo", "carla")
    assert dict(occ(series, fri3).task_of) == {"bo": "kitchen"}, "floors no longer exist"
    assert all(isinstance(e, r.SeriesChanged) for e in events[:1])


def test_a_time_change_keeps_sign_ups_and_says_so() -> None:
    series, _ = run(PARTY, r.JoinCleaningParty(occurrence_id=THU2, crew_id="anna", at=at(MONDAY)))
    change = r.ChangeSeries(
        series_id="cleaning", effective_from=day(7), start="18:00", end="20:00", at=at(MONDAY)
    )
    series, events = run(change, series=series)
    kept = [e for e in events if isinstance(e, r.SignUpAffected)]
    assert [(e.crew_id, e.outcome) for e in kept] == [("anna", "kept")]
    assert "18:00-20:00" in kept[0].reason
    with pytest.raises(d.ChangeInThePast):
        d.decide(
            series,
            r.ChangeSeries(
                series_id="cleaning", effective_from=day(-1), start="18:00", at=at(MONDAY)
            ),
        )


def test_a_standing_intention_makes_tentative_claims_released_unless_confirmed_in_time() -> None:
    series, events = run(
        PARTY, r.StateIntention(series_id="cleaning", crew_id="anna", task="kitchen", at=at(MONDAY))
    )
    claimed = [e.occurrence_id for e in events if isinstance(e, r.TentativeClaimMade)]
    assert claimed == [THU1, THU2, THU3, THU4]  # Thursday is 3 days away: more than 2
    series, events = run(
        r.ConfirmClaim(occurrence_id=THU1, crew_id="anna", at=at(MONDAY)), series=series
    )
    assert [type(e).__name__ for e in events] == [
        "ClaimConfirmed",
        "JoinedCleaningParty",
        "TookTask",
    ]
    # Two days before the second Thursday, its unconfirmed claim is released: the place is open again.
    series, events = run(r.AdvanceCalendar(series_id="cleaning", at=at(day(8))), series=series)
    released = [(e.occurrence_id, e.reason) for e in events if isinstance(e, r.ClaimReleased)]
    assert released == [(THU2, "not confirmed 2 days before")]
    assert "anna" not in occ(series, THU2).claims and "anna" in occ(series, THU3).claims
    claims_for_new_week = [e for e in events if isinstance(e, r.TentativeClaimMade)]
    assert [e.occurrence_id for e in claims_for_new_week] == [f"cleaning-{day(31):%Y%m%d}"]


def test_a_tentative_claim_holds_a_place_for_its_owner_only() -> None:
    series, _ = run(
        PARTY,
        r.StateIntention(series_id="cleaning", crew_id="anna", task="kitchen", at=at(MONDAY)),
        r.TakeTask(occurrence_id=THU2, crew_id="bo", task="kitchen", at=at(MONDAY)),
    )
    with pytest.raises(d.TaskFull):
        d.decide(
            series, r.TakeTask(occurrence_id=THU2, crew_id="carla", task="kitchen", at=at(MONDAY))
        )
    events = d.decide(
        series, r.TakeTask(occurrence_id=THU2, crew_id="anna", task="kitchen", at=at(MONDAY))
    )
    assert [type(e).__name__ for e in events] == [
        "ClaimConfirmed",
        "JoinedCleaningParty",
        "TookTask",
    ]


def test_a_hand_over_moves_the_place_and_task_first_come_first_served() -> None:
    series, events = run(
        PARTY,
        r.TakeTask(occurrence_id=THU1, crew_id="anna", task="kitchen", at=at(MONDAY)),
        r.OfferHandOver(occurrence_id=THU1, crew_id="anna", at=at(MONDAY)),
        r.TakeHandOver(occurrence_id=THU1, crew_id="bo", from_crew_id="anna", at=at(MONDAY)),
    )
    assert events[-1] == r.HandOverTaken(
        series_id="cleaning", occurrence_id=THU1, crew_id="bo", from_crew_id="anna", task="kitchen"
    )
    assert occ(series, THU1).people == ("bo",) and dict(occ(series, THU1).task_of) == {
        "bo": "kitchen"
    }
    with pytest.raises(d.NoHandOverOffered):
        d.decide(
            series,
            r.TakeHandOver(occurrence_id=THU1, crew_id="carla", from_crew_id="anna", at=at(MONDAY)),
        )


SHIFT = r.ScheduleSeries(
    series_id="opening",
    kind="shift",
    title="Open the house",
    weekdays=[0, 1, 2, 3, 4],
    start="08:00",
    end="10:00",
    starts_on=MONDAY,
    capacity=1,
    weeks_ahead=1,
    withdrawal_cutoff_hours=24,
    at=at(MONDAY, "06:00"),
)


def test_a_duty_shift_has_a_capacity_and_a_late_withdrawal_is_recorded_without_blame() -> None:
    tue = f"opening-{day(1):%Y%m%d}"
    series, _ = run(
        SHIFT,
        r.SignUpForShift(occurrence_id=tue, crew_id="anna", at=at(MONDAY)),
        series=d.initial("opening"),
    )
    with pytest.raises(d.ShiftFull):
        d.decide(series, r.SignUpForShift(occurrence_id=tue, crew_id="bo", at=at(MONDAY)))
    early = d.decide(
        series, r.WithdrawFromShift(occurrence_id=tue, crew_id="anna", at=at(MONDAY, "07:00"))
    )
    late = d.decide(
        series, r.WithdrawFromShift(occurrence_id=tue, crew_id="anna", at=at(MONDAY, "09:00"))
    )
    assert [e.late for e in early + late] == [False, True]  # type: ignore[attr-defined]
    with pytest.raises(d.WrongKind):
        d.decide(series, r.JoinCleaningParty(occurrence_id=tue, crew_id="bo", at=at(MONDAY)))


def test_unknown_series_and_occurrences_are_refused_by_name() -> None:
    with pytest.raises(d.SeriesNotScheduled):
        d.decide(
            d.initial("cleaning"),
            r.JoinCleaningParty(occurrence_id=THU1, crew_id="anna", at=at(MONDAY)),
        )
    series, _ = run(PARTY)
    with pytest.raises(d.OccurrenceNotFound):
        d.decide(
            series,
            r.JoinCleaningParty(occurrence_id="cleaning-20300108", crew_id="anna", at=at(MONDAY)),
        )


# Properties --------------------------------------------------------------------------------

people = st.sampled_from(["anna", "bo", "carla", "dorte", "emil"])
occurrences = st.sampled_from([THU1, THU2])
tasks = st.sampled_from(["kitchen", "floors"])
moments = st.integers(0, 10).map(lambda n: at(day(n), "12:00"))
party_commands = st.one_of(
    st.builds(r.JoinCleaningParty, occurrence_id=occurrences, crew_id=people, at=moments),
    st.builds(r.LeaveCleaningParty, occurrence_id=occurrences, crew_id=people, at=moments),
    st.builds(r.TakeTask, occurrence_id=occurrences, crew_id=people, task=tasks, at=moments),
    st.builds(r.DropTask, occurrence_id=occurrences, crew_id=people, at=moments),
    st.builds(r.OfferHandOver, occurrence_id=occurrences, crew_id=people, at=moments),
    st.builds(
        r.TakeHandOver, occurrence_id=occurrences, crew_id=people, from_crew_id=people, at=moments
    ),
    st.builds(
        r.StateIntention,
        series_id=st.just("cleaning"),
        crew_id=people,
        task=st.one_of(st.none(), tasks),
        at=moments,
    ),
    st.builds(r.DropIntention, series_id=st.just("cleaning"), crew_id=people, at=moments),
    st.builds(r.ConfirmClaim, occurrence_id=occurrences, crew_id=people, at=moments),
    st.builds(r.AdvanceCalendar, series_id=st.just("cleaning"), at=moments),
    st.builds(
        r.ChangeSeries,
        series_id=st.just("cleaning"),
        effective_from=st.integers(0, 14).map(day),
        tasks=st.lists(
            st.builds(r.TaskSpec, task=tasks, capacity=st.integers(1, 2)),
            max_size=2,
            unique_by=lambda t: t.task,
        ),
        weekdays=st.sampled_from([[3], [4], [3, 4]]),
        at=st.just(at(MONDAY)),
    ),
)


def attempt(series: d.Series, command: r.RotaCommand) -> tuple[d.Series, list[r.RotaEvent]]:
    try:
        events = d.decide(series, command)
    except d.Refusal:
        return series, []
    for event in events:
        series = d.evolve(series, event)
    return series, events


@settings(max_examples=200, deadline=None)
@given(st.lists(party_commands, max_size=30))
def test_no_task_ever_holds_more_people_than_its_capacity(commands: list[r.RotaCommand]) -> None:
    series, log = run(PARTY)
    for command in commands:
        series, events = attempt(series, command)
        log += events
        for o in series.occurrences.values():
            for spec in o.tasks:
                held = sum(1 for t in o.task_of.values() if t == spec.task)
                assert held + o.claimed(spec.task) <= spec.capacity or held <= spec.capacity
                assert held <= spec.capacity
            assert len(o.people) == len(set(o.people))
            assert set(o.task_of) <= set(o.people)
    assert ROTA.fold("cleaning", log) == series, "the fold of the log is the state"


@settings(max_examples=100, deadline=None)
@given(st.lists(party_commands, max_size=25))
def test_replaying_the_same_commands_gives_the_same_events(commands: list[r.RotaCommand]) -> None:
    def replay() -> list[r.RotaEvent]:
        series, log = run(PARTY)
        for command in commands:
            series, events = attempt(series, command)
            log += events
        return log

    assert replay() == replay()


idempotent = st.one_of(
    st.builds(r.JoinCleaningParty, occurrence_id=occurrences, crew_id=people, at=moments),
    st.builds(r.TakeTask, occurrence_id=occurrences, crew_id=people, task=tasks, at=moments),
    st.builds(r.OfferHandOver, occurrence_id=occurrences, crew_id=people, at=moments),
    st.builds(
        r.StateIntention,
        series_id=st.just("cleaning"),
        crew_id=people,
        task=st.one_of(st.none(), tasks),
        at=moments,
    ),
    st.builds(r.AdvanceCalendar, series_id=st.just("cleaning"), at=moments),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(party_commands, max_size=20), idempotent)
def test_a_command_repeated_right_after_it_succeeded_appends_nothing(
    commands: list[r.RotaCommand], command: r.RotaCommand
) -> None:
    series, _ = run(PARTY)
    for earlier in commands:
        series, _ = attempt(series, earlier)
    series, events = attempt(series, command)
    if events:
        assert d.decide(series, command) == []


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.builds(
                r.SignUpForShift,
                occurrence_id=st.just(f"opening-{day(2):%Y%m%d}"),
                crew_id=people,
                at=moments,
            ),
            st.builds(
                r.WithdrawFromShift,
                occurrence_id=st.just(f"opening-{day(2):%Y%m%d}"),
                crew_id=people,
                at=moments,
            ),
            st.builds(
                r.StateIntention,
                series_id=st.just("opening"),
                crew_id=people,
                at=st.just(at(MONDAY)),
            ),
            st.builds(
                r.ConfirmClaim,
                occurrence_id=st.just(f"opening-{day(2):%Y%m%d}"),
                crew_id=people,
                at=moments,
            ),
        ),
        max_size=25,
    )
)
def test_no_shift_ever_holds_more_people_than_its_capacity(commands: list[r.RotaCommand]) -> None:
    series, _ = run(
        r.ScheduleSeries(
            **{**{f: getattr(SHIFT, f) for f in SHIFT.__struct_fields__}, "capacity": 2}
        ),
        series=d.initial("opening"),
    )
    for command in commands:
        series, _ = attempt(series, command)
        for o in series.occurrences.values():
            assert len(o.people) + len(o.claims) <= 2
