"""Onboarding in the house: a newcomer's way in or elsewhere, and what forgetting a person
leaves in the views; through the views, names and restricted details included."""

from __future__ import annotations

from datetime import date, datetime

import msgspec

from projections.query import SqlError
from schemas import meals as m
from schemas import onboarding as o
from schemas import rota as r
from tests.scenarios.harness import House, accepted, refused
from tests.series import cleaning_party


async def test_a_welcomed_newcomer_can_cook_and_a_redirected_one_shows_where_they_went(
    house: House,
) -> None:
    accepted(await house.send(o.RegisterCrewMember(crew_id="anna", display_name="Anna")))
    accepted(
        await house.send(
            o.RegisterNewcomer(
                newcomer_id="nora",
                display_name="Nora",
                brought_by="the meal",
                interests=["cooking"],
            )
        )
    )
    early = await house.send(o.OnboardNewcomer(newcomer_id="nora"))
    assert refused(early) == "no_conversation_yet"
    accepted(
        await house.send(
            o.ScheduleConversation(
                newcomer_id="nora",
                host_crew_id="anna",
                when=datetime.fromisoformat("2030-01-07T16:00:00+01:00"),
            )
        )
    )
    accepted(
        await house.send(
            o.RecordConversation(
                newcomer_id="nora", host_crew_id="anna", notes="wants to cook on Mondays"
            )
        )
    )
    assert accepted(
        await house.send(o.OnboardNewcomer(newcomer_id="nora", buddy_crew_id="anna"))
    ) == ["onboarding.newcomer_onboarded", "onboarding.buddy_assigned"]
    again = await house.send(o.OnboardNewcomer(newcomer_id="nora"))
    assert refused(again) == "already_onboarded"
    accepted(await house.send(m.PlanMeal(meal_id="mon", date=date(2030, 1, 7), helper_slots=2)))
    accepted(await house.send(m.VolunteerToCook(meal_id="mon", crew_id="nora", role="head_cook")))
    assert house.sql("select head_cook, head_cook_name from meal_plan") == [
        {"head_cook": "nora", "head_cook_name": "Nora"}
    ]
    assert house.sql(
        "select crew_id, display_name, joined_via, buddy_crew_id from crew order by crew_id"
    ) == [
        {"crew_id": "anna", "display_name": "Anna", "joined_via": "registered",
         "buddy_crew_id": None},
        {"crew_id": "nora", "display_name": "Nora", "joined_via": "onboarding",
         "buddy_crew_id": "anna"},
    ]  # fmt: skip
    accepted(await house.send(o.RegisterNewcomer(newcomer_id="otto", display_name="Otto")))
    accepted(await house.send(o.RecordConversation(newcomer_id="otto", host_crew_id="anna")))
    accepted(
        await house.send(
            o.RedirectNewcomer(newcomer_id="otto", to="the climbing club", why="looking for sport")
        )
    )
    assert house.sql(
        "select newcomer_id, outcome, redirected_to, conversation_host from onboarding_funnel "
        "order by newcomer_id"
    ) == [
        {"newcomer_id": "nora", "outcome": "onboarded", "redirected_to": None,
         "conversation_host": "anna"},
        {"newcomer_id": "otto", "outcome": "redirected", "redirected_to": "the climbing club",
         "conversation_host": "anna"},
    ]  # fmt: skip
    assert house.sql(
        "select kind, occurrence_id, status from participation where crew_id = 'anna' "
        "order by kind, occurrence_id"
    ) == [
        {"kind": "buddy", "occurrence_id": "nora", "status": "buddy"},
        {"kind": "conversation_host", "occurrence_id": "nora", "status": "hosted"},
        {"kind": "conversation_host", "occurrence_id": "otto", "status": "hosted"},
    ]
    assert house.sql(
        "select conversations_hosted, buddy_for from crew_contributions where crew_id = 'anna'"
    ) == [{"conversations_hosted": 2, "buddy_for": 1}]
    notes = house.sql(
        "select person_id, conversations[1].notes as notes from conversation_notes "
        "order by person_id",
        restricted=True,
    )
    assert notes[0] == {"person_id": "nora", "notes": "wants to cook on Mondays"}
    everyday = house.ask("select * from conversation_notes")  # only the restricted path has them
    assert isinstance(everyday, SqlError) and "conversation_notes" in everyday.message
    # Redirected is redirected: crew only by coming back as a new arrival.
    direct = await house.send(o.RegisterCrewMember(crew_id="otto", display_name="O"))
    assert refused(direct) == "already_redirected"


