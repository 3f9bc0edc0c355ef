"""The coordinators' dashboard (/coordinator, docs/coordinator.md): the house at a glance.

`GET /api/v1/coordinator` answers what the page shows, with its charts drawn here as SVG
(services/kiosk/charts.py), and `POST /api/v1/coordinator/sql` runs a coordinator's own query
through the same read-only query service as `crew sql`, and answers CSV or Parquet. Both take a
personal link (`crew link --coordinator <crew_id>`) whose person holds the coordinator role
now: a kiosk token or anyone else's link is 403. Names are shown only here.
"""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, get, post
from litestar.params import Parameter

from crew import subjects
from crew.sql import SqlError, SqlRequest, answer_decoder
from crew.tables import format_rows, parquet_bytes
from projections import overview, queries
from schemas.common import house_today
from services.kiosk import charts
from services.kiosk.app import House, forbidden, json_response, person_of, unavailable
from services.kiosk.pages import page_headers

PAGE = (Path(__file__).parent / "coordinator.html").read_bytes()
PAGE_HEADERS = page_headers(PAGE)
MONTHS_SHOWN = 12  # the charts' months: this one and the eleven before


class Dashboard(msgspec.Struct, kw_only=True):
    """What /coordinator shows (GET /api/v1/coordinator); docs/coordinator.md says each part."""

    checkpoint: int
    today: datetime.date
    since: datetime.date  # the first month of the charts
    coming: list[overview.Coming]  # the next 14 days and what each lacks
    asked: list[overview.AskedForHelp]  # the notices that ask for help, per gap
    months: list[overview.MonthLoad]  # the burnout watch, month by month
    people: list[overview.PersonLoad]  # contributions per person in the window, zeros too
    kinds: list[overview.KindMonth]  # "we are all crew": by kind and month
    people_months: list[overview.PeopleMonth]  # different people per month
    funnel: overview.Funnel  # newcomers who arrived since `since`
    drifting: list[overview.Drifting]
    views: list[overview.ViewColumns]  # for the SQL box
    charts: dict[str, str]  # name -> SVG


