"""A view is handed only the events it reads (`reads`): every other event must be one it would
have ignored anyway. For every view, Hypothesis makes events of each type it does not read and
checks that the view would have made no key and no row of them."""

from __future__ import annotations

import datetime
import re
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.activities import ACTIVITIES
from projections.contribution_counts import CONTRIBUTION_COUNTS
from projections.history import History
from projections.meal_plan import MEAL_PLAN
from projections.participation import PARTICIPATION
from projections.projection import VIEWS
from projections.rota import ROTA
from projections.view import AppendView, Fact, KeyedFold, SqlView, View, types_in
from schemas.registry import EVENT_TYPES

IDS = st.sampled_from(["a", "b"])
AT = datetime.datetime(2030, 1, 7, 12, 0, tzinfo=datetime.UTC)


def events_of(kind: type[msgspec.Struct]) -> st.SearchStrategy[msgspec.Struct]:
    ids = {f: IDS for f in kind.__struct_fields__ if f.endswith("_id") or f.endswith("_to")}
    return st.builds(kind, **ids)


def unread(view: View) -> list[str]:
    assert view.reads is not None
    return sorted(set(EVENT_TYPES) - types_in(view.reads))


def made_of(view: View, event: msgspec.Struct) -> list[Any]:
    """The keys or rows the view would make of the event (nothing means it ignores it)."""
    fact = Fact(1, "crew.evt.x.a.y", "", event, {}, AT, b"{}")
    if isinstance(view, KeyedFold):
        return list(view.keys_of(event))
    if isinstance(view, AppendView):
        return list(view.rows(fact))
    if isinstance(view, History):
        return [row for table in view.tables for row in table.rows(fact)]
    raise AssertionError(f"no rule for {view.name}")


FOLDING = [v for v in VIEWS if v.reads is not None and not isinstance(v, SqlView)]
CHECKED = [v for v in FOLDING if v is not CONTRIBUTION_COUNTS]


@pytest.mark.parametrize("view", CHECKED, ids=lambda v: v.name)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_a_view_ignores_every_event_it_does_not_read(view: View, data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(unread(view)))
    event = data.draw(events_of(EVENT_TYPES[kind]))
    assert made_of(view, event) == [], f"{view.name} folds {kind} but does not read it"


def test_the_counts_read_every_event_that_changes_what_they_count() -> None:
    counted = types_in(CONTRIBUTION_COUNTS.reads or ())
    for source in (PARTICIPATION, ROTA, MEAL_PLAN, ACTIVITIES):
        assert types_in(source.reads or ()) <= counted, source.name


def test_sql_views_fold_nothing_and_every_other_view_names_what_it_reads() -> None:
    assert all(v.reads == () for v in VIEWS if isinstance(v, SqlView))
    assert {v.name for v in VIEWS if v.reads is None} == {"event_log"}


def test_no_event_type_is_a_kind_of_another() -> None:
    """The projector matches an event's type exactly; a view's `isinstance` would also match a
    subclass, so none may exist."""
    kinds = list(EVENT_TYPES.values())
    assert not [(a, b) for a in kinds for b in kinds if a is not b and issubclass(a, b)]


def test_an_occurrence_moves_with_every_column_its_contributions_are_counted_by() -> None:
    """What a contribution counts (kind, when, how long) reads these columns of its occurrence:
    an event that changes any of them must count the occurrence's contributions again."""
    from projections.participation import AT, KIND, MINUTES

    read = set(re.findall(r"\b(r|mr|m|a)\.(\w+)", KIND + AT + MINUTES))
    tables = {"r": ROTA, "mr": ROTA, "m": MEAL_PLAN, "a": ACTIVITIES}
    for alias, column in read:
        assert column in tables[alias].moves, f"{tables[alias].name}.{column}"
