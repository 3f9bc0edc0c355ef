"""A keyed fold writes a small batch (a live one) through the table's index; a large one (a
rebuild's) by deleting the rows it found and putting them again, or, in a large table, by
upsert; and it finds a large table's rows through the index, or keeps the rows its live
batches wrote in memory. Every way must leave the same rows: Hypothesis folds the same
batches, with rows made, changed and removed (some in one batch), every way into real DuckDB
tables, and with some batches rolled back."""

from __future__ import annotations

import dataclasses
import datetime

import duckdb
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import projections.view
from projections.view import Fact, KeyedFold, among, forget_kept

AT = datetime.datetime(2030, 1, 7, 12, 0, tzinfo=datetime.UTC)


class Tally(msgspec.Struct):
    key: str
    count: int
    last_seq: int


class Step(msgspec.Struct):
    """One event: add `by` to each key's count; `by` 0 removes the rows."""

    keys: list[str]
    by: int


def fold(before: Tally | None, fact: Fact, key: str) -> Tally | None:
    if fact.event.by == 0:
        return None
    return Tally(key, (before.count if before else 0) + fact.event.by, fact.seq)


TALLY = KeyedFold(
    name="tally",
    ddl="create table tally (key varchar primary key, count integer, last_seq bigint)",
    table="tally",
    key="key",
    row_type=Tally,
    keys_of=lambda step: step.keys,
    fold=fold,
)

KEYS = st.lists(st.sampled_from([f"k{i}" for i in range(12)]), min_size=1, max_size=4)
STEPS = st.lists(st.builds(Step, keys=KEYS, by=st.integers(0, 3)), min_size=1, max_size=8)


def folded(
    batches: list[list[Step]],
    indexed: int,
    large: bool,
    monkeypatch: pytest.MonkeyPatch,
    cached: int = 0,
    undone: frozenset[int] = frozenset(),
    skipped: frozenset[int] = frozenset(),
) -> list:
    """The table after folding the batches; those `undone` are rolled back as the projector
    rolls a batch back, those `skipped` never folded (their seqs are still taken)."""
    monkeypatch.setattr(projections.view, "INDEXED", indexed)
    view = dataclasses.replace(TALLY, large=large, cached=cached)
    con = duckdb.connect()
    con.execute(TALLY.ddl)
    seq = 0
    for number, batch in enumerate(batches):
        facts = []
        for step in batch:
            seq += 1
            facts.append(Fact(seq, "crew.evt.x.a.y", "x.y", step, {}, AT, b"{}"))
        if number in skipped:
            continue
        con.begin()
        view.apply(con, facts)
        if number in undone:
            con.rollback()
            forget_kept(con)
        else:
            con.commit()
    return con.execute("select * from tally order by key").fetchall()


@settings(max_examples=120, deadline=None)
@given(batches=st.lists(STEPS, min_size=1, max_size=5))
def test_every_way_of_writing_a_batch_leaves_the_rows_an_upsert_leaves(
    batches: list[list[Step]],
) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        by_upsert = folded(batches, 0, True, monkeypatch)  # many keys, a large table
        cleared_by_scan = folded(batches, 0, False, monkeypatch)  # many keys, few rows
        through_index = folded(batches, 256, False, monkeypatch)
        found_through_index = folded(batches, 256, True, monkeypatch)
    assert cleared_by_scan == by_upsert
    assert through_index == by_upsert
    assert found_through_index == by_upsert


@settings(max_examples=60, deadline=None)
@given(
    batches=st.lists(STEPS, min_size=1, max_size=6),
    undone=st.frozensets(st.integers(0, 5)),
    most=st.integers(1, 12),
)
def test_rows_kept_in_memory_leave_the_rows_read_from_the_table(
    batches: list[list[Step]], undone: frozenset[int], most: int
) -> None:
    """Kept for up to `most` keys (fewer than the batches touch: some are read again), past
    a batch of more keys than INDEXED (which forgets them), and after rollbacks."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        read = folded(batches, 256, False, monkeypatch, skipped=undone)
        kept = folded(batches, 256, False, monkeypatch, most, undone)
        kept_then_forgotten = folded(batches, 2, False, monkeypatch, most, undone)
        kept_in_a_large_table = folded(batches, 256, True, monkeypatch, most, undone)
    assert kept == read
    assert kept_then_forgotten == read
    assert kept_in_a_large_table == read


def test_among_names_keys_as_constants_up_to_the_limit_and_a_list_past_it() -> None:
    assert among("key", ["a", "b"]) == ("key in (?, ?)", ["a", "b"])
    many = [str(i) for i in range(projections.view.INDEXED + 1)]
    assert among("key", many) == ("key in (select unnest(?))", [many])
    assert among("key", ["a"], indexed=False) == ("key in (select unnest(?))", [["a"]])
