"""The one-tap answers a notice's mail carries: "I'll cook", "I'll help", "Take over",
"Yes, I'm coming", and always "Stop these notices" and "Send me a new link to my page". The
mail with that new link carries only "Open my page", valid for a day. Each is a link to the kiosk server holding
a token signed with the house's link key (crew/links.py); services/kiosk/taps.py checks it and
sends the command. The same notice always gets the same links: a mail sent again after a crash
is the same mail."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from crew import links
from schemas import notices as n

ANSWERS_OF_RULE: dict[str, tuple[str, ...]] = {
    "meal_needs_cook": ("cook",),
    "meal_needs_helpers": ("help",),
    "hand_over": ("take_over",),  # only with the giver in the facts (services/notices/rota_rules)
    "confirm_intention": ("coming",),
    "newcomer_waiting": ("host",),
}
VALID_FOR = timedelta(days=14)  # from the moment the notice may be sent
PAGE_VALID_FOR = timedelta(days=1)  # "Open my page": a fresh personal token, so not for long
ALWAYS = ("unsubscribe", "send_page")


def actions_of(notice: n.NoticeRecorded) -> tuple[str, ...]:
    if notice.rule == "page_link":
        return ("page",)
    return (*ANSWERS_OF_RULE.get(notice.rule, ()), *ALWAYS)


def tap_id(notice_id: str, action: str) -> str:
    """The command id of the tap: a second tap is a retry, answered as the first."""
    return f"tap-{hashlib.sha256(f'{notice_id}|{action}'.encode()).hexdigest()[:32]}"


def answers(notice: n.NoticeRecorded, key: bytes, base_url: str) -> dict[str, str]:
    """Action -> the link that does it, for this notice's mail."""
    made = {}
    giver = notice.facts.get("from_crew_id", "")
    for action in actions_of(notice):
        if action == "take_over" and not giver:
            continue  # a hand-over recorded before notices knew the giver: nothing to take
        link = links.Link(
            id=tap_id(notice.notice_id, action),
            action=action,
            crew_id=notice.crew_id,
            about=notice.about,
            topic=notice.topic,
            from_crew_id=giver if action == "take_over" else "",
            expires=notice.send_after + (PAGE_VALID_FOR if action == "page" else VALID_FOR),
        )
        made[action] = f"{base_url.rstrip('/')}/tap/{links.sign(key, link)}"
    return made
