"""The kiosk API, the touch page and each crew member's own page (Litestar, served by uvicorn).

POST /api/v1/commands/<context>/<command> relays what a kiosk, or a crew member with their own
link, may do to the house over NATS: 200 accepted, 409 refused, 422 invalid (field paths), 401
no or bad token, 403 not for this token (a command a kiosk may not send; from a personal page,
a `crew_id` that is not the page's own person), 429 too many taps, 503 with Retry-After when
the bus is down (also while the kiosk, which serves at once, is still reaching it). From a
personal page the actor is the person, and the source `me:<crew_id>`. `Idempotency-Key` becomes `Crew-Command-Id`, so a
tap retried after a lost answer changes nothing twice. A body may not carry `at`: the house's
clock says when a tap happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any

import msgspec
import nats
import nats.errors
import structlog
from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import FromPath, Parameter

from crew import shell, subjects, urls
from crew.settings import Settings
from crew.shell import MAX_BODY_BYTES, too_big, too_deep
from crew.sql import SqlError, SqlRequest, SqlResult, answer_decoder
from projections import activity_queries as aq
from projections import queries
from schemas.common import (
    ID_PATTERN,
    Accepted,
    Invalid,
    Refused,
    Reply,
    StatusReply,
    Unavailable,
    house_today,
    reply_decoder,
)
from services.kiosk import taps, tokens
from services.kiosk.commands import ABOUT_SOMEONE, ACTS_AS, KIOSK_MAY, MEMBER_MAY
from services.kiosk.limits import Bucket
from services.kiosk.tokens import Tokens

log = structlog.get_logger("crew.kiosk")
RETRY_AFTER_S = "5"


_ID = re.compile(ID_PATTERN)
STATUS_OF_REPLY: dict[type[Reply], int] = {
    Accepted: 200,
    Refused: 409,
    Invalid: 422,
    Unavailable: 503,
}


class House:
    def __init__(self, config: Settings, after_started: Callable[[], None] = lambda: None) -> None:
        self.nats_url = config.nats_url
        self.after_started = after_started  # alone, the process freezes its heap (crew/heap.py)
        self.nc: nats.NATS | None = None
        self.tokens = Tokens()  # the kiosks'
        self.pages = Tokens(tokens.PAGE_BUCKET)  # the crew members' own pages'
        self.limits = Bucket(rate=config.kiosk_rate, burst=config.kiosk_burst)
        # Wrong tokens and calendar fetches per client address and minute (the bucket holds as
        # many, so a burst that size passes at once). A tablet with a good token never spends
        # from it; a guesser is answered 429 for everything, good guesses included, until the
        # bucket refills.
        guesses = config.kiosk_guesses_per_minute
        self.guesses = Bucket(rate=guesses / 60, burst=guesses)
        fetches = config.kiosk_ical_per_minute
        self.ical_fetches = Bucket(rate=fetches / 60, burst=fetches)
        self._connecting: asyncio.Task[None] | None = None
        self.link_key = b""  # the key one-tap links are checked with (services/kiosk/taps.py)

    @property
    def ready(self) -> bool:
        """Connected, and the kiosk tokens read: until then every answer is 503, not 401."""
        return (
            self.nc is not None
            and self.nc.is_connected
            and self.tokens.loaded
            and self.pages.loaded
        )

    async def start(self) -> None:
        """Serve at once; reach the bus in the background (a house whose NATS is down still
        gets its tablets an answer: 503 with Retry-After, until the bus is back)."""
        self._connecting = asyncio.create_task(self._connect())

    async def _connect(self) -> None:
        while True:
            try:
                self.nc = await nats.connect(
                    **urls.connection(self.nats_url),
                    name="crew-kiosk",
                    max_reconnect_attempts=-1,  # the first connect waits for the bus, too
                    reconnect_time_wait=1,
                    connect_timeout=3,
                )
                await self.tokens.start(self.nc)
                await self.pages.start(self.nc)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # e.g. the token bucket not there yet: try again
                log.warning("kiosk_connect_failed", error=type(exc).__name__)
                if self.nc is not None:
                    await self.nc.close()
                    self.nc = None
                await asyncio.sleep(1)

        async def status(msg: Any) -> None:
            await msg.respond(msgspec.json.encode(StatusReply(component="kiosk", pid=os.getpid())))

        await self.nc.subscribe(subjects.STATUS, cb=status)
        log.info("kiosk_started")
        self.after_started()

    async def stop(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        await self.tokens.stop()
        await self.pages.stop()
        if self.nc:
            await self.nc.close()

    async def ask(
        self, *requests: SqlRequest, in_turn: bool = False
    ) -> list[SqlResult] | Response[bytes]:
        """The query service's answers to named queries (projections/queries.py); else 503
        when the bus cannot be reached, 502 when the query service said no. `in_turn` asks one
        after another: queries over the heavier views share the query service's memory cap
        (CREW_DUCKDB_MEMORY_LIMIT), and a few of them at once can run out of it."""
        asked = [self.request(subjects.QUERY_SQL, msgspec.json.encode(r), {}) for r in requests]
        raw = [await one for one in asked] if in_turn else await asyncio.gather(*asked)
        if any(body is None for body in raw):
            return unavailable()
        answers = [answer_decoder.decode(body or b"") for body in raw]
        for answer in answers:
            if isinstance(answer, SqlError):
                return json_response({"status": "error", "message": answer.message}, 502)
        return [answer for answer in answers if isinstance(answer, SqlResult)]

    async def request(
        self, subject: str, body: bytes, headers: dict[str, str], timeout: float = 8.0
    ) -> bytes | None:
        """The reply, or None when the bus cannot be reached (never a hang)."""
        if self.nc is None or not self.nc.is_connected:
            return None
        try:
            reply = await self.nc.request(subject, body, headers=headers, timeout=timeout)
        except (
            nats.errors.TimeoutError,
            nats.errors.NoRespondersError,
            nats.errors.ConnectionClosedError,
        ):
            return None
        return bytes(reply.data)


def json_response(
    content: Any, status: int, headers: dict[str, str] | None = None
) -> Response[bytes]:
    body = content if isinstance(content, bytes) else msgspec.json.encode(content)
    return Response(
        content=body, status_code=status, media_type="application/json", headers=headers or {}
    )


def unavailable() -> Response[bytes]:
    message = {
        "status": "unavailable",
        "message": "the house cannot be reached right now; the tap is kept and retried",
    }
    return json_response(message, 503, {"Retry-After": RETRY_AFTER_S})


@dataclass(frozen=True)
class Caller:
    """Who holds the bearer token: a kiosk tablet, or a crew member on their own page."""

    source: str  # "kiosk:<name>" or "me:<crew_id>": the events' source, the tap budget's key
    person: str | None = None  # the page's own person; None for a kiosk

    @property
    def may(self) -> dict[str, frozenset[str]]:
        return KIOSK_MAY if self.person is None else MEMBER_MAY

    @property
    def what(self) -> str:
        return "a kiosk" if self.person is None else "a personal page"


def caller_of(request: Request[Any, Any, Any]) -> Caller | None:
    house: House = request.app.state.house
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    if kiosk := house.tokens.name_of(token.strip()):
        return Caller(source=f"kiosk:{kiosk}")
    if person := house.pages.name_of(token.strip()):
        return Caller(source=f"me:{person}", person=person)
    return None


def address_of(request: Request[Any, Any, Any]) -> str:
    """The client's address. Behind a proxy named in CREW_KIOSK_TRUSTED_PROXIES it is the one
    that proxy saw (uvicorn reads X-Forwarded-For from those peers only; services.kiosk)."""
    return request.client.host if request.client else "unknown"


def slow_down(wait_s: int) -> Response[bytes]:
    return json_response(
        {"status": "slow_down", "message": "too many tries from this address; wait a moment"},
        429,
        {"Retry-After": str(wait_s)},
    )


def authorised(request: Request[Any, Any, Any]) -> Caller | Response[bytes]:
    """Whose the bearer token is, or the answer: 503 while the house cannot be reached, 401, or
    429 once an address has made too many wrong guesses (then nothing from it is checked until
    its bucket refills)."""
    house: House = request.app.state.house
    if not house.ready:
        return unavailable()
    address = address_of(request)
    if wait := house.guesses.wait_s(address):
        return slow_down(wait)
    caller = caller_of(request)
    if caller is None:
        house.guesses.spend(address)
        return unauthorized()
    return caller


def person_of(request: Request[Any, Any, Any], why: str) -> str | Response[bytes]:
    """The person whose personal link the bearer token is; else the answer: 503, 401, 429, or
    403 for a kiosk token, saying `why` it needs a personal link."""
    caller = authorised(request)
    if isinstance(caller, Response):
        return caller
    if caller.person is None:
        return forbidden(why)
    return caller.person


def forbidden(message: str) -> Response[bytes]:
    return json_response({"status": "forbidden", "message": message}, 403)


def unauthorized() -> Response[bytes]:
    return json_response(
        {
            "status": "unauthorized",
            "message": "this needs a kiosk token or a personal link: Authorization: Bearer <token>",
        },
        401,
        {"WWW-Authenticate": "Bearer"},
    )


@post(
    "/api/v1/commands/{context:str}/{command:str}",
    summary="Send a command from a kiosk, or from a crew member's own page",
    description="The body is the command as JSON (see docs/schemas/commands). 200 accepted, 409 refused with a "
    "plain reason, 422 invalid with field paths, 401 no or bad token, 403 not allowed with this token "
    "(a command a kiosk may not send; from a personal page, a crew_id that is not the page's person), "
    "429 too many taps, 503 (Retry-After) when the house cannot be reached. See docs/pages.md.",
    security=[{"kiosk_token": []}, {"page_token": []}],
    status_code=200,
)
async def send_command(
    request: Request[Any, Any, Any], context: FromPath[str], command: FromPath[str]
) -> Response[bytes]:
    house: House = request.app.state.house
    caller = authorised(request)
    if isinstance(caller, Response):
        return caller
    if command not in caller.may.get(context, frozenset()):
        return forbidden(f"{context}.{command} cannot be sent from {caller.what}")
    if not house.limits.allow(caller.source):
        return json_response(
            {"status": "slow_down", "message": "too many taps; wait a moment"},
            429,
            {"Retry-After": "1"},
        )
    key = request.headers.get("idempotency-key", "")
    if not matches_id(key):
        return invalid("header:Idempotency-Key", "required; 1-64 of A-Z a-z 0-9 _ -")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:  # the house answers the same; NATS would not even carry it
        return json_response(too_big(len(body)), 422)
    decoded = _object_of(body)
    if decoded is None:
        return json_response(too_deep(), 422)
    if decoded.get("at") is not None:
        # The house's clock says when a tap happened; a tablet may not backdate a sign-up
        # or check in on another day.
        return invalid("$.at", f"the house sets the time; {caller.what} may not send `at`")
    named = decoded.get(ACTS_AS) if (context, command) not in ABOUT_SOMEONE else None
    if caller.person is not None and isinstance(named, str) and named != caller.person:
        return forbidden(
            f"a personal page acts for its own person only: {ACTS_AS} must be {caller.person}"
        )
    actor = caller.person or _crew_of(decoded) or caller.source
    headers = {subjects.COMMAND_ID: key, subjects.ACTOR: actor, subjects.SOURCE: caller.source}
    reply = await house.request(subjects.command_subject(context, command), body, headers)
    if reply is None:
        return unavailable()
    try:
        answer = reply_decoder.decode(reply)
    except msgspec.DecodeError:  # not a reply of the house's: pass it on as a bad gateway's
        return json_response(reply, 502)
    extra = {"Retry-After": RETRY_AFTER_S} if isinstance(answer, Unavailable) else None
    return json_response(reply, STATUS_OF_REPLY[type(answer)], extra)


def invalid(path: str, message: str) -> Response[bytes]:
    return json_response(shell.invalid(path, message), 422)


def matches_id(value: str) -> bool:
    return _ID.fullmatch(value) is not None


def _object_of(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or {} (the service itself answers what is wrong with it);
    None for a body nested deeper than msgspec decodes (its RecursionError was a 500)."""
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return {}
    except RecursionError:
        return None
    return decoded if isinstance(decoded, dict) else {}


