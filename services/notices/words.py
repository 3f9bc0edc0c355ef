"""The words of each notice, in Danish and in English, from its rule and facts.

`words_for(rule, facts)` checks that the facts hold what the rule's words need (`RULES`) and
writes the subject and paragraphs: plain strings such as a date, a time, a title or a count,
never a name. Only a coordinator's burnout watch names people: `words_for(rule, facts, names)`,
the names given apart from the facts (they never reach the log; `NAMING`).
services/notices/mail.py puts them into a mail.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import re
from collections.abc import Callable, Sequence
from zoneinfo import ZoneInfo

from schemas.common import HOUSE_TIMEZONE
from schemas.notices import Listed

DA_WEEKDAYS = ("mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag")
EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DA_MONTHS = ("januar", "februar", "marts", "april", "maj", "juni",
             "juli", "august", "september", "oktober", "november", "december")  # fmt: skip
EN_MONTHS = ("January", "February", "March", "April", "May", "June",
             "July", "August", "September", "October", "November", "December")  # fmt: skip

# sign_up_affected's `what` -> (Danish, English)
WHAT_HAPPENED = {
    "moved": ("flyttet", "moved"),
    "cancelled": ("aflyst", "cancelled"),
    "changed": ("ændret", "changed"),
}
_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_WEEK = re.compile(r"^([0-9]{4})-W([0-9]{2})$")
_MONTH = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")


# --- Dates and facts --------------------------------------------------------------------------


def da_day(day: datetime.date) -> str:
    """A day in Danish: tirsdag 8. december."""
    return f"{DA_WEEKDAYS[day.weekday()]} {day.day}. {DA_MONTHS[day.month - 1]}"


def en_day(day: datetime.date) -> str:
    """A day in English: Tuesday 8 December."""
    return f"{EN_WEEKDAYS[day.weekday()]} {day.day} {EN_MONTHS[day.month - 1]}"


def _date(rule: str, facts: dict[str, str], name: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(facts[name])
    except ValueError:
        raise ValueError(f"{rule}: {name} is not an ISO date: {facts[name]!r}") from None


def _time(rule: str, facts: dict[str, str], name: str) -> str:
    if not _TIME.match(facts[name]):
        raise ValueError(f"{rule}: {name} is not a time HH:MM: {facts[name]!r}")
    return facts[name]


def _house_moment(rule: str, facts: dict[str, str], name: str) -> datetime.datetime:
    """An ISO date and time in house time; one without an offset is taken as house time."""
    try:
        moment = datetime.datetime.fromisoformat(facts[name])
    except ValueError:
        raise ValueError(f"{rule}: {name} is not an ISO date and time: {facts[name]!r}") from None
    house = ZoneInfo(HOUSE_TIMEZONE)
    return moment.replace(tzinfo=house) if moment.tzinfo is None else moment.astimezone(house)


def _week(rule: str, facts: dict[str, str], name: str) -> datetime.date:
    """An ISO week (2030-W02) -> its Monday."""
    if found := _WEEK.match(facts[name]):
        with contextlib.suppress(ValueError):  # no such week, e.g. 2030-W53
            return datetime.date.fromisocalendar(int(found[1]), int(found[2]), 1)
    raise ValueError(f"{rule}: {name} is not an ISO week like 2030-W02: {facts[name]!r}")


def _count(rule: str, facts: dict[str, str], name: str) -> int:
    try:
        return int(facts[name])
    except ValueError:
        raise ValueError(f"{rule}: {name} is not a whole number: {facts[name]!r}") from None


def _month(rule: str, facts: dict[str, str], name: str) -> tuple[str, str]:
    """A month (2030-01) in Danish and English: januar 2030, January 2030."""
    if not (found := _MONTH.match(facts[name])):
        raise ValueError(f"{rule}: {name} is not a month like 2030-01: {facts[name]!r}")
    year, month = found[1], int(found[2])
    return f"{DA_MONTHS[month - 1]} {year}", f"{EN_MONTHS[month - 1]} {year}"


def _share(rule: str, facts: dict[str, str], name: str) -> float:
    try:
        share = float(facts[name])
    except ValueError:
        share = -1.0
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"{rule}: {name} is not a share from 0 to 1: {facts[name]!r}")
    return share


# --- The rules' words ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Words:
    """One notice's subject and paragraphs, in Danish and in English."""

    subject_da: str
    subject_en: str
    da: list[str]
    en: list[str]


