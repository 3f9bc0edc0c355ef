"""The query service's wire, for whoever asks it: a request on `crew.query.sql` (SQL, the
values bound to it) and its answer (rows, or an error), and named queries, SQL whose values
are bound and whose rows are typed.

The query service itself (projections/query.py) answers with these; the house's own readers
(the kiosk board and calendar feeds, `crew export`, `crew forget`: projections/queries.py; the
notices service's burnout watch: services/notices/burnout.py) ask with them. A named query's
select list is made from its row Struct's fields, so the columns asked for and the rows
decoded cannot drift apart, and a value is never part of the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

MAX_ROWS = 100_000

Param = str | int | float | bool | None
"""A value bound to a `?` (or `$1`) in the query: a JSON scalar, never spliced into the text."""


class SqlRequest(msgspec.Struct, frozen=True, kw_only=True):
    sql: str
    params: list[Param] = []  # bound in order to the query's `?` placeholders (or `$n`)
    max_rows: int = MAX_ROWS
    as_of: str | None = None  # read by the *_as_of views; the query itself is not rewritten
    version: str | None = None  # a version built side by side (crew rebuild --version)


class SqlResult(msgspec.Struct, frozen=True, kw_only=True, tag_field="status", tag="ok"):
    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    truncated: bool = False  # there are more rows than these: ask again from an offset
    note: str | None = None  # why the answer was cut, when it was
    checkpoint: int | None = None  # the projector's checkpoint the answer was read at


class SqlError(msgspec.Struct, frozen=True, kw_only=True, tag_field="status", tag="error"):
    message: str


SqlReply = SqlResult | SqlError
answer_decoder = msgspec.json.Decoder(SqlReply)  # what crew.query.sql answers


R = TypeVar("R", bound=msgspec.Struct)


@dataclass(frozen=True)
class NamedQuery(Generic[R]):
    """SQL with `$1`, `$2`, ... for `parameters`, whose answer decodes into `row`s."""

    name: str
    row: type[R]
    sql: str
    parameters: tuple[str, ...] = ()

    def ask(self, *values: Param) -> SqlRequest:
        """The request to send: this query with its values bound, in `parameters` order."""
        if len(values) != len(self.parameters):
            raise TypeError(f"{self.name} takes {', '.join(self.parameters) or 'no values'}")
        return SqlRequest(sql=self.sql, params=list(values))

    def rows(self, answer: SqlResult) -> list[R]:
        """The answer's rows as `row` Structs (msgspec.ValidationError if one does not fit)."""
        columns = answer.columns
        return [
            msgspec.convert(dict(zip(columns, row, strict=True)), self.row) for row in answer.rows
        ]


def select(row: type[msgspec.Struct], rest: str) -> str:
    """`select <the row's fields, in order> <rest>`."""
    names = ", ".join(f'"{name}"' for name in row.__struct_fields__)
    return f"select {names} {rest}"


def named(name: str, row: type[R], rest: str, *parameters: str) -> NamedQuery[R]:
    return NamedQuery(name, row, select(row, rest), parameters)