NAME = "Zebulon Quixtwhistle"
# Every personal thing the person typed or was told about them, each findable on its own.
SECRETS = {
    "display_name": NAME,
    "contact": "zq@example.org",
    "brought_by": "Plumtreeaunt",
    "interest": "Marzipanmaking",
    "notes": "Gloxiniatalk",
    "diet_note": "Vermilionbeans",
    "withdraw_reason": "Sneezewortcold",
    "redirected_to": "Quagmirecollective",  # where a newcomer, zr, was pointed
}
LEAKS = [s.encode() for s in SECRETS.values()] + [b"Quixtwhistle"]
FORGOTTEN = "forgotten crew member"
NAMES_SHOWN = (
    "select (select display_name from crew where crew_id = 'zq') as crew, "
    "(select helper_names from meal_plan where meal_id = 'tue') as meal_helpers, "
    "(select people_names from rota where occurrence_id = 'cleaning-20300110') as party, "
    "(select display_name from crew_contributions where crew_id = 'zq') as contributions"
)
COUNTS = (
    "select * exclude (display_name, days_since_last) from crew_contributions "
    "where crew_id in ('zq', 'anna') order by crew_id"
)
AT = datetime.fromisoformat("2030-01-07T09:00:00+01:00")
PARTY = cleaning_party(weeks_ahead=1, tasks=[r.TaskSpec(task="kitchen", capacity=2)], at=AT)


def a_newcomers_way_in() -> list[msgspec.Struct]:
    """zq arrives, talks with anna, is welcomed, helps, withdraws with a reason, eats with a
    diet note and joins a cleaning party; zr is pointed elsewhere. (The whole-house test of
    forgetting, tests/integration/test_onboarding_house.py, sends the same.)"""
    commands: list[msgspec.Struct] = [
        o.RegisterCrewMember(crew_id="anna", display_name="Anna"),
        o.RegisterNewcomer(
            newcomer_id="zq",
            display_name=NAME,
            brought_by=SECRETS["brought_by"],
            interests=[SECRETS["interest"]],
            contact=SECRETS["contact"],
        ),
        o.ScheduleConversation(
            newcomer_id="zq",
            host_crew_id="anna",
            when=datetime.fromisoformat("2030-01-07T16:00:00+01:00"),
        ),
        o.RecordConversation(newcomer_id="zq", host_crew_id="anna", notes=SECRETS["notes"]),
        o.OnboardNewcomer(newcomer_id="zq", buddy_crew_id="anna"),
        o.RegisterNewcomer(newcomer_id="zr", display_name="R"),
        o.RecordConversation(newcomer_id="zr", host_crew_id="anna"),
        o.RedirectNewcomer(newcomer_id="zr", to=SECRETS["redirected_to"]),
    ]
    for meal, day in (("tue", date(2030, 1, 8)), ("wed", date(2030, 1, 9))):
        commands += [
            m.PlanMeal(meal_id=meal, date=day, helper_slots=2),
            m.VolunteerToCook(meal_id=meal, crew_id="zq", role="helper"),
        ]
    return [
        *commands,
        m.VolunteerToCook(meal_id="tue", crew_id="anna", role="head_cook"),
        m.Withdraw(meal_id="wed", crew_id="zq", reason=SECRETS["withdraw_reason"]),
        m.SignUpToEat(meal_id="tue", crew_id="zq", diet_note=SECRETS["diet_note"]),
        PARTY,
        r.JoinCleaningParty(occurrence_id="cleaning-20300110", crew_id="zq", at=AT),
    ]