def _meal_needs_cook(rule: str, facts: dict[str, str]) -> Words:
    day, time = _date(rule, facts, "date"), _time(rule, facts, "time")
    return Words(
        subject_da=f"Kok søges {day.day}. {DA_MONTHS[day.month - 1]}",
        subject_en=f"Cook wanted {day.day} {EN_MONTHS[day.month - 1]}",
        da=[
            f"Fællesspisningen {da_day(day)} kl. {time} har endnu ingen kok.",
            "Har du lyst til at lave maden?",
        ],
        en=[
            f"The joint meal on {en_day(day)} at {time} has no cook yet.",
            "Would you like to cook?",
        ],
    )


def _meal_needs_helpers(rule: str, facts: dict[str, str]) -> Words:
    day, time = _date(rule, facts, "date"), _time(rule, facts, "time")
    places = _count(rule, facts, "open_places")
    da_places = "1 ledig plads" if places == 1 else f"{places} ledige pladser"
    en_places = "1 open place" if places == 1 else f"{places} open places"
    return Words(
        subject_da=f"Hjælpere søges {day.day}. {DA_MONTHS[day.month - 1]}",
        subject_en=f"Helpers wanted {day.day} {EN_MONTHS[day.month - 1]}",
        da=[
            f"Fællesspisningen {da_day(day)} kl. {time} mangler hjælpere: {da_places}.",
            "Kan du give en hånd?",
        ],
        en=[
            f"The joint meal on {en_day(day)} at {time} needs helpers: {en_places}.",
            "Could you lend a hand?",
        ],
    )


def _newcomer_waiting(rule: str, facts: dict[str, str]) -> Words:
    arrived = _house_moment(rule, facts, "arrived")
    clock = f"{arrived:%H:%M}"
    return Words(
        subject_da="En nykommer venter",
        subject_en="A newcomer is waiting",
        da=[
            f"En nykommer kom {da_day(arrived.date())} kl. {clock} og venter på den samtale, "
            "kiosken lovede.",
            "Kan du tage samtalen?",
        ],
        en=[
            f"A newcomer arrived on {en_day(arrived.date())} at {clock} and is waiting for the "
            "conversation the kiosk promised.",
            "Could you host it?",
        ],
    )


def _sign_up_affected(rule: str, facts: dict[str, str]) -> Words:
    day, title, what = _date(rule, facts, "date"), facts["title"], facts["what"]
    if what not in WHAT_HAPPENED:
        raise ValueError(f"{rule}: what is not one of {sorted(WHAT_HAPPENED)}: {what!r}")
    da_what, en_what = WHAT_HAPPENED[what]
    return Words(
        subject_da=f"Din tilmelding er {da_what}",
        subject_en=f"Your sign-up was {en_what}",
        da=[f"En ændring i »{title}« har {da_what} din tilmelding {da_day(day)}."],
        en=[f"A change to “{title}” {en_what} your sign-up on {en_day(day)}."],
    )


def _with_reason(words: Words, reason: str) -> Words:
    if not reason.strip():
        return words
    return dataclasses.replace(
        words, da=[*words.da, f"Grund: {reason}"], en=[*words.en, f"Reason: {reason}"]
    )


def _task_released(rule: str, facts: dict[str, str]) -> Words:
    day, title = _date(rule, facts, "date"), facts["title"]
    words = Words(
        subject_da="Din opgave er frigivet",
        subject_en="Your task was released",
        da=[f"Din opgave ved »{title}« {da_day(day)} er frigivet. Du er stadig tilmeldt."],
        en=[f"Your task at “{title}” on {en_day(day)} was released. You are still signed up."],
    )
    return _with_reason(words, facts["reason"])


def _claim_released(rule: str, facts: dict[str, str]) -> Words:
    day, title = _date(rule, facts, "date"), facts["title"]
    words = Words(
        subject_da="Din foreløbige plads er frigivet",
        subject_en="Your tentative place was released",
        da=[f"Din foreløbige plads ved »{title}« {da_day(day)} er frigivet."],
        en=[f"Your tentative place at “{title}” on {en_day(day)} was released."],
    )
    return _with_reason(words, facts["reason"])


