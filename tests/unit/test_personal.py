"""Crypto-shredding: sealing, opening, and what is left once a key is gone."""

from __future__ import annotations

import datetime

import msgspec

from crew.personal import (
    InMemoryVault,
    personal_fields,
    seal,
    seal_event,
    sealed_people,
    unseal,
    unseal_payload,
)
from schemas import meals as m
from schemas import notices as n
from schemas import onboarding as o

AT = datetime.datetime(2030, 1, 7, tzinfo=datetime.UTC)


def test_schemas_mark_exactly_the_personal_fields() -> None:
    assert personal_fields(o.NewcomerArrived) == {
        "display_name": ("person_id", False),
        "brought_by": ("person_id", False),
        "interests": ("person_id", True),
        "contact": ("person_id", False),
    }
    assert personal_fields(m.SignedUpToEat) == {"diet_note": ("crew_id", False)}
    assert personal_fields(m.Withdrew) == {"reason": ("crew_id", False)}
    assert personal_fields(o.KindlyRedirected) == {
        "to": ("person_id", False),
        "why": ("person_id", False),
    }
    assert personal_fields(o.ConversationHeld) == {"notes": ("person_id", False)}
    assert personal_fields(m.VolunteeredToCook) == {}
    assert personal_fields(n.AddressSet) == {"email": ("crew_id", False)}
    assert personal_fields(n.NoticeRecorded) == {}


async def test_a_sealed_event_holds_no_plain_personal_data_and_opens_with_the_key() -> None:
    vault = InMemoryVault()
    event = o.NewcomerArrived(
        person_id="nora",
        display_name="Nora Nightingale",
        interests=["cooking"],
        contact="n@x.dk",
        arrived_at=AT,
    )
    data = await seal_event(event, vault)
    assert b"Nightingale" not in data and b"cooking" not in data and b"n@x.dk" not in data
    assert sealed_people(data) == {"nora"}
    opened = unseal_payload(data, {"nora": await vault.key("nora")})
    assert msgspec.json.decode(opened, type=o.NewcomerArrived) == event


async def test_a_notices_address_is_sealed_in_the_log_and_unreadable_once_forgotten() -> None:
    vault = InMemoryVault()
    event = n.AddressSet(crew_id="anna", email="anna.holm@example.org")
    data = await seal_event(event, vault)
    assert b"anna.holm" not in data and b"example.org" not in data
    assert sealed_people(data) == {"anna"}
    opened = unseal_payload(data, {"anna": await vault.key("anna")})
    assert msgspec.json.decode(opened, type=n.AddressSet) == event
    await vault.forget("anna")
    gone = unseal_payload(data, {"anna": await vault.key("anna")})
    assert msgspec.json.decode(gone, type=n.AddressSet).email == ""


async def test_once_the_key_is_gone_the_values_read_as_empty_and_the_rest_survives() -> None:
    vault = InMemoryVault()
    data = await seal_event(
        m.SignedUpToEat(meal_id="m1", crew_id="anna", portions=2, diet_note="vegan"), vault
    )
    await vault.forget("anna")
    after = msgspec.json.decode(
        unseal_payload(data, {"anna": await vault.key("anna")}), type=m.SignedUpToEat
    )
    assert (after.crew_id, after.portions, after.diet_note) == ("anna", 2, "")


def test_a_sealed_value_cannot_be_moved_to_another_person_or_field() -> None:
    key = b"k" * 32
    sealed = seal("Nora", "nora", "display_name", key)
    assert unseal(sealed, key) == "Nora"
    assert unseal(sealed.replace("nora:display_name", "bo:display_name"), key) == ""
    assert unseal(sealed.replace(":display_name:", ":contact:"), key) == ""
    assert unseal(sealed, b"x" * 32) == ""


async def test_after_forgetting_no_new_key_is_made_and_new_personal_data_is_not_recorded() -> None:
    vault = InMemoryVault()
    await seal_event(m.SignedUpToEat(meal_id="m1", crew_id="anna", diet_note="vegan"), vault)
    await vault.forget("anna")
    later = await seal_event(
        m.SignedUpToEat(meal_id="m2", crew_id="anna", diet_note="still vegan"), vault
    )
    assert await vault.key("anna", create=True) is None
    assert msgspec.json.decode(later)["diet_note"] == ""


async def test_where_a_newcomer_was_pointed_is_sealed_and_an_older_plain_one_still_reads() -> None:
    vault = InMemoryVault()
    event = o.KindlyRedirected(person_id="otto", to="the debt counselling", redirected_at=AT)
    data = await seal_event(event, vault)
    assert b"counselling" not in data
    assert (
        msgspec.json.decode(
            unseal_payload(data, {"otto": await vault.key("otto")}), type=o.KindlyRedirected
        )
        == event
    )
    older = (
        b'{"type":"onboarding.kindly_redirected","person_id":"otto","to":"the club",'
        b'"redirected_at":"2030-01-07T00:00:00Z"}'
    )
    assert msgspec.json.decode(unseal_payload(older, {}), type=o.KindlyRedirected).to == "the club"
