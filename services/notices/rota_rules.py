"""The rules about the rota and the week, asked by `rules.due`: a place on offer, a tentative
claim about to lapse, and the Monday digest.

Pure like the rest: each takes the picture (services/notices/picture.py), the moment `now` and
`after`, the first moment a notice may go (quiet hours past), and lists the `Due`s it finds,
recorded or not (`rules.due` leaves out what is recorded already). Facts are dates, times,
titles, task names and counts, and, for a hand-over, the crew id of the one who offers it (for
the link that takes it over; the mail does not show it): never a name. The digest also lists
the week's sign-ups and open places (`Listed`: a day, a time, a title, a task, a count).
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from schemas import notices as n
from services.notices.picture import (
    FACT_MAX,
    HOUSE,
    Due,
    Meal,
    Occurrence,
    Picture,
    SeriesPlan,
    notice_id,
)

CONFIRM_AHEAD = datetime.timedelta(hours=48)  # a tentative claim lapsing this soon: tell
DIGEST_WEEKDAY = 0  # Monday
DIGEST_FROM = datetime.time(9, 0)  # house time; due from then until that Monday ends
LISTED_MAX = 25  # a digest lists at most this many own sign-ups, and as many open places


# hand_over ---------------------------------------------------------------------------------


def hand_over_notices(
    picture: Picture, now: datetime.datetime, after: datetime.datetime
) -> list[Due]:
    """A place on offer at an occurrence still to come (not taken, the giver still in it, not
    cancelled): each `hand_over` subscriber who could take it, being neither the giver nor in
    it already, is told once per offer."""
    found: list[Due] = []
    takers = picture.subscribers("hand_over")
    for occurrence_id, occurrence in picture.occurrences.items():
        if not occurrence.offers or occurrence.cancelled:
            continue
        starts = occurrence.starts()
        if not now < starts or not after < starts:  # over, or the notice would come too late
            continue
        for giver, offered in occurrence.offers.items():
            # the giver's crew id (a pseudonym, never a name) is for the "Take over" link: the
            # mail's words leave it out
            facts = {**occurrence.facts(), "from_crew_id": giver}
            if task := occurrence.task_of.get(giver):
                facts["task"] = task
            found += [
                Due(
                    crew_id=who,
                    notice_id=notice_id("hand_over", occurrence_id, who, str(offered)),
                    topic="hand_over",
                    rule="hand_over",
                    about=occurrence_id,
                    send_after=after,
                    facts=dict(facts),
                )
                for who in takers
                if who != giver and who not in occurrence.people
            ]
    return found


# confirm_intention -------------------------------------------------------------------------


def lapses(picture: Picture, occurrence: Occurrence) -> datetime.datetime:
    """When a tentative claim on the occurrence lapses. The rota takes a claim as expired once
    `(day - today).days <= claim_confirm_days` (services/rota/claims.py `past_deadline`), today
    being the date in the series' time zone: so at 00:00 on the day `claim_confirm_days`
    before the occurrence's day (after a move, its new day)."""
    plan = picture.series.get(occurrence.series_id, SeriesPlan())
    day = occurrence.date - datetime.timedelta(days=plan.claim_confirm_days)
    return datetime.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(plan.timezone))


def confirm_notices(
    picture: Picture, now: datetime.datetime, after: datetime.datetime
) -> list[Due]:
    """A tentative claim, neither confirmed nor released, that lapses within 48 hours: the
    person who holds it, once per claim (a claim released and made again is a new one), unless
    quiet hours would hold the notice until it has lapsed."""
    found: list[Due] = []
    for occurrence_id, occurrence in picture.occurrences.items():
        if not occurrence.claims or occurrence.cancelled:
            continue
        lapse = lapses(picture, occurrence)
        if not now < lapse or not after < lapse or lapse - now > CONFIRM_AHEAD:
            continue
        for who, claim in occurrence.claims.items():
            if not picture.reachable(who, "confirm_intention"):
                continue
            facts = {**occurrence.facts(), "lapses": lapse.isoformat()}
            if claim.task:
                facts["task"] = claim.task
            found.append(
                Due(
                    crew_id=who,
                    notice_id=notice_id("confirm_intention", occurrence_id, who, str(claim.seq)),
                    topic="confirm_intention",
                    rule="confirm_intention",
                    about=occurrence_id,
                    send_after=after,
                    facts=facts,
                )
            )
    return found


# weekly_digest -----------------------------------------------------------------------------


