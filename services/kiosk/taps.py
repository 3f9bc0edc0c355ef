"""One-tap answers from a notice's mail: `GET /tap/<token>` shows what the tap will do and asks
to confirm (a mail client or a link scanner that fetches the link changes nothing); the
button posts to the same address, and the kiosk server sends the command, with the person as
the actor and the link's id as the command id: a second tap gets the first answer.

The token is signed by the notices service with the house's link key (crew/links.py); a
forged, changed or expired one is answered 410, in both languages, and says nothing more."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath

from crew import links, subjects
from projections.queries import PERSON
from schemas.common import HOUSE_TIMEZONE, Accepted, Refused, reply_decoder
from services.kiosk import tokens
from services.kiosk.tap_actions import ACTIONS, ASKS, OPEN_PAGE

if TYPE_CHECKING:
    from services.kiosk.app import House

PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def page(
    title: str,
    lines: list[str],
    status: int = 200,
    button: bool = False,
    ask: str = "",
    headers: dict[str, str] | None = None,
) -> Response[str]:
    """A small page in Danish and English; every value in it is escaped. With `button`, the
    form that confirms; with `ask`, it asks for a time (house time) first."""
    text = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    field = (
        f'<p><label>Hvornår? / When? <input type="datetime-local" name="{ask}" required>'
        "</label></p>"
        if ask
        else ""
    )
    form = (
        f'<form method="post">{field}<button type="submit" '
        'style="font-size:1.4em;padding:.6em 1.2em">Bekræft / Confirm</button></form>'
        if button
        else ""
    )
    body = (
        '<!doctype html><html lang="da"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head>"
        '<body style="font-family:sans-serif;max-width:32em;margin:2em auto;padding:0 1em">'
        f"<h1>{html.escape(title)}</h1>{text}{form}</body></html>"
    )
    return Response(
        content=body,
        status_code=status,
        media_type="text/html",
        headers={**PAGE_HEADERS, **(headers or {})},
    )


def gone() -> Response[str]:
    return page(
        "Linket virker ikke / The link does not work",
        [
            "Linket er udløbet eller ikke gyldigt. Brug kiosken i huset.",
            "The link has expired or is not valid. Use the kiosk in the house.",
        ],
        status=410,
    )


def slow_down(wait_s: int) -> Response[str]:
    return page(
        "Vent lidt / Wait a moment",
        ["For mange forsøg herfra.", "Too many tries from here."],
        status=429,
        headers={"Retry-After": str(wait_s)},
    )


def unavailable() -> Response[str]:
    return page(
        "Prøv igen om lidt / Try again in a moment",
        ["Huset kan ikke nås lige nu.", "The house cannot be reached right now."],
        status=503,
    )


async def tapped(request: Request[Any, Any, Any], token: str) -> links.Link | Response[str]:
    """The link, if the house signed it, it has not expired, and it does something known;
    else the page that says why not (503 while the house cannot be reached, else 410)."""
    house: House = request.app.state.house
    if not house.ready or house.nc is None:
        return unavailable()
    from services.kiosk.app import address_of  # app.py serves these pages: imported late

    address = address_of(request)
    if wait := house.guesses.wait_s(address):  # as for wrong kiosk tokens: a guesser waits
        return slow_down(wait)
    if not house.link_key:
        house.link_key = await links.house_key(house.nc)  # read once: it never changes
    link = links.verify(house.link_key, token, datetime.now(UTC))
    if link is None or (link.action not in ACTIONS and link.action != OPEN_PAGE):
        house.guesses.spend(address)
        return gone()
    return link


@get("/tap/{token:str}", summary="What a one-tap link will do", include_in_schema=False)
async def confirm(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[str]:
    link = await tapped(request, token)
    if isinstance(link, Response):
        return link
    if link.action == OPEN_PAGE:
        return page(
            "Din side / Your page",
            [
                "Åbn din side. Dit gamle link holder op med at virke.",
                "Open your page. Your old link stops working.",
            ],
            button=True,
        )
    *_, danish, english = ACTIONS[link.action]
    ask = ASKS.get(link.action, "")
    return page("Bekræft / Confirm", [danish, english, link.about], button=True, ask=ask)


async def asked(request: Request[Any, Any, Any], action: str) -> dict[str, str] | None:
    """What the confirmation page asked for, as the command's fields; None if it is missing
    or not a time. Nothing is asked: {}."""
    if action not in ASKS:
        return {}
    name = ASKS[action]
    given = (await request.form()).get(name, "")
    try:
        when = datetime.fromisoformat(str(given))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(HOUSE_TIMEZONE))
    return {name: when.isoformat()}


@post("/tap/{token:str}", summary="Do what a one-tap link says", include_in_schema=False)
async def tap(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[str]:
    house: House = request.app.state.house
    link = await tapped(request, token)
    if isinstance(link, Response):
        return link
    if link.action == OPEN_PAGE:
        return await open_page(house, link.crew_id)
    context, command, body, *_ = ACTIONS[link.action]
    extra = await asked(request, link.action)
    if extra is None:
        return page("Vælg et tidspunkt / Pick a time", ["Prøv igen.", "Try again."], 422)
    headers = {
        subjects.COMMAND_ID: link.id,
        subjects.ACTOR: link.crew_id,
        subjects.SOURCE: "notice-link",
    }
    raw = await house.request(
        subjects.command_subject(context, command),
        msgspec.json.encode({**body(link), **extra}),
        headers,
    )
    if raw is None:
        return unavailable()
    match reply_decoder.decode(raw):
        case Accepted():
            return page("Tak! / Thank you!", ["Det er noteret.", "It is noted."])
        case Refused(message=message):
            return page("Det gik ikke / That did not work", [message], status=409)
    return page("Det gik ikke / That did not work", ["Prøv kiosken.", "Try the kiosk."], 422)


async def open_page(house: House, crew_id: str) -> Response[str]:
    """A fresh personal token for someone still in the crew (else 410), and their page opened
    with it (303 to /me#token=...: the token stays in the fragment, out of every log)."""
    answers = await house.ask(PERSON.ask(crew_id))
    if isinstance(answers, Response):
        return unavailable()
    if not PERSON.rows(answers[0]):
        return gone()  # forgotten since the mail went out, or never crew
    assert house.nc is not None
    secret = await tokens.add(house.nc, crew_id, tokens.PAGE_BUCKET)
    return Response(
        content="",
        status_code=303,
        headers={**PAGE_HEADERS, "Location": f"/me#token={secret}"},
    )
