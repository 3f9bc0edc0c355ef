"""The command probes: the stages fold (per-millisecond counts from the service's clock readings)
and the profile's layers."""

from bench.command_stages import BURST, sign_ups, stages
from bench.profile_commands import IDLE, layer_of


def test_a_convoy_shows_as_all_appending_then_a_burst_of_answers() -> None:
    # Two commands: both look up for 1 ms, wait 4 ms on their appends, answered together.
    timed = [
        ("command", 0.0, 0.0059),
        ("command", 0.0, 0.0059),
        ("lookup", 0.0, 0.0009),
        ("lookup", 0.0, 0.0009),
        ("append", 0.001, 0.0051),
        ("append", 0.001, 0.0051),
    ]
    found = stages(timed, concurrency=2, strip_ms=6)
    assert found.commands == 2
    assert found.all_appending == 5 / 6  # milliseconds 1 to 5
    assert found.none_appending == 1 / 6
    assert found.answers_in_bursts == 0.0  # two answers in one millisecond: under BURST
    assert [appends for _, _, appends in found.strip] == [0, 2, 2, 2, 2, 2]
    assert BURST > 2


def test_answers_in_one_millisecond_count_as_a_burst() -> None:
    timed = [("command", 0.0, 0.003)] + [("append", 0.0, 0.0021)] * BURST
    assert stages(timed, concurrency=BURST).answers_in_bursts == 1.0


def test_the_meals_planned_first_are_left_out() -> None:
    from bench.profile_commands import MEALS

    planned = [("command", n * 0.01, n * 0.01 + 0.001) for n in range(MEALS)]
    signed_up = [("command", 5.0, 5.1), ("append", 5.01, 5.05)]
    assert sign_ups(planned + signed_up) == signed_up


def test_a_worker_thread_waiting_is_not_the_service_s_time() -> None:
    worker = "Thread._bootstrap (threading.py:1002);Condition.wait (threading.py:327)"
    loop = "run (crew/service.py:157);EpollSelector.select (selectors.py:468)"
    assert layer_of(worker) is None
    assert layer_of(loop) == IDLE