def week_of(now: datetime.datetime) -> tuple[str, datetime.date]:
    """The ISO week of `now` in house time, as 2030-W02, and its Monday."""
    day = now.astimezone(HOUSE).date()
    year, week, weekday = day.isocalendar()
    return f"{year}-W{week:02d}", day - datetime.timedelta(days=weekday - 1)


def digest_notices(picture: Picture, now: datetime.datetime, after: datetime.datetime) -> list[Due]:
    """On Monday from 09:00 house time until that Monday ends: each `weekly_digest` subscriber
    is told, once a week, of the week ahead (Monday to Sunday, what has not started yet): the
    open meals without a head cook and their open helper places, the rota's open places (a
    shift's, a cleaning task's), and their own sign-ups (meals as head cook or helper, rota
    occurrences), counted in the facts and listed each with its day and time."""
    local = now.astimezone(HOUSE)
    readers = picture.subscribers("weekly_digest")
    if local.weekday() != DIGEST_WEEKDAY or local.time() < DIGEST_FROM or not readers:
        return []
    week, monday = week_of(now)
    meals, occurrences = week_ahead(picture, now, monday)
    open_meals = [meal for meal in meals if meal.status == "open"]
    counts = {
        "week": week,
        "meals_without_cook": str(sum(1 for meal in open_meals if meal.head_cook is None)),
        "open_helper_places": str(sum(meal.open_places() for meal in open_meals)),
    }
    places = open_places(open_meals, occurrences)
    found: list[Due] = []
    for who in readers:
        mine = own_sign_ups(who, meals, occurrences)
        listing = [*mine[:LISTED_MAX], *places[:LISTED_MAX]]
        unlisted = len(mine) + len(places) - len(listing)
        found.append(
            Due(
                crew_id=who,
                notice_id=notice_id("weekly_digest", week, who),
                topic="weekly_digest",
                rule="weekly_digest",
                about=week,
                send_after=after,
                facts={**counts, "my_sign_ups": str(len(mine))}
                | ({"unlisted": str(unlisted)} if unlisted else {}),
                listing=listing,
            )
        )
    return found


def week_ahead(
    picture: Picture, now: datetime.datetime, monday: datetime.date
) -> tuple[list[Meal], list[Occurrence]]:
    """The meals (open or closed) and the rota occurrences (not cancelled) of the week from
    `monday` that have not begun, by when they begin. A rota meal day has no `people` (who
    cooks is the meals service's): no meal counts twice."""
    sunday = monday + datetime.timedelta(days=6)
    meals = [
        meal
        for meal in picture.meals.values()
        if monday <= meal.date <= sunday
        and meal.status in ("open", "closed")
        and now < meal.starts()
    ]
    occurrences = [
        occurrence
        for occurrence in picture.occurrences.values()
        if monday <= occurrence.date <= sunday
        and not occurrence.cancelled
        and now < occurrence.starts()
    ]
    return sorted(meals, key=Meal.starts), sorted(occurrences, key=Occurrence.starts)


def own_sign_ups(who: str, meals: list[Meal], occurrences: list[Occurrence]) -> list[n.Listed]:
    """What `who` is signed up for: a meal as head cook or helper, a rota occurrence (and its
    task), by day and time."""
    mine = [
        n.Listed(
            mine=True,
            date=meal.date,
            time=meal.time,
            task="head_cook" if meal.head_cook == who else "helper",
        )
        for meal in meals
        if meal.cooks(who)
    ]
    mine += [
        n.Listed(
            mine=True,
            date=occurrence.date,
            time=occurrence.start,
            title=occurrence.title[:FACT_MAX],
            task=occurrence.task_of.get(who, ""),
        )
        for occurrence in occurrences
        if who in occurrence.people
    ]
    return sorted(mine, key=_when)


def open_places(meals: list[Meal], occurrences: list[Occurrence]) -> list[n.Listed]:
    """The open meals' gaps (no head cook, open helper places) and the rota's open places (a
    shift's, each cleaning task's), by day and time."""
    found = [
        n.Listed(
            mine=False,
            date=meal.date,
            time=meal.time,
            cook_wanted=meal.head_cook is None,
            places=meal.open_places(),
        )
        for meal in meals
        if meal.head_cook is None or meal.open_places()
    ]
    found += [
        n.Listed(
            mine=False,
            date=occurrence.date,
            time=occurrence.start,
            title=occurrence.title[:FACT_MAX],
            task=task,
            places=places,
        )
        for occurrence in occurrences
        for task, places in sorted(occurrence.open_places().items())
    ]
    return sorted(found, key=_when)


def _when(listed: n.Listed) -> tuple[datetime.date, str, str, str]:
    return listed.date, listed.time, listed.title, listed.task
