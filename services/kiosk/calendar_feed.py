"""GET /ical/<crew_id>: a person's calendar feed, behind the secret key `crew ical` gives."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response, get
from litestar.params import FromPath, FromQuery

from projections import activity_queries as aq
from projections import queries
from services.kiosk import ical, tokens
from services.kiosk.app import House, address_of, json_response, matches_id, slow_down, unavailable


@get(
    "/ical/{crew_id:str}",
    summary="A person's calendar feed",
    description="Upcoming meals they cook or help with, cleaning parties, shifts and activities, as iCalendar. "
    "The `key` is the secret from `crew ical <crew_id>`; asking again rotates it.",
)
async def ical_feed(
    request: Request[Any, Any, Any], crew_id: FromPath[str], key: FromQuery[str] = ""
) -> Response[bytes]:
    crew_id = crew_id.removesuffix(".ics")
    house: House = request.app.state.house
    if house.nc is None or not house.ready:
        return unavailable()
    # Every fetch spends, found or not: each costs the house a key lookup and two queries.
    address = address_of(request)
    if wait := house.ical_fetches.wait_s(address):
        return slow_down(wait)
    house.ical_fetches.spend(address)
    if (
        not matches_id(crew_id)
        or not key
        or not await tokens.matches(house.nc, crew_id, key, tokens.ICAL_BUCKET)
    ):
        return json_response({"status": "not_found", "message": "no such calendar"}, 404)
    answers = await house.ask(
        queries.CALENDAR_MEALS.ask(crew_id),
        queries.CALENDAR_ROTA.ask(crew_id),
        aq.CALENDAR_ACTIVITIES.ask(crew_id),
    )
    if isinstance(answers, Response):
        return answers
    meals, rota = queries.CALENDAR_MEALS.rows(answers[0]), queries.CALENDAR_ROTA.rows(answers[1])
    activities = aq.CALENDAR_ACTIVITIES.rows(answers[2])
    body = ical.feed(crew_id, meals, rota, datetime.now(UTC), activities).encode()
    return Response(
        content=body,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "no-store"},
    )