def _crew_of(decoded: dict[str, Any]) -> str | None:
    who = decoded.get("crew_id") or decoded.get("newcomer_id")
    return who if isinstance(who, str) and matches_id(who) else None


class Board(msgspec.Struct, kw_only=True):
    """What the kiosk page shows (GET /api/v1/board)."""

    today: date
    until: date
    checkpoint: int  # how far the views had read the log: a tablet that tapped waits to see it
    meals: list[queries.MealOnBoard]
    cleaning_party: queries.CleaningPartyOnBoard | None
    shifts: list[queries.ShiftOnBoard]
    crew: list[queries.CrewOnBoard]
    activities: list[aq.ActivityOnBoard] = []  # the coming weeks' activities and workshops
    initiatives: list[aq.InitiativeOnBoard] = []
    contribution_kinds: list[aq.KindOnBoard] = []  # what "Jeg har bidraget" offers


KIOSK_DAYS = (7, 3)  # how far ahead the kiosk shows meals, and shifts
MOST_DAYS = 14  # how far ahead anyone may ask (a crew member's own page asks this far)


@get(
    "/api/v1/board",
    summary="What the kiosk page shows",
    description="This week's meals with open cook and helper slots, the next cleaning party with its tasks, "
    "the next duty shifts (3 days), the crew's display names to pick from (newcomers marked), the "
    "activities of the coming weeks (guests counted, never named), the initiatives and the kinds of "
    "contribution. Only "
    "what a passer-by may see. `days` (1-14) shows meals and shifts that many days ahead instead.",
    security=[{"kiosk_token": []}, {"page_token": []}],
)
async def board(
    request: Request[Any, Any, Any],
    days: Annotated[int | None, Parameter(ge=1, le=MOST_DAYS)] = None,
) -> Response[bytes]:
    house: House = request.app.state.house
    if isinstance(refused := authorised(request), Response):
        return refused
    meal_days, shift_days = (days, days) if days else KIOSK_DAYS
    answers = await house.ask(
        queries.BOARD_MEALS.ask(meal_days),
        queries.BOARD_CLEANING_PARTY.ask(),
        queries.BOARD_SHIFTS.ask(shift_days),
        queries.BOARD_CREW.ask(),
        aq.BOARD_ACTIVITIES.ask(aq.ACTIVITY_DAYS),
        aq.BOARD_INITIATIVES.ask(),
        aq.CONTRIBUTION_KINDS.ask(),
    )
    if isinstance(answers, Response):
        return answers
    meals, party, shifts, crew, activities, initiatives, kinds = answers
    shown = Board(
        today=house_today(),
        until=house_today() + timedelta(days=meal_days - 1),
        checkpoint=min(answer.checkpoint or 0 for answer in answers),
        meals=queries.BOARD_MEALS.rows(meals),
        cleaning_party=next(iter(queries.BOARD_CLEANING_PARTY.rows(party)), None),
        shifts=queries.BOARD_SHIFTS.rows(shifts),
        crew=queries.BOARD_CREW.rows(crew),
        activities=aq.BOARD_ACTIVITIES.rows(activities),
        initiatives=aq.BOARD_INITIATIVES.rows(initiatives),
        contribution_kinds=aq.CONTRIBUTION_KINDS.rows(kinds),
    )
    return json_response(shown, 200)


