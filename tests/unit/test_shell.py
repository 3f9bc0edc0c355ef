"""The shared command shell over the in-memory store: decoding, idempotency, conflicts."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import gc
from collections.abc import Sequence

import msgspec
import pytest
import structlog

from crew import logs
from crew.eventstore import ConcurrencyConflict, InMemoryEventStore, NewEvent, StoreUnavailable
from crew.shell import MAX_ATTEMPTS, MAX_BODY_BYTES, CommandMeta, CommandShell
from schemas import meals as m
from schemas.common import Accepted, EventRef, Invalid, Refused, Unavailable
from services.meals.decider import MEALS
from tests.polling import eventually_async

PLAN = b'{"meal_id":"m1","date":"2030-01-07","helper_slots":2}'


def headers(command_id: str) -> dict[str, str]:
    return {"Crew-Command-Id": command_id, "Crew-Actor": "anna", "Crew-Source": "test"}


async def send(shell: CommandShell, command: str, body: bytes, command_id: str) -> dict:
    return msgspec.json.decode(
        await shell.handle(f"crew.cmd.meals.{command}", headers(command_id), body)
    )


@pytest.fixture
async def planned() -> tuple[CommandShell, InMemoryEventStore]:
    store = InMemoryEventStore()
    shell = CommandShell(MEALS, store)
    assert (await send(shell, "plan_meal", PLAN, "plan"))["status"] == "accepted"
    return shell, store


@pytest.mark.parametrize(
    ("command", "body", "path"),
    [
        ("volunteer_to_cook", b'{"meal_id":"m1","crew_id":7,"role":"helper"}', "$.crew_id"),
        ("volunteer_to_cook", b'{"meal_id":"m1","role":"helper"}', "$.crew_id"),
        ("volunteer_to_cook", b'{"meal_id":"m1","crew_id":"a","role":"boss"}', "$.role"),
        ("volunteer_to_cook", b'{"meal_id":"m.1","crew_id":"a","role":"helper"}', "$.meal_id"),
        ("volunteer_to_cook", b'{"meal_id":"m1","crew_id":"a b","role":"helper"}', "$.crew_id"),
        ("plan_meal", b'{"meal_id":"m2","date":"yesterday","helper_slots":2}', "$.date"),
        ("plan_meal", b'{"meal_id":"m2","date":"2030-01-07","helper_slots":-1}', "$.helper_slots"),
        ("volunteer_to_cook", b"not json", "$"),
        ("volunteer_to_cook", b"[]", "$"),
        ("fly_to_the_moon", b"{}", "$"),
        ("volunteer_to_cook", b'{"meal_id":"' + b"x" * MAX_BODY_BYTES + b'"}', "$"),
        # `$` in a pattern lets a final newline through; as a subject token it then failed
        ("volunteer_to_cook", b'{"meal_id":"m1\\n","crew_id":"a","role":"helper"}', "$.meal_id"),
        ("plan_meal", b'{"meal_id":"m1\\n","date":"2030-01-07","helper_slots":2}', "$.meal_id"),
        ("volunteer_to_cook", b'{"meal_id":"m1","crew_id":"a\\n","role":"helper"}', "$.crew_id"),
        # deeper than msgspec's recursion limit, in a field and as the whole body
        ("volunteer_to_cook", b"[" * 60_000, "$"),
        ("volunteer_to_cook", b'{"meal_id":' + b"[" * 60_000, "$.meal_id"),
        ("volunteer_to_cook", b'{"note":' + b"[" * 30_000 + b"]" * 30_000 + b"}", "$"),
    ],
)
async def test_bad_input_is_invalid_names_the_field_and_appends_nothing(
    planned: tuple[CommandShell, InMemoryEventStore], command: str, body: bytes, path: str
) -> None:
    shell, store = planned
    before = len(store.log)
    reply = await send(shell, command, body, "bad")
    assert reply["status"] == "invalid"
    assert reply["errors"][0]["path"] == path
    assert len(store.log) == before


async def test_a_missing_or_malformed_command_id_is_invalid(
    planned: tuple[CommandShell, InMemoryEventStore],
) -> None:
    shell, _ = planned
    for bad in ("", "has space", "x" * 65, "ok\n"):
        raw = await shell.handle(
            "crew.cmd.meals.close_meal", {"Crew-Command-Id": bad}, b'{"meal_id":"m1"}'
        )
        reply = msgspec.json.decode(raw)
        assert reply["status"] == "invalid"
        assert reply["errors"][0]["path"] == "header:Crew-Command-Id"


async def test_a_retry_gets_the_same_reply_and_appends_nothing(
    planned: tuple[CommandShell, InMemoryEventStore],
) -> None:
    shell, store = planned
    body = b'{"meal_id":"m1","crew_id":"anna","role":"helper"}'
    first = await send(shell, "volunteer_to_cook", body, "c1")
    count = len(store.log)
    assert await send(shell, "volunteer_to_cook", body, "c1") == first
    fresh_shell = CommandShell(MEALS, store)  # another instance, empty cache
    assert await send(fresh_shell, "volunteer_to_cook", body, "c1") == first
    assert len(store.log) == count


async def test_a_refusal_is_replayed_too(planned: tuple[CommandShell, InMemoryEventStore]) -> None:
    shell, _ = planned
    body = b'{"meal_id":"m1","crew_id":"zed"}'
    first = await send(shell, "withdraw", body, "w1")
    assert first["code"] == "not_signed_up"
    assert await send(shell, "withdraw", body, "w1") == first


async def test_reusing_a_command_id_for_another_command_is_refused(
    planned: tuple[CommandShell, InMemoryEventStore],
) -> None:
    shell, store = planned
    await send(
        shell, "volunteer_to_cook", b'{"meal_id":"m1","crew_id":"anna","role":"helper"}', "c1"
    )
    await send(shell, "withdraw", b'{"meal_id":"m1","crew_id":"zed"}', "c2")  # refused
    count = len(store.log)
    for command, body, reused in (
        ("withdraw", b'{"meal_id":"m1","crew_id":"anna"}', "c1"),
        ("close_meal", b'{"meal_id":"m1"}', "c2"),
        ("withdraw", b'{"meal_id":"m2","crew_id":"zed"}', "c2"),
    ):
        reply = await send(shell, command, body, reused)
        assert reply["code"] == "command_id_reused", (command, reused)
    assert len(store.log) == count


async def test_an_id_reused_on_another_meal_is_refused_also_by_a_fresh_instance(
    planned: tuple[CommandShell, InMemoryEventStore],
) -> None:
    _, store = planned
    count = len(store.log)
    other = b'{"meal_id":"m2","date":"2030-01-08","helper_slots":2}'
    reply = await send(CommandShell(MEALS, store), "plan_meal", other, "plan")  # after a restart
    assert reply["code"] == "command_id_reused"
    assert len(store.log) == count
    assert "plan" not in store.outcomes  # its event is the record (Nats-Msg-Id), in one write


async def test_the_first_command_keeps_its_reply_when_its_id_was_reused_for_a_refusal(
    planned: tuple[CommandShell, InMemoryEventStore],
) -> None:
    """An accepted command's event is its record; a reuse of its id that appends nothing is
    kept in the bucket. The first command's retry is still answered from its events."""
    shell, store = planned
    body = b'{"meal_id":"m1","crew_id":"anna","role":"helper"}'
    first = await send(shell, "volunteer_to_cook", body, "c1")
    reused = await send(
        CommandShell(MEALS, store), "withdraw", b'{"meal_id":"m9","crew_id":"a"}', "c1"
    )
    assert reused["status"] == "refused"
    count = len(store.log)
    for instance in (shell, CommandShell(MEALS, store)):
        assert await send(instance, "volunteer_to_cook", body, "c1") == first
    assert len(store.log) == count