def _place(rule: str, facts: dict[str, str]) -> tuple[datetime.date, str, str]:
    """A rota occurrence, and its task if the facts name one, in Danish and English:
    »T« tirsdag 8. december kl. 10:00 (opgave: x), “T” on Tuesday 8 December at 10:00 (task: x)."""
    day, start, title = _date(rule, facts, "date"), _time(rule, facts, "start"), facts["title"]
    task = facts.get("task", "")
    da, en = f"»{title}« {da_day(day)} kl. {start}", f"“{title}” on {en_day(day)} at {start}"
    return (day, f"{da} (opgave: {task})", f"{en} (task: {task})") if task else (day, da, en)


def _hand_over(rule: str, facts: dict[str, str]) -> Words:
    day, da_place, en_place = _place(rule, facts)
    return Words(
        subject_da=f"Plads til overtagelse {day.day}. {DA_MONTHS[day.month - 1]}",
        subject_en=f"Place to take over {day.day} {EN_MONTHS[day.month - 1]}",
        da=[f"En plads ved {da_place} er ledig til overtagelse.", "Vil du tage den?"],
        en=[f"A place at {en_place} is up for taking over.", "Would you take it?"],
    )


def _confirm_intention(rule: str, facts: dict[str, str]) -> Words:
    day, da_place, en_place = _place(rule, facts)
    lapse = _house_moment(rule, facts, "lapses")
    if lapse.time() == datetime.time(0, 0):  # at midnight: by the end of the day before
        last = lapse.date() - datetime.timedelta(days=1)
        da_by, en_by = f"senest {da_day(last)}", f"by the end of {en_day(last)}"
    else:
        clock = f"{lapse:%H:%M}"
        da_by = f"inden {da_day(lapse.date())} kl. {clock}"
        en_by = f"before {en_day(lapse.date())} at {clock}"
    return Words(
        subject_da=f"Bekræft din plads {day.day}. {DA_MONTHS[day.month - 1]}",
        subject_en=f"Confirm your place {day.day} {EN_MONTHS[day.month - 1]}",
        da=[
            f"Du har en foreløbig plads ved {da_place}.",
            f"Bekræft den {da_by}, ellers bliver den frigivet.",
        ],
        en=[
            f"You have a tentative place at {en_place}.",
            f"Please confirm it {en_by}, or it will be released.",
        ],
    )


# weekly_digest: a count's sentence, Danish and English, for none, one and more ({n}).
DIGEST_LINES = {
    "meals_without_cook": (
        ("Ingen fællesspisning mangler en kok.", "1 fællesspisning mangler en kok.",
         "{n} fællesspisninger mangler en kok."),
        ("No joint meal needs a cook.", "1 joint meal needs a cook.",
         "{n} joint meals need a cook."),
    ),
    "open_helper_places": (
        ("Der er ingen ledige hjælperpladser.", "Der er 1 ledig hjælperplads.",
         "Der er {n} ledige hjælperpladser."),
        ("There are no open helper places.", "There is 1 open helper place.",
         "There are {n} open helper places."),
    ),
    "my_sign_ups": (
        ("Du har ingen tilmeldinger i ugen.", "Du har 1 tilmelding i ugen.",
         "Du har {n} tilmeldinger i ugen."),
        ("You have no sign-ups this week.", "You have 1 sign-up this week.",
         "You have {n} sign-ups this week."),
    ),
}  # fmt: skip


def _weekly_digest(rule: str, facts: dict[str, str]) -> Words:
    monday = _week(rule, facts, "week")
    sunday, week = monday + datetime.timedelta(days=6), monday.isocalendar().week
    counted = [(forms, _count(rule, facts, name)) for name, forms in DIGEST_LINES.items()]
    return Words(
        subject_da=f"Ugen der kommer: uge {week}",
        subject_en=f"The week ahead: week {week}",
        da=[
            f"Uge {week}, {da_day(monday)} til {da_day(sunday)}:",
            *(da[min(n, 2)].format(n=n) for (da, _), n in counted),
        ],
        en=[
            f"Week {week}, {en_day(monday)} to {en_day(sunday)}:",
            *(en[min(n, 2)].format(n=n) for (_, en), n in counted),
        ],
    )


