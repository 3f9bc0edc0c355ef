"""What the house holds about one person: `crew forget`, `crew export`, `crew ical`, `crew link`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from typing import Any

import msgspec

from crew import settings
from house import client
from house.progress import ProgressLine
from house.subcommands import (
    EXIT_INVALID,
    Subcommands,
    add_wait,
    reply_code,
    with_house,
)


def kiosk_port() -> int:
    """The running house's kiosk port (house.json), else the default."""
    try:
        house = json.loads((settings.home_from_env() / settings.HOUSE_FILE).read_text())
        return int(house["http_port"])
    except (OSError, ValueError, KeyError):
        return 8080


def cmd_forget(args: argparse.Namespace) -> int:

    from projections.queries import MENTIONS
    from schemas.common import ID_PATTERN
    from services.kiosk import tokens

    async def seen(nc: Any) -> bool:
        """Whether any event names them (the views' copy of the log, a moment behind it)."""
        [found] = await client.rows_of(nc, MENTIONS, args.crew_id)
        return found.events > 0

    async def work(nc: Any) -> int:
        if not re.fullmatch(ID_PATTERN, args.crew_id):
            print(f"crew forget: {args.crew_id!r} is not a crew id", file=sys.stderr)
            return EXIT_INVALID
        if not args.yes and not await seen(nc):
            print(
                f"crew forget: the house has never seen {args.crew_id}: no event names them. "
                "Forgetting is for good: the id could never be used again. Check the id; "
                "to forget it all the same, add --yes.",
                file=sys.stderr,
            )
            return 1
        body = msgspec.json.encode({"person_id": args.crew_id})
        reply = await client.send(
            nc, "onboarding.forget_person", body, actor=args.actor, source="cli", timeout=args.wait
        )
        code = reply_code(reply)
        if code == 0:
            for kind in (tokens.PAGE_BUCKET, tokens.ICAL_BUCKET):  # their links end with them
                await tokens.revoke(nc, args.crew_id, kind)
            print(
                f"{args.crew_id} is forgotten: their key is destroyed, their personal link and "
                "calendar feed end; their contributions stay, as 'forgotten crew member'."
            )
        else:
            print(reply.decode())
        return code

    return asyncio.run(with_house(work))


def add_forget(sub: Subcommands) -> None:
    p = sub.add_parser(
        "forget",
        help="erase a person's personal data for good (GDPR erasure)",
        description="Destroy the person's key, so no replay, view, export or rebuild "
        "can read their name, contact details or notes again; their contributions "
        "stay, as 'forgotten crew member'. This cannot be undone. An id that no event names "
        "is refused unless --yes: forgetting it would block it for good.",
    )
    p.add_argument("crew_id")
    p.add_argument(
        "--actor",
        default=client.coordinator(),
        help="who asks (default coordinator:<your login>)",
    )
    p.add_argument(
        "--yes",
        action="store_true",
        help="forget an id no event names yet (otherwise refused: it would block the id for good)",
    )
    add_wait(p)
    p.set_defaults(run=cmd_forget)


def cmd_export(args: argparse.Namespace) -> int:
    from house.access import export

    line = ProgressLine()

    async def work(nc: Any) -> int:
        try:
            document = await export(
                nc, args.crew_id, lambda seen: line.show(f"export: {seen:,} events read ...")
            )
        except ValueError as exc:
            line.done()
            print(f"crew export: {exc}", file=sys.stderr)
            return 2
        line.done()
        text = msgspec.json.format(msgspec.json.encode(document), indent=2).decode()
        if args.out:  # personal data: for the person and whoever hands it over, nobody else
            fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(fd, 0o600)  # also when the file was there before, with other rights
            with os.fdopen(fd, "w") as out:
                out.write(text + "\n")
            print(f"wrote {args.out} ({len(document['events'])} events)", file=sys.stderr)
        else:
            print(text)
        return 0

    return asyncio.run(with_house(work))


def add_export(sub: Subcommands) -> None:
    p = sub.add_parser(
        "export",
        help="everything the house holds about a person, as JSON (right of access)",
        description="Personal data, every event that names the person, their "
        "participation and contributions, readable JSON.",
    )
    p.add_argument("crew_id")
    p.add_argument(
        "--out", help="write to this file (readable by its owner only) instead of standard output"
    )
    p.set_defaults(run=cmd_export)


def base_url(args: argparse.Namespace) -> str:
    """The kiosk server's address as others reach it: --base-url, else CREW_PUBLIC_URL, else
    this house's kiosk port on 127.0.0.1."""
    chosen = args.base_url or os.environ.get("CREW_PUBLIC_URL", "")
    return (chosen or f"http://127.0.0.1:{kiosk_port()}").rstrip("/")