class EverConflictingStore(InMemoryEventStore):
    """Someone else always appended first."""

    async def append(
        self, context: str, aggregate_id: str, expected: int, events: Sequence[NewEvent]
    ) -> list[int]:
        raise ConcurrencyConflict(f"{aggregate_id} moved on")


async def test_a_writer_that_always_loses_the_race_gives_up_with_a_plain_retry_answer() -> None:
    shell = CommandShell(MEALS, EverConflictingStore())
    reply = await send(shell, "plan_meal", PLAN, "plan")
    assert reply["status"] == "unavailable"
    assert f"changed by others on each of {MAX_ATTEMPTS} tries" in reply["message"]


async def test_a_retry_queued_behind_another_command_gets_the_first_answer_not_a_new_one(
    planned: tuple[CommandShell, InMemoryEventStore],
) -> None:
    shell, store = planned
    await send(
        shell, "volunteer_to_cook", b'{"meal_id":"m1","crew_id":"anna","role":"head_cook"}', "h"
    )
    bo = b'{"meal_id":"m1","crew_id":"bo","role":"head_cook"}'
    first, _, retry = await asyncio.gather(
        send(shell, "volunteer_to_cook", bo, "x"),
        send(shell, "withdraw", b'{"meal_id":"m1","crew_id":"anna"}', "w"),  # frees the slot
        send(shell, "volunteer_to_cook", bo, "x"),
    )
    assert first["code"] == "head_cook_taken"
    assert retry == first
    assert [r.headers["Crew-Causation-Id"] for r in store.log] == ["plan", "h", "w"]


