"""Pure rules of what to tell whom: fold the log into a `Picture`, then ask `due`.

`see(picture, event, recorded_at, seq)` (services/notices/picture.py) takes one decoded event
of any context, in log order. The rules about the meals, the newcomers and one person's sign-up
are here; those about hand-overs, tentative claims and the weekly digest are in
services/notices/rota_rules.py, and `due` asks them all.
`due(picture, now, quiet, load)` lists every notice that should be recorded now and is not yet:
only for people subscribed to its topic, with an address, not stopped and not forgotten. No
clock, no I/O: the service passes `now` (and this month's `load_balance` row for the burnout
watch, services/notices/burnout.py, which it asks the query service for), and records each
`Due` with `notices.record_notice`.

A notice id is made from its rule, what it is about and the person (and, for something that
happened to one person, the event's stream sequence), so the same gap found again gives the
same id, and the decider records it once.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Literal

from schemas import activities as a
from schemas import notices as n
from schemas import rota as r
from services.notices import rota_rules
from services.notices.burnout import MonthLoad, burnout_notices
from services.notices.picture import (
    HOUSE,
    PERSONAL_FRESH,
    Due,
    Meal,
    Picture,
    Rule,
    notice_id,
    see,
)

__all__ = ["Due", "Picture", "QuietHours", "Rule", "due", "notice_id", "see", "send_after"]

COOK_AHEAD = datetime.timedelta(hours=36)  # a meal this close without a head cook: tell
HELPERS_AHEAD = datetime.timedelta(hours=24)  # a meal this close with open helper places: tell
NEWCOMER_AFTER = datetime.timedelta(hours=1)  # waiting this long with nothing scheduled: tell
# Older than this, a newcomer is no longer "waiting": a house that starts its notices on a
# long log does not mail about last year.
NEWCOMER_UNTIL = datetime.timedelta(days=7)


# Quiet hours ------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuietHours:
    """No mail from `start_hour` to `end_hour`, house time; 21-08 runs past midnight."""

    start_hour: int = 21
    end_hour: int = 8

    def __post_init__(self) -> None:
        hours = (self.start_hour, self.end_hour)
        if not all(0 <= hour <= 23 for hour in hours) or self.start_hour == self.end_hour:
            raise ValueError(f"quiet hours {hours}: two different hours from 0 to 23")

    @staticmethod
    def parse(text: str) -> QuietHours | None:
        """`21-08` (from 21:00 to 08:00), or `none` for no quiet hours."""
        said = text.strip().lower()
        if said == "none":
            return None
        found = re.fullmatch(r"(\d{1,2})-(\d{1,2})", said)
        if found:
            start, end = int(found[1]), int(found[2])
            if 0 <= start <= 23 and 0 <= end <= 23 and start != end:
                return QuietHours(start_hour=start, end_hour=end)
        raise ValueError(
            f"quiet hours {text!r}: expected two different hours HH-HH (e.g. 21-08) or none"
        )

    def holds(self, hour: int) -> bool:
        if self.start_hour < self.end_hour:
            return self.start_hour <= hour < self.end_hour
        return hour >= self.start_hour or hour < self.end_hour


def send_after(now: datetime.datetime, quiet: QuietHours | None) -> datetime.datetime:
    """The first moment at or after `now` outside quiet hours, in house time."""
    if now.tzinfo is None:
        raise ValueError(f"now {now} has no UTC offset")
    local = now.astimezone(HOUSE)
    if quiet is None or not quiet.holds(local.hour):
        return now
    day = local.date()
    if quiet.start_hour > quiet.end_hour and local.hour >= quiet.start_hour:
        day += datetime.timedelta(days=1)  # quiet runs past midnight: it ends tomorrow
    wall = datetime.datetime(day.year, day.month, day.day, quiet.end_hour, tzinfo=HOUSE)
    # a wall time a DST change skips (02:30 in March) is read as the moment after the gap
    return max(now, wall.astimezone(datetime.UTC).astimezone(HOUSE))


# The rules --------------------------------------------------------------------------------


ASKED_FOR = frozenset({"page_link"})  # notices a person asks for (notices.ask_for_page_link)


def settled(
    picture: Picture,
    notice: n.NoticeRecorded,
    now: datetime.datetime,
    load: MonthLoad | None = None,
) -> bool:
    """Whether a notice not sent yet is no longer true: the rules would not find it now (the
    meal found its cook, the offer was taken, the claim confirmed, the week is over, ...).
    The burnout watch's are judged only while this month's row is known."""
    if notice.rule in ASKED_FOR:
        return False  # no rule finds it, so nothing settles it: the person asked for it
    if notice.rule == "burnout_watch" and load is None:
        return False
    return notice.notice_id not in {d.notice_id for d in findings(picture, now, None, load)}


def due(
    picture: Picture,
    now: datetime.datetime,
    quiet: QuietHours | None,
    load: MonthLoad | None = None,
) -> list[Due]:
    """Every notice that should be recorded now and is not recorded yet; `load` is this
    month's `load_balance` row, if the service knows it."""
    fresh = [d for d in findings(picture, now, quiet, load) if d.notice_id not in picture.recorded]
    return sorted(fresh, key=lambda d: (d.rule, d.about, d.crew_id, d.notice_id))


