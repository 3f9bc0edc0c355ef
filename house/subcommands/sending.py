"""Sending commands to the house: `crew send`, and `crew import-crew` (one command a row)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from house import client
from house.client import NoService
from house.subcommands import (
    EXIT_INVALID,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    Subcommands,
    add_wait,
    reply_code,
    with_house,
)
from schemas.common import Accepted, Invalid, Refused, Reply, Unavailable, reply_decoder

if TYPE_CHECKING:
    from services.onboarding.members_csv import BadRow, Member, MembersFile


def cmd_send(args: argparse.Namespace) -> int:
    body = sys.stdin.buffer.read() if args.body == "-" else args.body.encode()

    async def work(nc: Any) -> int:
        reply = await client.send(
            nc,
            args.command,
            body,
            command_id=args.command_id,
            actor=args.actor,
            source="cli",
            timeout=args.wait,
        )
        print(reply.decode())
        return reply_code(reply)

    return asyncio.run(with_house(work))


def add_send(sub: Subcommands) -> None:
    p = sub.add_parser(
        "send",
        help="send a command and print the reply",
        description="Send <context>.<command> with a JSON body ('-' reads stdin). "
        f"Exit 0 accepted, {EXIT_INVALID} invalid, {EXIT_REFUSED} refused, "
        f"{EXIT_UNREACHABLE} no answer.",
        epilog="example: crew send meals.volunteer_to_cook "
        '\'{"meal_id":"mon","crew_id":"c-1042","role":"helper"}\'',
    )
    p.add_argument("command", help="<context>.<command>, e.g. meals.plan_meal")
    p.add_argument("body", help="the command as JSON, or - for stdin")
    p.add_argument(
        "--command-id",
        help="idempotency key: a retry with the same id gets the same "
        "reply and appends nothing (default: a fresh one)",
    )
    p.add_argument(
        "--actor",
        default=client.coordinator(),
        help="who acts: a crew id or coordinator:<name> (default coordinator:<your login>)",
    )
    add_wait(p)
    p.set_defaults(run=cmd_send)


REGISTERED, ALREADY, FAILED = "registered", "already crew", "not imported"


def cmd_import_crew(args: argparse.Namespace) -> int:
    from services.onboarding.members_csv import BadFile, read_members

    try:
        members = read_members(Path(args.csv).read_bytes())
    except (OSError, BadFile) as exc:
        print(f"crew import-crew: {args.csv}: {exc}", file=sys.stderr)
        return 2
    if members.ignored_columns:
        print(f"columns ignored: {', '.join(members.ignored_columns)}")
    return asyncio.run(with_house(lambda nc: import_rows(nc, members, args.actor, args.wait)))


async def import_rows(nc: Any, members: MembersFile, actor: str, wait: float) -> int:
    """Register every good row, one command each, and say per row what became of it."""
    run = client.new_command_id()[:16]
    # Who is crew now, and under which name: to say when a row's name differs, and to
    # find a row without a crew id that was imported before (by its name).
    crew_now = await client.sql_rows(
        nc, "select crew_id, display_name from crew where not forgotten"
    )
    names: dict[str, str] = dict(crew_now.rows)
    done: Counter[str] = Counter()
    for row in members.rows:
        lines = f"{row.first_line}" + (
            f"-{row.last_line}" if row.last_line > row.first_line else ""
        )
        # a run's own ids: a rerun is answered "already crew" by the rules, not replayed
        command_id = f"import-{run}-{row.first_line}"
        outcome = await import_row(nc, row, lines, names, command_id, actor, wait)
        if outcome is None:
            print(
                f"stopped at row {lines}: {done[REGISTERED]} registered, {done[ALREADY]} already "
                f"crew, {done[FAILED]} not imported before it; the rows after it were not sent. "
                "Import the file again once `crew status` is well: rows done already "
                'are answered "already crew".'
            )
            return EXIT_UNREACHABLE
        done[outcome] += 1
    print(
        f"{done[REGISTERED]} registered, {done[ALREADY]} already crew, {done[FAILED]} not "
        f"imported, of {len(members.rows)} rows"
    )
    return 1 if done[FAILED] else 0


async def import_row(
    nc: Any,
    row: Member | BadRow,
    lines: str,
    names: dict[str, str],
    command_id: str,
    actor: str,
    wait: float,
) -> str | None:
    """What became of one row (it is printed), or None when the house did not answer."""
    from services.onboarding.members_csv import BadRow, new_crew_id

    if isinstance(row, BadRow):
        print(f"row {lines}: not imported: {row.problem}")
        return FAILED
    crew_id, made = row.crew_id, False
    if not crew_id and not row.display_name:
        print(f"row {lines}: not imported: neither a crew_id nor a display_name")
        return FAILED
    if not crew_id:
        known = [c for c, n in names.items() if n == row.display_name]
        if known:
            print(
                f"row {lines} ({known[0]}): already crew, by the same name; nothing to "
                "do (give the row a crew_id if this is someone else)"
            )
            return ALREADY
        crew_id, made = new_crew_id(), True
    label = f"row {lines} ({crew_id})"
    body = {"crew_id": crew_id, "display_name": row.display_name}
    if row.contact:
        body["contact"] = row.contact
    try:
        answer = await client.send(
            nc,
            "onboarding.register_crew_member",
            msgspec.json.encode(body),
            command_id=command_id,
            actor=actor,
            source="cli-import",
            timeout=wait,
        )
    except NoService as exc:
        print(f"{label}: no answer, it may or may not be registered: {exc}")
        return None
    return report(reply_decoder.decode(answer), label, made, names, crew_id, row.display_name)


def report(
    reply: Reply, label: str, made: bool, names: dict[str, str], crew_id: str, name: str
) -> str:
    """Print what the house answered a row; what became of it."""
    match reply:
        case Accepted(events=[_, *_]):
            names[crew_id] = name
            print(f"{label}: registered" + (", with this new crew id" if made else ""))
            return REGISTERED
        case Accepted() if names.get(crew_id, name) != name:
            print(
                f"{label}: not imported: crew already, under another name; the name was not changed"
            )
            return FAILED
        case Accepted():
            print(f"{label}: already crew, nothing to do")
            return ALREADY
        case Invalid(errors=errors):
            problems = "; ".join(f"{e.path.replace('$.', '')}: {e.message}" for e in errors)
            print(f"{label}: not imported: {problems}")
        case Refused(message=message) | Unavailable(message=message):
            print(f"{label}: not imported: {message}")
    return FAILED


def add_import_crew(sub: Subcommands) -> None:
    p = sub.add_parser(
        "import-crew",
        help="register existing crew from a CSV file",
        description="CSV (UTF-8) with a header row: crew_id (optional), display_name, contact "
        "(optional). A crew id is a pseudonym, never a name: a row without one gets a new "
        "one (c-xxxxxxxx), which the report shows. Reports per row, by line, what it did; good "
        "rows are imported even when others are not. Importing the same file again changes "
        "nothing; a row whose crew id is crew under another name is reported, not changed. "
        f"Exit 1 if a row failed, {EXIT_UNREACHABLE} if the house stopped answering midway.",
    )
    p.add_argument("csv", help="the CSV file")
    p.add_argument(
        "--actor",
        default=client.coordinator(),
        help="who imports (default coordinator:<your login>)",
    )
    add_wait(p)
    p.set_defaults(run=cmd_import_crew)