def build_app(config: Settings, after_started: Callable[[], None] = lambda: None) -> Litestar:
    # the pages use this module's House: imported here
    from services.kiosk import calendar_feed, coordinator, pages
    from services.kiosk.openapi import Document

    house = House(config, after_started)
    return Litestar(
        route_handlers=[
            send_command,
            board,
            pages.me,
            coordinator.dashboard,
            coordinator.sql,
            calendar_feed.ical_feed,
            pages.kiosk_page,
            pages.me_page,
            coordinator.coordinator_page,
            pages.script,
            taps.confirm,
            taps.tap,
        ],
        on_startup=[house.start],
        on_shutdown=[house.stop],
        state=State({"house": house}),
        openapi_config=OpenAPIConfig(
            title="crew kiosk API",
            version="1",
            path="/api/v1",
            render_plugins=[
                Document(
                    shown=[
                        ("/api/v1/board", Board),
                        ("/api/v1/me", pages.Me),
                        ("/api/v1/coordinator", coordinator.Dashboard),
                    ]
                )
            ],
            components=Components(
                security_schemes={
                    "kiosk_token": SecurityScheme(
                        type="http", scheme="bearer", description="crew kiosk add <name>"
                    ),
                    "page_token": SecurityScheme(
                        type="http", scheme="bearer", description="crew link <crew_id>"
                    ),
                }
            ),
        ),
        debug=False,
        logging_config=None,  # crew.logs renders every line, the libraries' too
    )