def findings(
    picture: Picture,
    now: datetime.datetime,
    quiet: QuietHours | None,
    load: MonthLoad | None = None,
) -> list[Due]:
    """Every notice the rules find now, recorded or not."""
    now = now.astimezone(datetime.UTC)
    after = send_after(now, quiet)
    return [
        *_meal_notices(picture, now, after),
        *_newcomer_notices(picture, now, after),
        *_personal_notices(picture, now, after),
        *rota_rules.hand_over_notices(picture, now, after),
        *rota_rules.confirm_notices(picture, now, after),
        *rota_rules.digest_notices(picture, now, after),
        *burnout_notices(picture, load, now, after),
    ]


def _meal_notices(picture: Picture, now: datetime.datetime, after: datetime.datetime) -> list[Due]:
    found: list[Due] = []
    for meal_id, meal in picture.meals.items():
        starts = meal.starts()
        # past, started, or a notice that would wait until after it starts: nothing to say
        if meal.status != "open" or not now < starts or not after < starts:
            continue
        facts = {"date": meal.date.isoformat(), "time": meal.time, "meal_id": meal_id}
        if meal.head_cook is None and starts - now <= COOK_AHEAD:
            found += _to_subscribers(
                picture, "meal_needs_cook", meal_id, after, facts, meal, meal.cook_gap
            )
        if (places := meal.open_places()) and starts - now <= HELPERS_AHEAD:
            helper_facts = {**facts, "open_places": str(places)}
            found += _to_subscribers(
                picture, "meal_needs_helpers", meal_id, after, helper_facts, meal, meal.helper_gap
            )
    return found


def _to_subscribers(
    picture: Picture,
    rule: Literal["meal_needs_cook", "meal_needs_helpers", "newcomer_waiting"],
    about: str,
    after: datetime.datetime,
    facts: dict[str, str],
    meal: Meal | None = None,
    occasion: str = "",
) -> list[Due]:
    """One notice for each subscriber to the rule's topic (the topic is named as the rule)
    who is not on the meal already; `occasion` tells a gap that opened again apart."""
    return [
        Due(
            crew_id=who,
            notice_id=notice_id(rule, about, who, occasion),
            topic=rule,
            rule=rule,
            about=about,
            send_after=after,
            facts=dict(facts),
        )
        for who in picture.subscribers(rule)
        if meal is None or not meal.has(who)
    ]


def _newcomer_notices(
    picture: Picture, now: datetime.datetime, after: datetime.datetime
) -> list[Due]:
    found: list[Due] = []
    for newcomer_id, newcomer in picture.newcomers.items():
        waited = now - newcomer.arrived_at
        if not newcomer.waiting or not NEWCOMER_AFTER < waited <= NEWCOMER_UNTIL:
            continue
        facts = {"arrived": newcomer.arrived_at.astimezone(HOUSE).isoformat()}
        found += _to_subscribers(picture, "newcomer_waiting", newcomer_id, after, facts)
    return found


def _personal_notices(
    picture: Picture, now: datetime.datetime, after: datetime.datetime
) -> list[Due]:
    found: list[Due] = []
    for happened in picture.happened:
        event = happened.event
        if now - happened.recorded_at > PERSONAL_FRESH:
            continue  # old news
        if not picture.reachable(event.crew_id, "my_sign_ups"):
            continue
        rule: Rule = "claim_released"
        about = str(getattr(event, "occurrence_id", None) or getattr(event, "activity_id", ""))
        # The rota's reason for a released claim may name who took the place: left out.
        facts = {**_occurrence_facts(picture, about), "reason": ""}
        if isinstance(event, r.SignUpAffected):
            rule = "task_released" if event.outcome == "task_released" else "sign_up_affected"
            facts.update(_affected_facts(picture, event))
        elif isinstance(event, a.ActivitySignUpAffected):  # the house's words for the change
            rule = "sign_up_affected"
            facts.update(outcome=event.outcome, what=event.outcome, reason=event.reason)
        found.append(
            Due(
                crew_id=event.crew_id,
                notice_id=notice_id(rule, about, event.crew_id, str(happened.seq)),
                topic="my_sign_ups",
                rule=rule,
                about=about,
                send_after=after,
                facts=facts,
            )
        )
    return found


def _occurrence_facts(picture: Picture, occurrence_id: str, prefix: str = "") -> dict[str, str]:
    occurrence = picture.occurrences.get(occurrence_id)
    return {} if occurrence is None else occurrence.facts(prefix)


# What a sign-up's outcome was, in the words of the mail (services/notices/mail.py).
WHAT = {"kept": "changed", "moved": "moved", "released": "cancelled", "task_released": "changed"}


def _affected_facts(picture: Picture, event: r.SignUpAffected) -> dict[str, str]:
    """The outcome, and the task and the new occurrence if there are; the reason is the rota's
    own words (the change and its date), never a person's."""
    facts = {"outcome": event.outcome, "what": WHAT[event.outcome], "reason": event.reason}
    if event.task:
        facts["task"] = event.task
    if event.moved_to:
        facts.update(_occurrence_facts(picture, event.moved_to, prefix="moved_to_"))
    return facts