# burnout_watch: a finding -> its subject, Danish and English ({month}), and which line leads.
BURNOUT_FINDINGS = {
    "rising_load": ("Nogle bærer mere end sædvanligt: {month}",
                    "Some are carrying more than usual: {month}", "rising"),
    "top_share": ("Arbejdet hviler på få: {month}", "The work rests on a few: {month}", "share"),
}  # fmt: skip


def _and(names: Sequence[str], word: str) -> str:
    """Anna, Bo og Cy / Anna, Bo and Cy."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {word} {names[-1]}"


def _burnout_watch(rule: str, facts: dict[str, str], names: Sequence[str] = ()) -> Words:
    """This month's share of the busiest 10 %, and how many carry double their usual load;
    who they are right now only with `names` (for a coordinator)."""
    da_month, en_month = _month(rule, facts, "month")
    finding, rising = facts["finding"], _count(rule, facts, "rising")
    if finding not in BURNOUT_FINDINGS:
        raise ValueError(f"{rule}: finding is not one of {sorted(BURNOUT_FINDINGS)}: {finding!r}")
    percent = round(100 * _share(rule, facts, "top_10pct_share"))
    da_subject, en_subject, leads = BURNOUT_FINDINGS[finding]
    da = [f"I {da_month} har de travleste 10 % af crewet stået for {percent} % af bidragene."]
    en = [f"In {en_month}, the busiest 10 % of the crew made {percent} % of the contributions."]
    if rising:
        who_da = "1 person bærer" if rising == 1 else f"{rising} personer bærer"
        who_en = "1 person is carrying" if rising == 1 else f"{rising} people are carrying"
        at = 0 if leads == "rising" else 1  # the finding's own line first
        da.insert(at, f"{who_da} mindst dobbelt så meget som sædvanligt.")
        en.insert(at, f"{who_en} at least twice their usual load.")
        if names:
            da.insert(at + 1, f"Lige nu er det: {_and(names, 'og')}.")
            en.insert(at + 1, f"Right now they are: {_and(names, 'and')}.")
    return Words(
        subject_da=da_subject.format(month=da_month),
        subject_en=en_subject.format(month=en_month),
        da=[*da, "Kan flere tage en tørn, før nogen brænder ud?"],
        en=[*en, "Could more people take a turn, before someone burns out?"],
    )


def _page_link(rule: str, facts: dict[str, str]) -> Words:
    """The person asked for a fresh link to their own page (from the kiosk or a notice)."""
    return Words(
        subject_da="Dit link til din side i huset",
        subject_en="Your link to your page in the house",
        da=[
            "Du bad om et nyt link til din egen side. Tryk på linket herunder inden for et døgn:"
            " det åbner din side på denne telefon eller computer, og dit gamle link holder op"
            " med at virke.",
            "Bad du ikke om det? Så se bort fra denne mail; intet er ændret.",
        ],
        en=[
            "You asked for a new link to your own page. Tap the link below within a day: it"
            " opens your page on this phone or computer, and your old link stops working.",
            "Did you not ask for it? Then ignore this mail; nothing has changed.",
        ],
    )


# rule -> (the facts it needs, its words). `meal_id` is taken but not shown: the links carry it.
RULES: dict[str, tuple[tuple[str, ...], Callable[[str, dict[str, str]], Words]]] = {
    "meal_needs_cook": (("date", "time", "meal_id"), _meal_needs_cook),
    "meal_needs_helpers": (("date", "time", "meal_id", "open_places"), _meal_needs_helpers),
    "newcomer_waiting": (("arrived",), _newcomer_waiting),
    "sign_up_affected": (("title", "date", "what"), _sign_up_affected),
    "task_released": (("title", "date", "reason"), _task_released),
    "claim_released": (("title", "date", "reason"), _claim_released),
    # `task` is told when there is one
    "hand_over": (("title", "date", "start"), _hand_over),
    "confirm_intention": (("title", "date", "start", "lapses"), _confirm_intention),
    "weekly_digest": (("week", *DIGEST_LINES), _weekly_digest),
    "burnout_watch": (("month", "finding", "top_10pct_share", "rising"), _burnout_watch),
    "page_link": ((), _page_link),
}


# rule -> its words with names, for the rules whose mail may name people (to coordinators).
NAMING: dict[str, Callable[[str, dict[str, str], Sequence[str]], Words]] = {
    "burnout_watch": _burnout_watch,
}


def words_for(
    rule: str,
    facts: dict[str, str],
    names: Sequence[str] = (),
    listing: Sequence[Listed] = (),
) -> Words:
    """The words of `rule` from its facts, and `names` where the rule tells them (`NAMING`),
    followed by what it lists (`listing`, and how many more the list left out: the fact
    `unlisted`); ValueError for an unknown rule, a missing or malformed fact, or names for a
    rule that names no one."""
    if rule not in RULES:
        raise ValueError(f"no notice rule {rule!r}; known: {', '.join(RULES)}")
    needs, write = RULES[rule]
    missing = [name for name in needs if name not in facts]
    if missing:
        raise ValueError(f"{rule}: missing facts {', '.join(missing)}")
    if not names:
        words = write(rule, facts)
    elif rule in NAMING:
        words = NAMING[rule](rule, facts, names)
    else:
        raise ValueError(f"{rule}: names no one; names are told in {', '.join(NAMING)}")
    unlisted = _count(rule, facts, "unlisted") if "unlisted" in facts else 0
    return _with_listing(words, listing, unlisted)


# --- What a notice lists ----------------------------------------------------------------------


# A meal on one's own list: what they do there (the task), Danish and English.
AT_THE_MEAL = {"head_cook": ("du laver maden", "you cook"), "helper": ("du hjælper", "you help")}


def _places(places: int, da_one: str, da_more: str, en_one: str, en_more: str) -> tuple[str, str]:
    if places == 1:
        return f"1 {da_one}", f"1 {en_one}"
    return f"{places} {da_more}", f"{places} {en_more}"


def _listed(item: Listed) -> tuple[str, str]:
    """One line of a list, in Danish and English: when, then what."""
    if not item.title:  # a joint meal
        if item.mine:
            da, en = AT_THE_MEAL.get(item.task, AT_THE_MEAL["helper"])
        else:
            wanted = [("en kok", "a cook")] if item.cook_wanted else []
            if item.places:
                wanted.append(_places(item.places, "hjælper", "hjælpere", "helper", "helpers"))
            da = "mangler " + " og ".join(d for d, _ in wanted)
            en = "needs " + " and ".join(e for _, e in wanted)
        da, en = f"fællesspisning, {da}", f"joint meal, {en}"
    else:
        da, en = f"»{item.title}«", f"“{item.title}”"
        if item.task:
            da, en = f"{da}, opgave: {item.task}", f"{en}, task: {item.task}"
        if not item.mine:
            da_free, en_free = _places(
                item.places, "ledig plads", "ledige pladser", "open place", "open places"
            )
            da, en = f"{da}: {da_free}", f"{en}: {en_free}"
    return (
        f"- {da_day(item.date)} kl. {item.time}: {da}",
        f"- {en_day(item.date)} at {item.time}: {en}",
    )


def _with_listing(words: Words, listing: Sequence[Listed], unlisted: int) -> Words:
    """The words, then the person's own sign-ups and the open places, each a line, and how
    many more the list leaves out."""
    da, en = list(words.da), list(words.en)
    for mine, da_head, en_head in (
        (True, "Dine tilmeldinger:", "Your sign-ups:"),
        (False, "Ledige pladser:", "Open places:"),
    ):
        lines = [_listed(item) for item in listing if item.mine is mine]
        if lines:
            da.append("\n".join([da_head, *(d for d, _ in lines)]))
            en.append("\n".join([en_head, *(e for _, e in lines)]))
    if unlisted:
        da.append(f"Og {unlisted} mere: se tavlen i kiosken.")
        en.append(f"And {unlisted} more: see the board at the kiosk.")
    return dataclasses.replace(words, da=da, en=en)
