"""The pages the kiosk server serves: the kiosk's touch page (/kiosk), each crew member's own
page (/me, docs/pages.md) with what it shows of them (GET /api/v1/me), and the script both
share (/crew.js). Each page is one file whose inline script and style are allowed by their
hashes in its Content-Security-Policy; the shared script by 'self'."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import msgspec
from litestar import Request, Response, get

from projections import activity_queries as aq
from projections import queries
from schemas.notices import TOPICS
from services.kiosk.app import House, json_response, person_of

PAGE = (Path(__file__).parent / "kiosk.html").read_bytes()
ME_PAGE = (Path(__file__).parent / "me.html").read_bytes()
SCRIPT = (Path(__file__).parent / "crew.js").read_bytes()  # what both pages share


def _inline_hashes(page: bytes, tag: str) -> str:
    """CSP sources for the page's own inline <script> or <style>: their SHA-256, so nothing
    else inline runs (an injected script has no hash) and the page stays one file."""
    bodies = re.findall(rb"<%s>(.*?)</%s>" % (tag.encode(), tag.encode()), page, re.DOTALL)
    return " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'" for body in bodies
    )


def page_headers(page: bytes) -> dict[str, str]:
    return {
        "Cache-Control": "no-store",
        "Content-Security-Policy": "; ".join(
            [
                "default-src 'none'",
                f"script-src 'self' {_inline_hashes(page, 'script')}",  # 'self': /crew.js
                f"style-src {_inline_hashes(page, 'style')}",
                "connect-src 'self'",  # the page only talks to this API
                "img-src 'self'",
                "base-uri 'none'",
                "form-action 'none'",
                "frame-ancestors 'none'",  # no other site may frame the page and steer taps
            ]
        ),
        "X-Content-Type-Options": "nosniff",
        # The token travels in the URL's fragment; no link followed from the page names it.
        "Referrer-Policy": "no-referrer",
    }


PAGE_HEADERS = page_headers(PAGE)
ME_PAGE_HEADERS = page_headers(ME_PAGE)


@get("/kiosk", summary="The touch page", include_in_schema=False)
async def kiosk_page() -> Response[bytes]:
    return Response(content=PAGE, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


class Me(msgspec.Struct, kw_only=True):
    """What a crew member's own page shows of them and of the house (GET /api/v1/me)."""

    crew_id: str
    display_name: str | None
    coordinator: bool  # holds the coordinator role; what it is for stays on the CLI
    checkpoint: int
    changes: list[queries.Change]  # what changed in the house, newest first
    newcomers: list[queries.NewcomerWaiting]  # who waits for their conversation or its outcome
    contributions: queries.Contributions | None  # their own counts, from crew_contributions
    history: list[queries.DoneOnPage]  # their latest and coming places, from participation
    series: list[queries.SeriesOnPage]  # the weekly series, to change or to say "I usually"
    intentions: list[queries.IntentionOnPage]  # their standing intentions
    claims: list[queries.ClaimOnPage]  # places held for them, to confirm or release
    notices: queries.NoticeChoices  # the topics they chose, and whether an address is set
    topics: tuple[str, ...] = TOPICS
    my_activities: list[aq.MyActivity] = []  # their part in activities: "Min del"
    activities: list[aq.ActivityOnBoard] = []  # the coming activities, one tap to sign up
    initiatives: list[aq.InitiativeOnBoard] = []
    contribution_kinds: list[aq.KindOnBoard] = []  # every topic they may choose (docs/notices.md)


NO_CHOICES = queries.NoticeChoices(topics=[], has_address=False, stopped=False)


@get(
    "/api/v1/me",
    summary="A crew member's own page: who they are, and what changed",
    description="With a personal token (`crew link <crew_id>`): the person, the latest changes "
    "in the house from the log, newest first, with who made them and why, and the newcomers "
    "waiting for their conversation or its outcome, their own contributions "
    "(crew_contributions) and latest places (participation), the weekly series, their "
    "standing intentions and the places held for them, their notice topics and whether an "
    "address is set (never the address), their part in activities, the coming activities, the "
    "initiatives and the kinds of contribution. 401 no or bad token, "
    "403 a kiosk token (a tablet is no one's own page).",
    security=[{"page_token": []}],
)
async def me(request: Request[Any, Any, Any]) -> Response[bytes]:
    house: House = request.app.state.house
    person = person_of(request, "a kiosk is no one's own page: this needs a personal link")
    if isinstance(person, Response):
        return person
    answers = await house.ask(
        queries.PERSON.ask(person),
        queries.CHANGES.ask(),
        queries.NEWCOMERS_WAITING.ask(),
        queries.PERSON_CONTRIBUTIONS.ask(person),
        queries.MY_HISTORY.ask(person),
        queries.SERIES_ON_PAGE.ask(),
        queries.MY_INTENTIONS.ask(person),
        queries.MY_CLAIMS.ask(person),
        queries.MY_NOTICE_CHOICES.ask(person),
        aq.MY_ACTIVITIES.ask(person),
        aq.BOARD_ACTIVITIES.ask(aq.ACTIVITY_DAYS),
        aq.BOARD_INITIATIVES.ask(),
        aq.CONTRIBUTION_KINDS.ask(),
    )
    if isinstance(answers, Response):
        return answers
    found = next(iter(queries.PERSON.rows(answers[0])), None)
    shown = Me(
        crew_id=person,
        display_name=found.display_name if found else None,
        coordinator=found.coordinator if found else False,
        checkpoint=min(answer.checkpoint or 0 for answer in answers),
        changes=queries.CHANGES.rows(answers[1]),
        newcomers=queries.NEWCOMERS_WAITING.rows(answers[2]),
        contributions=next(iter(queries.PERSON_CONTRIBUTIONS.rows(answers[3])), None),
        history=queries.MY_HISTORY.rows(answers[4]),
        series=queries.SERIES_ON_PAGE.rows(answers[5]),
        intentions=queries.MY_INTENTIONS.rows(answers[6]),
        claims=queries.MY_CLAIMS.rows(answers[7]),
        notices=next(iter(queries.MY_NOTICE_CHOICES.rows(answers[8])), NO_CHOICES),
        my_activities=aq.MY_ACTIVITIES.rows(answers[9]),
        activities=aq.BOARD_ACTIVITIES.rows(answers[10]),
        initiatives=aq.BOARD_INITIATIVES.rows(answers[11]),
        contribution_kinds=aq.CONTRIBUTION_KINDS.rows(answers[12]),
    )
    return json_response(shown, 200)


@get("/crew.js", summary="The script both pages share", include_in_schema=False)
async def script() -> Response[bytes]:
    return Response(
        content=SCRIPT,
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


@get("/me", summary="A crew member's own page", include_in_schema=False)
async def me_page() -> Response[bytes]:
    return Response(content=ME_PAGE, media_type="text/html; charset=utf-8", headers=ME_PAGE_HEADERS)
