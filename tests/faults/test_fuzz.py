"""Fuzzing: Hypothesis-made commands against every decider, and any body at all against every
command subject of real services. No crash, no timeout, no event from invalid input."""

from __future__ import annotations

import asyncio
import datetime
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crew import subjects
from crew.decider import Decider, Refusal
from schemas import notices as nt
from schemas.meals import PlanMeal
from schemas.registry import COMMAND_TYPES
from services.activities.decider import ACTIVITIES
from services.meals.decider import MEALS
from services.notices.decider import NOTICES
from services.onboarding.decider import ONBOARDING
from services.rota.decider import ROTA
from tests.faults.harness import events_by_command, fleet, say
from tests.unit.test_activities_decider import ONE_STEP as activity_commands
from tests.unit.test_activities_decider import PLAN as ACTIVITY_PLAN
from tests.unit.test_meals_decider import DAY
from tests.unit.test_meals_decider import commands as meals_commands
from tests.unit.test_onboarding_decider import commands as onboarding_commands
from tests.unit.test_rota_decider import PARTY, party_commands

DECIDERS: list[Decider[Any]] = [MEALS, ROTA, ONBOARDING, NOTICES, ACTIVITIES]
IDS = st.sampled_from(["a", "b", "c"])
NOON = datetime.datetime(2030, 1, 7, 12, 0, tzinfo=datetime.UTC)


def well_typed(kind: type[msgspec.Struct]) -> st.SearchStrategy[msgspec.Struct]:
    """Commands of this type, addressing a few aggregates and people, so they meet."""
    ids = {f: IDS for f in kind.__struct_fields__ if f.endswith("_id")}
    return st.builds(kind, **ids)


def valid(command: msgspec.Struct) -> msgspec.Struct | None:
    """The command as the shell would hand it over (decoded, so constraints checked; timed)."""
    try:
        checked = msgspec.json.decode(msgspec.json.encode(command), type=type(command))
    except msgspec.ValidationError:
        return None
    if "at" in checked.__struct_fields__ and checked.at is None:
        checked = msgspec.structs.replace(checked, at=NOON)
    return checked


# What the deciders' own property tests use: commands that meet a planned meal, a scheduled
# cleaning party, one newcomer. Mixed in, so that many commands get past "not planned".
OPENINGS: dict[str, list[msgspec.Struct]] = {
    "meals": [PlanMeal(meal_id="m1", date=DAY, helper_slots=2, seats=10)],
    "rota": [PARTY],
    "onboarding": [],
    "notices": [
        nt.SetAddress(crew_id="a", email="a@example.org"),
        nt.Subscribe(crew_id="a", topic="meal_needs_cook"),
    ],
    "activities": [ACTIVITY_PLAN],
}
NOTICES_COMMANDS = st.sampled_from(
    [
        nt.RecordNotice(
            crew_id="a",
            notice_id="b",
            topic="meal_needs_cook",
            rule="meal_needs_cook",
            about="m1",
            send_after=NOON,
        ),
        nt.MarkSent(crew_id="a", notice_id="b"),
        nt.CancelNotice(crew_id="a", notice_id="b"),
        nt.GiveUpNotice(crew_id="a", notice_id="b", code=550),
        nt.Unsubscribe(crew_id="a", topic="meal_needs_cook"),
        nt.StopNotices(crew_id="a"),
    ]
)
DOMAIN = {
    "meals": meals_commands,
    "rota": party_commands,
    "onboarding": onboarding_commands,
    "notices": NOTICES_COMMANDS,
    "activities": activity_commands,
}


def commands_of(decider: Decider[Any]) -> st.SearchStrategy[msgspec.Struct]:
    generic = st.one_of(*(well_typed(kind) for kind in decider.commands.values()))
    return st.one_of(generic, DOMAIN[decider.context])


@pytest.mark.parametrize("decider", DECIDERS, ids=lambda d: d.context)
def test_every_decider_takes_any_well_typed_command_without_crashing(
    decider: Decider[Any],
) -> None:
    outcomes: Counter[str] = Counter()

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(commands_of(decider), min_size=1, max_size=16))
    def run(commands: list[msgspec.Struct]) -> None:
        made = [*OPENINGS[decider.context], *commands]
        checked = [c for c in (valid(c) for c in made) if c is not None]
        assume(checked)
        states: dict[str, Any] = {}
        for command in checked:
            aggregate = decider.aggregate_of(command)
            state = states.get(aggregate, decider.initial(aggregate))
            try:
                events = decider.decide(state, command)
            except Refusal as refusal:
                assert refusal.code and refusal.message
                outcomes["refused"] += 1
                continue
            assert all(isinstance(e, tuple(decider.event_types)) for e in events)
            for event in events:
                state = decider.evolve(state, event)
            states[aggregate] = state
            outcomes["decided" if events else "already so"] += 1

    run()
    say(f"decider {decider.context}: {sum(outcomes.values())} commands, {dict(outcomes)}")
    assert outcomes["decided"] and outcomes["refused"], (
        "the fuzz reached the rules, not only the door"
    )


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | IDS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def bodies(kind: type[msgspec.Struct]) -> st.SearchStrategy[bytes]:
    """Well-typed, half-right, wrong and not even JSON."""
    fields = list(kind.__struct_fields__)
    half_right = st.dictionaries(
        st.sampled_from([*fields, "surprise"]), JSON, max_size=len(fields) + 1
    )
    return st.one_of(
        well_typed(kind).map(msgspec.json.encode),
        half_right.map(msgspec.json.encode),
        JSON.map(msgspec.json.encode),
        st.binary(max_size=200),
    )


ALL_COMMANDS = st.sampled_from(sorted(COMMAND_TYPES)).flatmap(
    lambda name: st.tuples(st.just(name), bodies(COMMAND_TYPES[name]))
)


async def test_every_command_subject_answers_any_body_and_invalid_input_appends_nothing(
    tmp_path: Path,
) -> None:
    services = (
        "services.meals",
        "services.rota",
        "services.onboarding",
        "services.notices",
        "services.activities",
    )
    replies: dict[str, str] = {}
    async with fleet(tmp_path / "home", *services) as (house, nc):
        loop = asyncio.get_running_loop()

        @settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
        @given(ALL_COMMANDS)
        def run(command: tuple[str, bytes]) -> None:  # Hypothesis runs in a thread; NATS here
            name, body = command
            context, _, verb = name.partition(".")
            command_id = f"fuzz-{len(replies)}"
            request = nc.request(
                subjects.command_subject(context, verb),
                body,
                headers={subjects.COMMAND_ID: command_id},
                timeout=10,
            )
            reply = asyncio.run_coroutine_threadsafe(request, loop).result()  # a timeout raises
            status = msgspec.json.decode(reply.data)["status"]
            assert status in ("accepted", "refused", "invalid"), reply.data
            replies[command_id] = status

        await asyncio.to_thread(run)
        caused = await events_by_command(nc)
        from_invalid = [c for c, s in replies.items() if s == "invalid" and caused[c]]
        counts = Counter(replies.values())
        say(
            f"command subjects fuzzed: {len(replies)} requests, {dict(counts)}; "
            f"events from invalid input: {len(from_invalid)}; every service still up"
        )
        assert not from_invalid
        assert all(p.poll() is None for p in house.processes), "a service died"
        assert counts["invalid"] and (counts["accepted"] or counts["refused"])