def since_of(today: datetime.date) -> datetime.date:
    month = today.year * 12 + today.month - MONTHS_SHOWN  # the first of 11 months before
    return datetime.date(month // 12, month % 12 + 1, 1)


async def coordinator_of(request: Request[Any, Any, Any]) -> str | Response[bytes]:
    """The caller's crew id when their link's person holds the coordinator role now; else the
    answer (401, 403, 429, 503)."""
    house: House = request.app.state.house
    person = person_of(request, "the dashboard needs a coordinator's link, not a kiosk token")
    if isinstance(person, Response):
        return person
    answers = await house.ask(queries.PERSON.ask(person))
    if isinstance(answers, Response):
        return answers
    found = next(iter(queries.PERSON.rows(answers[0])), None)
    if found is None or not found.coordinator:
        return forbidden("the dashboard is for the coordinator role (crew link --coordinator)")
    return person


@get(
    "/api/v1/coordinator",
    summary="The coordinators' dashboard: the house at a glance",
    description="With a personal link whose person holds the coordinator role: the next 14 "
    "days and their gaps, the notices asking for help, the burnout watch by month, "
    "contributions per person and by kind, the newcomers' funnel, who is drifting away, the "
    "views and their columns, and the charts as SVG (`lang` da or en). 401 no or bad token, "
    "403 a kiosk token or someone without the role.",
    security=[{"page_token": []}],
)
async def dashboard(
    request: Request[Any, Any, Any],
    lang: Annotated[Literal["da", "en"], Parameter()] = "da",
) -> Response[bytes]:
    house: House = request.app.state.house
    if isinstance(refused := await coordinator_of(request), Response):
        return refused
    today = house_today()
    since = since_of(today)
    period = (since.isoformat(), today.isoformat())
    asked = [
        overview.COMING.ask(overview.COMING_DAYS),
        overview.ASKED_FOR_HELP.ask(),
        overview.MONTH_LOAD.ask(*period),
        overview.PERSON_LOAD.ask(),
        overview.KIND_MONTHS.ask(*period),
        overview.PEOPLE_MONTHS.ask(*period),
        overview.FUNNEL.ask(*period),
        overview.DRIFTING.ask(),
        overview.VIEW_COLUMNS.ask(),
    ]
    answers = await house.ask(*asked, in_turn=True)
    if isinstance(answers, Response):
        return answers
    shown = Dashboard(
        checkpoint=min(answer.checkpoint or 0 for answer in answers),
        today=today,
        since=since,
        coming=overview.COMING.rows(answers[0]),
        asked=overview.ASKED_FOR_HELP.rows(answers[1]),
        months=overview.MONTH_LOAD.rows(answers[2]),
        people=overview.PERSON_LOAD.rows(answers[3]),
        kinds=overview.KIND_MONTHS.rows(answers[4]),
        people_months=overview.PEOPLE_MONTHS.rows(answers[5]),
        funnel=overview.FUNNEL.rows(answers[6])[0],
        drifting=overview.DRIFTING.rows(answers[7]),
        views=overview.VIEW_COLUMNS.rows(answers[8]),
        charts={},
    )
    shown.charts = await asyncio.to_thread(drawn, shown, lang)
    return json_response(shown, 200)


CHART_WORDS = {
    "da": {
        "load": "Top 10 %'s andel og Gini pr. måned",
        "share": "top 10 %",
        "gini": "Gini",
        "people": "Bidrag pr. person (vinduet), alle med",
        "kinds": "Bidrag efter slags",
        "people_months": "Forskellige personer, der bidrog, pr. måned",
        "funnel": "Nye: fra registreret til fast",
        "steps": "registreret,snak holdt,budt velkommen,første bidrag,fast",
    },
    "en": {
        "load": "Top 10 % share and Gini per month",
        "share": "top 10 %",
        "gini": "Gini",
        "people": "Contributions per person (the window), everyone",
        "kinds": "Contributions by kind",
        "people_months": "Different people who contributed, per month",
        "funnel": "Newcomers: from registered to regular",
        "steps": "registered,conversation held,welcomed,first contribution,regular",
    },
}


def funnel_steps(funnel: overview.Funnel, lang: str) -> list[dict[str, Any]]:
    counts = [
        funnel.registered,
        funnel.conversation,
        funnel.welcomed,
        funnel.first_contribution,
        funnel.regular,
    ]
    names = CHART_WORDS[lang]["steps"].split(",")
    return [{"step": n, "people": c} for n, c in zip(names, counts, strict=True)]


def drawn(shown: Dashboard, lang: str) -> dict[str, str]:
    """The dashboard's charts as SVG (blocking: vl-convert; run in a thread)."""
    w = CHART_WORDS[lang]
    months = [msgspec.to_builtins(row) for row in shown.months]
    people = [{"name": p.display_name, "contributions": p.contributions} for p in shown.people]
    specs = {
        "load": charts.line(
            months, "period_start", {"top_10pct_share": w["share"], "gini": w["gini"]}, w["load"]
        ),
        "people": charts.bars(people, "name", "contributions", w["people"], ordinal=True),
        "kinds": charts.stacked_area(
            [
                {**msgspec.to_builtins(row), "kind": overview.kind_in_words(row.kind, lang)}
                for row in shown.kinds
            ],
            "month",
            "contributions",
            "kind",
            w["kinds"],
        ),
        "people_months": charts.bars(
            [msgspec.to_builtins(row) for row in shown.people_months],
            "month",
            "people",
            w["people_months"],
        ),
        "funnel": charts.bars(
            funnel_steps(shown.funnel, lang), "step", "people", w["funnel"], ordinal=True
        ),
    }
    return {name: charts.svg(spec) for name, spec in specs.items()}


class Query(msgspec.Struct, frozen=True, kw_only=True):
    sql: str
    format: Literal["csv", "parquet"] = "csv"


query_decoder = msgspec.json.Decoder(Query)
QUERY_ROWS = 100_000


@post(
    "/api/v1/coordinator/sql",
    summary="A coordinator's own SQL, downloaded as CSV or Parquet",
    description='Body `{"sql": "select ...", "format": "csv"|"parquet"}`. The query '
    "goes through the same read-only sandbox as `crew sql` (one SELECT, no file access, a time "
    "limit). 200 the file, 400 the query service's refusal or error (its message), 401, 403 "
    "without the coordinator role, 422 a body that is not such an object.",
    security=[{"page_token": []}],
    status_code=200,
)
async def sql(request: Request[Any, Any, Any]) -> Response[bytes]:
    house: House = request.app.state.house
    if isinstance(refused := await coordinator_of(request), Response):
        return refused
    try:
        query = query_decoder.decode(await request.body())
    except (msgspec.DecodeError, RecursionError) as exc:
        return json_response({"status": "invalid", "message": str(exc)[:300]}, 422)
    body = msgspec.json.encode(SqlRequest(sql=query.sql, max_rows=QUERY_ROWS))
    reply = await house.request(subjects.QUERY_SQL, body, {}, timeout=60)
    if reply is None:
        return unavailable()
    try:
        answer = answer_decoder.decode(reply)
    except msgspec.DecodeError:  # not an answer of the query service's
        return json_response({"status": "bad_gateway", "message": "no answer to read"}, 502)
    if isinstance(answer, SqlError):
        return json_response({"status": "error", "message": answer.message}, 400)
    if query.format == "parquet":
        content = await asyncio.to_thread(parquet_bytes, answer.columns, answer.types, answer.rows)
        media = "application/vnd.apache.parquet"
    else:
        content = (format_rows(answer.columns, answer.rows, "csv") + "\n").encode()
        media = "text/csv; charset=utf-8"
    name = f"crew-query.{query.format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    if answer.truncated and answer.note:  # the rows stop short: the page and a client can say so
        headers["X-Crew-Note"] = answer.note
    return Response(content=content, media_type=media, headers=headers)


@get("/coordinator", summary="The coordinators' dashboard", include_in_schema=False)
async def coordinator_page() -> Response[bytes]:
    return Response(content=PAGE, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)
