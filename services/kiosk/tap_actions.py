"""What each one-tap link in a notice mail does (services/kiosk/taps.py serves them): kept apart
from the web server's code, so `crew up`'s supervisor (house/auth.py: the kiosk user may send
these) reads them without loading the web framework."""

from __future__ import annotations

from collections.abc import Callable

from crew import links

Body = Callable[[links.Link], dict[str, str]]

# action -> (context, command, its body, what it does in Danish, in English)
ACTIONS: dict[str, tuple[str, str, Body, str, str]] = {
    "cook": (
        "meals",
        "volunteer_to_cook",
        lambda link: {"meal_id": link.about, "crew_id": link.crew_id, "role": "head_cook"},
        "Jeg laver mad til fællesspisningen",
        "I'll cook the joint meal",
    ),
    "help": (
        "meals",
        "volunteer_to_cook",
        lambda link: {"meal_id": link.about, "crew_id": link.crew_id, "role": "helper"},
        "Jeg hjælper med fællesspisningen",
        "I'll help with the joint meal",
    ),
    "take_over": (
        "rota",
        "take_hand_over",
        lambda link: {
            "occurrence_id": link.about,
            "crew_id": link.crew_id,
            "from_crew_id": link.from_crew_id,
        },
        "Jeg tager pladsen over",
        "I'll take over the place",
    ),
    "host": (
        "onboarding",
        "schedule_conversation",
        lambda link: {"newcomer_id": link.about, "host_crew_id": link.crew_id},
        "Jeg tager samtalen med den nye",
        "I'll host the newcomer's conversation",
    ),
    "coming": (
        "rota",
        "confirm_claim",
        lambda link: {"occurrence_id": link.about, "crew_id": link.crew_id},
        "Ja, jeg kommer",
        "Yes, I'm coming",
    ),
    "unsubscribe": (
        "notices",
        "unsubscribe",
        lambda link: {"crew_id": link.crew_id, "topic": link.topic},
        "Stop disse beskeder",
        "Stop these notices",
    ),
    "send_page": (
        "notices",
        "ask_for_page_link",
        lambda link: {"crew_id": link.crew_id},
        "Send mig et nyt link til min side på e-mail",
        "Send me a new link to my page by e-mail",
    ),
}
# "Open my page" (the mail a person asked for with `send_page`) sends no command: confirmed,
# it makes the person a fresh personal token and opens /me with it; the old link ends.
OPEN_PAGE = "page"
# What a tap asks for before it is sent: the conversation's time (house time).
ASKS = {"host": "when"}
# The commands a tap may send: the kiosk's NATS user may publish these too (house/auth.py).
TAP_MAY: frozenset[tuple[str, str]] = frozenset((c, n) for c, n, *_ in ACTIONS.values())

__all__ = ["ACTIONS", "ASKS", "OPEN_PAGE", "TAP_MAY"]