def everything_readable(house: House) -> dict[str, bytes]:
    """Every table and view either query path reaches (as information_schema lists them), as
    the JSON the query service would answer, and every event in the log."""
    found: dict[str, bytes] = {}
    for restricted in (False, True):
        tables = house.sql(
            "select table_catalog, table_schema, table_name from information_schema.tables",
            restricted=restricted,
        )
        assert len(tables) >= (2 if restricted else 20), tables
        for t in tables:
            name = f"{t['table_catalog']}.{t['table_schema']}.{t['table_name']}"
            rows = house.sql(f"select * from {name}", restricted=restricted)
            found[f"{'restricted ' if restricted else ''}{name}"] = msgspec.json.encode(rows)
    for record in house.log:
        found[f"event {record.seq}"] = record.data + msgspec.json.encode(dict(record.headers))
    return found


def assert_nowhere(house: House) -> None:
    for where, content in everything_readable(house).items():
        for secret in LEAKS:
            assert secret not in content, f"{secret!r} in {where}"


async def test_a_forgotten_person_is_in_no_view_and_no_rebuild_but_what_they_did_still_counts(
    house: House,
) -> None:
    for command in a_newcomers_way_in():
        accepted(await house.send(command))
    # Before: the name is where everyday views show names, the rest only where it belongs.
    assert house.sql(NAMES_SHOWN) == [
        {"crew": NAME, "meal_helpers": [NAME], "party": [NAME], "contributions": NAME}
    ]
    details = house.sql("select * from people_details where person_id = 'zq'", restricted=True)
    assert details[0]["contact"] == SECRETS["contact"]
    assert details[0]["brought_by"] == SECRETS["brought_by"]
    assert details[0]["interests"] == [SECRETS["interest"]]
    notes = house.sql(
        "select conversations[1].notes as n from conversation_notes where person_id = 'zq'",
        restricted=True,
    )
    assert notes == [{"n": SECRETS["notes"]}]
    log = b"".join(record.data for record in house.log)
    assert b"sealed:v1:zq:display_name:" in log and b"sealed:v1:zq:reason:" in log
    assert not any(secret.encode() in log for secret in SECRETS.values()), (
        "the log holds personal data only sealed, even before anyone is forgotten"
    )
    counts = house.sql(COUNTS)
    assert counts[1]["crew_id"] == "zq", counts  # their meal and party are still to come
    funnel = "select redirected_to from onboarding_funnel where newcomer_id = 'zr'"
    assert house.sql(funnel) == [{"redirected_to": SECRETS["redirected_to"]}]
    readable = b"".join(everything_readable(house).values())
    assert NAME.encode() in readable, "the sweep below reaches where names are shown"

    for person in ("zq", "zr"):
        accepted(await house.send(o.ForgetPerson(person_id=person)))
    forgotten = {
        "crew": FORGOTTEN,
        "meal_helpers": [FORGOTTEN],
        "party": [FORGOTTEN],
        "contributions": FORGOTTEN,
    }
    assert house.sql(NAMES_SHOWN) == [forgotten]
    assert house.sql("select forgotten from crew where crew_id = 'zq'") == [{"forgotten": True}]
    assert house.sql(COUNTS) == counts, "what they did still counts"
    assert house.sql(
        "select count(*) as n from people_details where person_id = 'zq'", restricted=True
    ) == [{"n": 0}]
    assert await house.vault.key("zq") is None, "their key is gone: the log is unreadable"
    assert_nowhere(house)

    await house.rebuild(house.projection.path.with_name("rebuilt.duckdb"))
    assert house.sql(NAMES_SHOWN) == [forgotten]
    assert house.sql(COUNTS) == counts
    assert_nowhere(house)
