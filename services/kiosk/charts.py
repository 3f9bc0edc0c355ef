"""Charts for the coordinators' dashboard and the funders' report: Vega-Lite specifications,
rendered on the server to SVG (or PNG for the PDF) with vl-convert, so no page loads a chart
library and nothing comes from a CDN. docs/coordinator.md says why (page weight, first paint).

A chart is a picture only: every page puts a text table with the same numbers beside it, for
screen readers, so the SVG is marked aria-hidden there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import vl_convert

Row = Mapping[str, Any]
WIDTH, HEIGHT = 520, 220
GREEN = "#2f6f45"
CONFIG = {
    "font": "sans-serif",
    "axis": {"labelFontSize": 12, "titleFontSize": 12},
    "legend": {"labelFontSize": 12, "titleFontSize": 12},
    "view": {"stroke": None},
}


def _spec(rows: Sequence[Row], title: str, mark: Any, encoding: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": title,
        "width": WIDTH,
        "height": HEIGHT,
        "data": {"values": [dict(row) for row in rows]},
        "mark": mark,
        "encoding": encoding,
        "config": CONFIG,
    }


def line(rows: Sequence[Row], x: str, ys: Mapping[str, str], title: str) -> dict[str, Any]:
    """One line per `ys` field (field -> legend label), over the month in `x`."""
    return {
        **_spec(rows, title, {"type": "line", "point": True}, {}),
        "transform": [{"fold": list(ys), "as": ["measure", "value"]}],
        "encoding": {
            "x": {"field": x, "type": "temporal", "timeUnit": "yearmonth", "title": None},
            "y": {"field": "value", "type": "quantitative", "title": None},
            "color": {
                "field": "measure",
                "type": "nominal",
                "title": None,
                "scale": {"domain": list(ys), "range": [GREEN, "#a63a28", "#1a4fa0"]},
                "legend": {"labelExpr": _labels(ys)},
            },
        },
    }


def _labels(names: Mapping[str, str]) -> str:
    """A Vega expression that turns a field name into its label in the legend."""
    cases = " : ".join(f"datum.label == {key!r} ? {label!r}" for key, label in names.items())
    return f"{cases} : datum.label"


def bars(
    rows: Sequence[Row], x: str, y: str, title: str, *, ordinal: bool = False
) -> dict[str, Any]:
    """A bar per row, in the rows' order (`ordinal`: x is a label, not a month)."""
    along = (
        {"field": x, "type": "nominal", "sort": None, "title": None}
        if ordinal
        else {"field": x, "type": "ordinal", "timeUnit": "yearmonth", "title": None}
    )
    encoding = {"x": along, "y": {"field": y, "type": "quantitative", "title": None}}
    return _spec(rows, title, {"type": "bar", "color": GREEN}, encoding)


def stacked_area(rows: Sequence[Row], x: str, y: str, colour: str, title: str) -> dict[str, Any]:
    encoding = {
        "x": {"field": x, "type": "temporal", "timeUnit": "yearmonth", "title": None},
        "y": {"field": y, "type": "quantitative", "stack": "zero", "title": None},
        "color": {"field": colour, "type": "nominal", "title": None},
    }
    return _spec(rows, title, "area", encoding)


def svg(spec: Mapping[str, Any]) -> str:
    return str(vl_convert.vegalite_to_svg(dict(spec)))


def png(spec: Mapping[str, Any]) -> bytes:
    return bytes(vl_convert.vegalite_to_png(dict(spec), scale=2))