async def test_an_aggregates_lock_lasts_while_commands_hold_or_wait_for_it_and_no_longer(
    planned: tuple[CommandShell, InMemoryEventStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    shell, store = planned
    gate, append = asyncio.Event(), store.append

    async def held_up(*args: object) -> list[int]:
        await gate.wait()
        return await append(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "append", held_up)
    helpers = [b'{"meal_id":"m1","crew_id":"%s","role":"helper"}' % who for who in (b"a", b"b")]
    sent = [
        asyncio.create_task(send(shell, "volunteer_to_cook", b, f"v{n}"))
        for n, b in enumerate(helpers)
    ]
    # The first appends (held up), the second waits for the lock.
    await eventually_async(lambda: shell._lock_users == {"m1": 2}, every=0.001)
    assert set(shell._locks) == {"m1"}
    gate.set()
    replies = await asyncio.gather(*sent)
    assert [r["status"] for r in replies] == ["accepted", "accepted"]
    assert not shell._locks, "an idle aggregate holds no lock"


class LostAckStore(InMemoryEventStore):
    """The append lands, but the service never hears back: like a crash between append and reply."""

    lose_acks = True

    async def append(
        self, context: str, aggregate_id: str, expected: int, events: Sequence[NewEvent]
    ) -> list[int]:
        seqs = await super().append(context, aggregate_id, expected, events)
        if self.lose_acks:
            raise StoreUnavailable("the ack was lost")
        return seqs


async def test_a_crash_between_append_and_reply_still_gives_the_original_events() -> None:
    store = LostAckStore()
    store.lose_acks = False
    await send(CommandShell(MEALS, store), "plan_meal", PLAN, "plan")
    store.lose_acks = True
    body = b'{"meal_id":"m1","crew_id":"anna","role":"helper"}'
    assert (await send(CommandShell(MEALS, store), "volunteer_to_cook", body, "c1"))[
        "status"
    ] == "unavailable"
    appended = [(r.seq, r.type) for r in store.log]
    store.lose_acks = False  # the service came back
    for shell in (CommandShell(MEALS, store), CommandShell(MEALS, store)):
        retry = await send(shell, "volunteer_to_cook", body, "c1")
        assert retry == {
            "status": "accepted",
            "events": [{"seq": 2, "type": "meals.volunteered_to_cook"}],
        }
    assert [(r.seq, r.type) for r in store.log] == appended


async def test_what_an_instance_keeps_per_command_is_nothing_the_collector_walks(
    planned: tuple[CommandShell, InMemoryEventStore],
) -> None:
    """A full collection walks every object the collector tracks while every command waits, and
    an instance keeps what each command appended for as long as it holds the aggregate
    (docs/performance.md, "The commands' memory and the collector"). Kept as it appends, and
    as another instance reads it back from the log, a command's record is never one of them,
    and a retry still gets every event of a command that appended two."""
    shell, store = planned
    for n in range(3):  # two helper places: the third waits
        body = f'{{"meal_id":"m1","crew_id":"p{n}","role":"helper"}}'.encode()
        await send(shell, "volunteer_to_cook", body, f"c{n}")
    withdrawal = b'{"meal_id":"m1","crew_id":"p0"}'
    first = await send(shell, "withdraw", withdrawal, "w")
    assert [e["type"] for e in first["events"]] == [
        "meals.withdrew",
        "meals.promoted_from_waitlist",
    ]
    later = CommandShell(MEALS, store)  # reads every command's events back from the log
    assert await send(later, "withdraw", withdrawal, "w") == first
    gc.collect()
    for instance in (shell, later):
        kept = instance._cache["m1"].causations
        assert set(kept) == {"plan", "c0", "c1", "c2", "w"}
        for caused in kept.values():
            assert not gc.is_tracked(caused)
            assert not gc.is_tracked(caused.seqs)
            assert not gc.is_tracked(caused.types)


async def test_a_retry_of_a_refusal_is_answered_from_the_outcomes_not_decided_again(
    planned: tuple[CommandShell, InMemoryEventStore],
) -> None:
    shell, store = planned
    plan = b'{"meal_id":"m1","date":"2030-02-01","helper_slots":2}'
    first = await send(shell, "plan_meal", plan, "replan")
    assert first["code"] == "meal_already_planned"
    assert "replan" in store.outcomes
    assert await send(CommandShell(MEALS, store), "plan_meal", plan, "replan") == first


async def test_a_stale_instance_reloads_on_conflict_and_decides_on_the_truth() -> None:
    store = InMemoryEventStore()
    a, b = CommandShell(MEALS, store), CommandShell(MEALS, store)
    await send(a, "plan_meal", b'{"meal_id":"m1","date":"2030-01-07","helper_slots":1}', "plan")
    await send(b, "close_meal", b'{"meal_id":"m1"}', "warm-b-cache-refused")  # b caches the meal
    await send(a, "volunteer_to_cook", b'{"meal_id":"m1","crew_id":"anna","role":"helper"}', "c1")
    reply = await send(
        b, "volunteer_to_cook", b'{"meal_id":"m1","crew_id":"bo","role":"helper"}', "c2"
    )
    assert reply["status"] == "refused" and reply["code"] == "meal_closed"


async def test_one_log_line_per_command_with_ids_and_never_the_payload(
    planned: tuple[CommandShell, InMemoryEventStore],
) -> None:
    shell, _ = planned
    body = b'{"meal_id":"m1","crew_id":"anna","portions":2,"diet_note":"SECRET nut allergy"}'
    with structlog.testing.capture_logs(processors=[logs.merge_bound]) as lines:
        await send(shell, "sign_up_to_eat", body, "eat-1")
        await send(shell, "sign_up_to_eat", b'{"meal_id":"m1","crew_id":7}', "eat-2")
    assert [line["event"] for line in lines] == ["command_accepted", "command_invalid"]
    assert lines[0]["aggregate_id"] == "m1" and lines[0]["command_id"] == "eat-1"
    assert "SECRET" not in repr(lines) and "anna" not in repr(lines)


async def test_a_bug_in_a_decider_is_answered_and_logged_by_place_never_by_its_text() -> None:
    def decide(state: object, command: object) -> list[object]:
        raise KeyError(f"no such diet: {command}")  # the text quotes the payload

    shell = CommandShell(dataclasses.replace(MEALS, decide=decide), InMemoryEventStore())
    body = b'{"meal_id":"m1","crew_id":"anna","diet_note":"SECRET nut allergy"}'
    with structlog.testing.capture_logs() as lines:
        reply = await send(shell, "sign_up_to_eat", body, "eat-1")
    assert reply["status"] == "unavailable" and "KeyError" in reply["message"]
    failed = next(line for line in lines if line["event"] == "command_failed")
    assert any("test_shell.py" in frame and "decide" in frame for frame in failed["at"])
    assert "SECRET" not in repr(lines) + repr(reply)


def test_calendar_command_ids_fit_and_differ_per_hour_for_the_longest_series_ids() -> None:
    from services.rota import calendar

    assert calendar  # the id is made in advance(); check its shape through a fake shell
    seen: list[str] = []

    class Recorder:
        async def execute(self, command: object, meta: CommandMeta) -> Accepted:
            seen.append(meta.command_id)
            return Accepted()

    long_id = "s" * 55
    for hour in (1, 2):
        asyncio.run(
            calendar.advance(Recorder(), [long_id], dt.datetime(2030, 1, 2, hour, tzinfo=dt.UTC))
        )  # type: ignore[arg-type]
    assert len(set(seen)) == 2 and all(len(i) <= 64 for i in seen)


# The typed API: what callers in the same process use -----------------------------------------


def meta(command_id: str) -> CommandMeta:
    return CommandMeta(command_id=command_id, actor="anna", source="test")


async def test_execute_answers_with_typed_replies() -> None:
    store = InMemoryEventStore()
    shell = CommandShell(MEALS, store)
    plan = m.PlanMeal(meal_id="m1", date=dt.date(2030, 1, 7), helper_slots=1)

    assert await shell.execute(plan, meta("plan")) == Accepted(
        events=[EventRef(seq=1, type="meals.meal_planned")]
    )
    match await shell.execute(m.Withdraw(meal_id="m1", crew_id="zed"), meta("w1")):
        case Refused(code="not_signed_up"):
            pass
        case other:
            raise AssertionError(other)
    assert [r.headers["Crew-Actor"] for r in store.log] == ["anna"]
    assert store.log[0].headers["Crew-Source"] == "test"
    assert store.log[0].headers["Crew-Correlation-Id"] == "plan"  # none given: the command id


async def test_an_executed_retry_gets_the_same_typed_reply_and_appends_nothing() -> None:
    store = InMemoryEventStore()
    shell = CommandShell(MEALS, store)
    await shell.execute(
        m.PlanMeal(meal_id="m1", date=dt.date(2030, 1, 7), helper_slots=1), meta("p")
    )
    cook = m.VolunteerToCook(meal_id="m1", crew_id="anna", role="helper")
    first = await shell.execute(cook, meta("c1"))
    assert isinstance(first, Accepted) and len(first.events) == 1
    assert await shell.execute(cook, meta("c1")) == first
    assert await CommandShell(MEALS, store).execute(cook, meta("c1")) == first  # a fresh cache
    assert len(store.log) == 2


async def test_execute_checks_a_struct_as_the_wire_would_and_names_the_field() -> None:
    store = InMemoryEventStore()
    shell = CommandShell(MEALS, store)
    # msgspec checks an id's pattern only when it decodes: a Struct made in code is not checked
    bad_id = m.VolunteerToCook(meal_id="m.1", crew_id="anna", role="helper")
    invalid = await shell.execute(bad_id, meta("c1"))
    assert isinstance(invalid, Invalid) and [e.path for e in invalid.errors] == ["$.meal_id"]
    bad_key = await shell.execute(m.CloseMeal(meal_id="m1"), meta("has space"))
    assert isinstance(bad_key, Invalid)
    assert bad_key.errors[0].path == "header:Crew-Command-Id"
    alien = await shell.execute(FlyToTheMoon(), meta("f1"))
    assert isinstance(alien, Invalid) and "unknown command" in alien.errors[0].message
    assert store.log == []


async def test_execute_and_handle_give_the_same_reply_for_the_same_command() -> None:
    plan = m.PlanMeal(meal_id="m1", date=dt.date(2030, 1, 7), helper_slots=1)
    typed = await CommandShell(MEALS, InMemoryEventStore()).execute(plan, meta("plan"))
    raw = await CommandShell(MEALS, InMemoryEventStore()).handle(
        "crew.cmd.meals.plan_meal", headers("plan"), PLAN
    )
    assert msgspec.json.encode(typed) == raw


async def test_an_executed_command_the_store_cannot_take_is_unavailable() -> None:
    shell = CommandShell(MEALS, EverConflictingStore())
    reply = await shell.execute(
        m.PlanMeal(meal_id="m1", date=dt.date(2030, 1, 7), helper_slots=1), meta("plan")
    )
    assert isinstance(reply, Unavailable) and "retry with the same command id" in reply.message


def test_command_meta_reads_and_writes_the_headers_of_the_contract() -> None:
    read = CommandMeta.of_headers(headers("c1"))
    assert read == CommandMeta(command_id="c1", actor="anna", source="test")
    assert read.headers() == headers("c1")
    assert CommandMeta.of_headers({}) == CommandMeta(command_id="", actor="anonymous")
    with_correlation = CommandMeta(command_id="c1", correlation_id="")
    assert with_correlation.headers()["Crew-Correlation-Id"] == ""


class FlyToTheMoon(msgspec.Struct, frozen=True):
    """No context of the house knows this command."""