def cmd_ical(args: argparse.Namespace) -> int:
    from services.kiosk import tokens

    async def work(nc: Any) -> int:
        if args.revoke:
            gone = await tokens.revoke(nc, args.crew_id, tokens.ICAL_BUCKET)
            print(f"{args.crew_id}: calendar feed {'revoked' if gone else 'did not exist'}")
            return 0 if gone else 1
        secret = await tokens.add(nc, args.crew_id, tokens.ICAL_BUCKET)
        print(f"{args.crew_id}: subscribe to this calendar (asking again makes a new address):")
        print(f"{base_url(args)}/ical/{args.crew_id}.ics?key={secret}")
        return 0

    return asyncio.run(with_house(work))


def add_ical(sub: Subcommands) -> None:
    p = sub.add_parser(
        "ical",
        help="give a person a calendar feed of their meals, cleaning parties and shifts",
        description="Prints the feed's URL with a secret key (only its hash is kept). Asking again "
        "rotates the key, so an old URL stops working; --revoke ends the feed.",
    )
    add_address_options(p, "end the feed")
    p.set_defaults(run=cmd_ical)


def add_address_options(p: argparse.ArgumentParser, revoke: str) -> None:
    p.add_argument("crew_id")
    p.add_argument(
        "--base-url",
        help="the kiosk's address as others reach it (default: CREW_PUBLIC_URL, else this "
        "house's kiosk port on 127.0.0.1)",
    )
    p.add_argument("--revoke", action="store_true", help=revoke)


LINK_WAIT_S = 10.0  # the views are a moment behind the log: a person registered just now


def cmd_link(args: argparse.Namespace) -> int:
    from projections.queries import PERSON
    from services.kiosk import tokens

    async def registered(nc: Any) -> bool:
        """Whether the crew registry knows them (and they are not forgotten), asking again for
        a moment: someone registered a breath ago may not be in the views yet. With
        --coordinator, also until the views show the role just granted, so that the dashboard
        link printed next opens at once."""
        deadline = asyncio.get_running_loop().time() + LINK_WAIT_S
        while True:
            found = await client.rows_of(nc, PERSON, args.crew_id)
            if found and (found[0].coordinator or not args.coordinator):
                return True
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.5)

    async def role(nc: Any) -> int:
        """Grant or take back the coordinator role: an event, with the CLI's coordinator as
        the actor. 0 once recorded."""
        command = "revoke_coordinator" if args.revoke else "grant_coordinator"
        body = msgspec.json.encode({"crew_id": args.crew_id})
        reply = await client.send(
            nc, f"onboarding.{command}", body, actor=client.coordinator(), source="cli"
        )
        code = reply_code(reply)
        if code != 0:
            print(reply.decode(), file=sys.stderr)
        elif args.revoke:
            print(f"{args.crew_id} is no longer a coordinator (their link stays).")
        else:
            print(f"{args.crew_id} is a coordinator now (see docs/pages.md).")
        return code

    async def work(nc: Any) -> int:
        if args.coordinator:  # the role, then (unless taking it back) their link as ever
            code = await role(nc)
            if code != 0 or args.revoke:
                return code
        if args.revoke:
            gone = await tokens.revoke(nc, args.crew_id, tokens.PAGE_BUCKET)
            print(f"{args.crew_id}: personal link {'revoked' if gone else 'did not exist'}")
            return 0 if gone else 1
        if not await registered(nc):
            print(
                f"crew link: {args.crew_id} is not in the crew registry (or was forgotten); "
                "register them first: crew send onboarding.register_crew_member ...",
                file=sys.stderr,
            )
            return 1
        secret = await tokens.add(nc, args.crew_id, tokens.PAGE_BUCKET)
        print(f"{args.crew_id}: their own page (asking again makes a new link; the old one ends):")
        print(f"{base_url(args)}/me#token={secret}")
        if args.coordinator:  # the same token opens the coordinators' dashboard
            print(f"{args.crew_id}: the coordinators' dashboard (docs/coordinator.md):")
            print(f"{base_url(args)}/coordinator#token={secret}")
        return 0

    return asyncio.run(with_house(work))


def add_link(sub: Subcommands) -> None:
    p = sub.add_parser(
        "link",
        help="give a crew member their own page: a personal link, no password",
        description="Prints the address of the person's own page, with a secret token after #token= "
        "(only its hash is kept; the token never reaches a server log). With it they plan, sign up, "
        "host and change things from their phone, as themselves. Asking again makes a new link and "
        "ends the old one; --revoke ends it; `crew forget` ends it too. --coordinator also grants "
        "them the coordinator role (an event) and prints their new link and the same link to the "
        "coordinators' dashboard (/coordinator); --coordinator --revoke "
        "takes the role back (an event) and leaves the link as it is. See docs/pages.md.",
    )
    add_address_options(p, "end the link (with --coordinator: take the role back instead)")
    p.add_argument(
        "--coordinator",
        action="store_true",
        help="grant the coordinator role (an event) and print the link",
    )
    p.set_defaults(run=cmd_link)
