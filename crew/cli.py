"""The `crew` command: run the house, talk to it, query it."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec

from crew import client, settings, subjects
from crew.client import NoService

EXIT_REFUSED, EXIT_INVALID, EXIT_UNREACHABLE = 3, 2, 4

DESCRIPTION = """\
crew coordinates the crew of a community house: the daily joint meal, the weekly cleaning
party, newcomers. Every change is an event in NATS JetStream; coordinators read DuckDB views.

The house is found through CREW_NATS_URL, else through the house `crew up` runs in CREW_HOME
(default ./var)."""


def _nats_url() -> str:
    try:
        return settings.find_nats_url()
    except settings.HouseNotFound as exc:
        raise NoService(str(exc)) from None


async def _with_house(work: Callable[[Any], Awaitable[int]]) -> int:
    nc = await client.connect(_nats_url())
    try:
        return await work(nc)
    finally:
        await nc.close()


def _kiosk_port() -> int:
    """The running house's kiosk port (house.json), else the default."""
    try:
        house = json.loads((settings.home_from_env() / settings.HOUSE_FILE).read_text())
        return int(house["http_port"])
    except (OSError, ValueError, KeyError):
        return 8080


def cmd_up(args: argparse.Namespace) -> int:
    from crew.house import House

    home = Path(args.home or os.environ.get("CREW_HOME") or settings.DEFAULT_HOME).resolve()
    if args.cluster < 1:
        raise SystemExit("crew up: --cluster needs at least 1 node")
    if args.forgotten and not args.restore:
        raise SystemExit("crew up: --forgotten goes with --restore")
    home.mkdir(parents=True, exist_ok=True)
    house = House(
        home,
        args.nats_port,
        args.http_port,
        args.demo,
        say=lambda text: print(text, flush=True),
        cluster=args.cluster,
        restore=Path(args.restore).resolve() if args.restore else None,
        forgotten=[Path(f).resolve() for f in args.forgotten],
    )
    return asyncio.run(house.run())


def cmd_status(args: argparse.Namespace) -> int:
    async def work(nc: Any) -> int:
        from crew.house import expected_answers

        answers = await client.status(nc)
        seen = {a.component: a for a in answers}
        missing = [name for name in expected_answers() if name not in seen]
        for name in expected_answers():
            a = seen.get(name)
            if a is None:
                print(f"{name:<10} NOT ANSWERING")
            else:
                print(
                    f"{name:<10} {'ok' if a.ok else 'FAILING: ' + (a.problem or '?')} (pid {a.pid})"
                )
        failing = [a.component for a in answers if not a.ok]
        if missing or failing:
            print(f"not well: {', '.join(missing + failing)}", file=sys.stderr)
            return 1
        return 0

    return asyncio.run(_with_house(work))


def cmd_send(args: argparse.Namespace) -> int:
    body = sys.stdin.buffer.read() if args.body == "-" else args.body.encode()

    async def work(nc: Any) -> int:
        reply = await client.send(
            nc, args.command, body, command_id=args.command_id, actor=args.actor, source="cli"
        )
        print(reply.decode())
        return _reply_code(reply)

    return asyncio.run(_with_house(work))


# What a value must not bring to a terminal raw: C0 and C1 controls (an escape sequence can
# rewrite the screen or the title; a carriage return hides what came before), DEL, and the
# Unicode line separators and bidirectional overrides that reorder what is shown.
CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP: CSV injection).
FORMULA_START = ("=", "+", "-", "@")


def visible(text: str) -> str:
    """The text with every control character written out (\\x1b, \\r, \\n), never raw."""
    return CONTROLS.sub(_written_out, text)


def _written_out(match: re.Match[str]) -> str:
    c = match.group()
    return NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return visible(value)
    return visible(msgspec.json.encode(value).decode().strip('"'))


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    cell = _cell(value)
    # Only text is neutralised: a number, a negative one too, stays a number.
    if isinstance(value, str) and cell.startswith(FORMULA_START):
        return "'" + cell
    return cell


def format_rows(columns: list[str], rows: list[list[Any]], fmt: str) -> str:
    if fmt == "json":  # JSON escapes every control character itself
        return msgspec.json.encode([dict(zip(columns, row, strict=True)) for row in rows]).decode()
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([_csv_cell(c) for c in columns])
        writer.writerows([[_csv_cell(v) for v in row] for row in rows])
        return out.getvalue().rstrip("\n")
    names = [visible(c) for c in columns]
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(names)]
    line = lambda values: " │ ".join(v.ljust(w) for v, w in zip(values, widths, strict=True))  # noqa: E731
    rule = "─┼─".join("─" * w for w in widths)
    count = f"({len(rows)} row{'s' if len(rows) != 1 else ''})"
    return "\n".join([line(names), rule, *(line(r) for r in cells), count])


def cmd_sql(args: argparse.Namespace) -> int:
    from projections.query import SqlError, SqlRequest

    async def work(nc: Any) -> int:
        request = SqlRequest(
            sql=args.query, max_rows=args.max_rows, as_of=args.as_of, version=args.version
        )
        reply = await client.sql(nc, request, restricted=args.restricted, timeout=60)
        if isinstance(reply, SqlError):
            print(f"crew sql: {reply.message}", file=sys.stderr)
            return 1
        print(format_rows(reply.columns, reply.rows, args.format))
        if reply.truncated:
            print(f"({reply.note}; use --max-rows or narrow the query)", file=sys.stderr)
        return 0

    return asyncio.run(_with_house(work))


def cmd_events(args: argparse.Namespace) -> int:
    async def work(nc: Any) -> int:
        async for r in client.events(nc, since=args.since, follow=args.follow):
            h = r.headers
            if args.format == "json":
                line = {
                    "seq": r.seq,
                    "subject": r.subject,
                    "type": r.type,
                    "event_id": h.get("Crew-Event-Id"),
                    "occurred_at": h.get("Crew-Occurred-At"),
                    "recorded_at": r.recorded_at,
                    "actor": h.get("Crew-Actor"),
                    "correlation_id": h.get("Crew-Correlation-Id"),
                    "causation_id": h.get("Crew-Causation-Id"),
                    "source": h.get("Crew-Source"),
                    "payload": msgspec.Raw(r.data),
                }
                print(msgspec.json.encode(line).decode(), flush=True)
            else:
                cause = h.get("Crew-Causation-Id", "")
                correlation = h.get("Crew-Correlation-Id", cause)
                print(
                    f"{r.seq:>7}  {h.get('Crew-Occurred-At', '')[:23]}  {r.type:<32} "
                    f"actor={h.get('Crew-Actor', '')} source={h.get('Crew-Source', '')} "
                    f"cause={cause}{'' if correlation == cause else f' correlation={correlation}'} "
                    f"{r.data.decode('utf-8', 'replace')}",
                    flush=True,
                )
        return 0

    try:
        return asyncio.run(_with_house(work))
    except KeyboardInterrupt:
        return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    async def progress(update: dict[str, Any]) -> None:
        target = max(update["target"], 1)
        share = min(update["applied"] / target, 1.0)
        if not update.get("done"):
            print(
                f"\rrebuilding: {update['applied']:>9,} / {update['target']:,} events "
                f"({share:5.1%}), {update['events_per_s']:,.0f} events/s",
                end="",
                file=sys.stderr,
                flush=True,
            )

    async def work(nc: Any) -> int:
        if args.swap:
            result = await client.rebuild(nc, progress, {"swap": args.swap})
            print(
                f"version {args.swap} is live now (window {result['window_months']} months).",
                file=sys.stderr,
            )
            return 0
        request = {"version": args.version, "window_months": args.window_months}
        result = await client.rebuild(nc, progress, request)
        where = (
            f"version {args.version} is built beside the live views: compare with "
            f"`crew sql --version {args.version} ...`, then `crew rebuild --swap {args.version}`"
            if args.version
            else "the new file is live"
        )
        print(
            f"\rrebuilt every view from {result['applied']:,} events in {result['seconds']:.1f} s "
            f"({result['events_per_s']:,.0f} events/s); {where}.",
            file=sys.stderr,
        )
        return 0

    return asyncio.run(_with_house(work))


def _reply_code(reply: bytes) -> int:
    status = msgspec.json.decode(reply).get("status")
    return {"accepted": 0, "refused": EXIT_REFUSED, "invalid": EXIT_INVALID}.get(status, 1)


def cmd_forget(args: argparse.Namespace) -> int:
    import re

    from projections.queries import MENTIONS
    from schemas.common import ID_PATTERN

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
            nc, "onboarding.forget_person", body, actor=args.actor, source="cli"
        )
        code = _reply_code(reply)
        if code == 0:
            print(
                f"{args.crew_id} is forgotten: their key is destroyed; their contributions stay, "
                "as 'forgotten crew member'."
            )
        else:
            print(reply.decode())
        return code

    return asyncio.run(_with_house(work))


def cmd_export(args: argparse.Namespace) -> int:
    from crew.access import export

    async def work(nc: Any) -> int:
        try:
            document = await export(
                nc,
                args.crew_id,
                lambda seen: print(
                    f"\rexport: {seen:,} events read ...", end="", file=sys.stderr, flush=True
                ),
            )
        except ValueError as exc:
            print(f"crew export: {exc}", file=sys.stderr)
            return 2
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

    return asyncio.run(_with_house(work))


def cmd_import_crew(args: argparse.Namespace) -> int:
    from services.onboarding.members_csv import BadFile, BadRow, new_crew_id, read_members

    try:
        members = read_members(Path(args.csv).read_bytes())
    except (OSError, BadFile) as exc:
        print(f"crew import-crew: {args.csv}: {exc}", file=sys.stderr)
        return 2
    if members.ignored_columns:
        print(f"columns ignored: {', '.join(members.ignored_columns)}")

    async def work(nc: Any) -> int:
        failed = imported = already = 0
        run = client.new_command_id()[:16]
        # Who is crew now, and under which name: to say when a row's name differs, and to
        # find a row without a crew id that was imported before (by its name).
        crew_now = await client.sql_rows(
            nc, "select crew_id, display_name from crew where not forgotten"
        )
        names: dict[str, str] = dict(crew_now.rows)
        for row in members.rows:
            lines = f"{row.first_line}" + (
                f"-{row.last_line}" if row.last_line > row.first_line else ""
            )
            if isinstance(row, BadRow):
                failed += 1
                print(f"row {lines}: not imported: {row.problem}")
                continue
            crew_id, made = row.crew_id, False
            if not crew_id and not row.display_name:
                failed += 1
                print(f"row {lines}: not imported: neither a crew_id nor a display_name")
                continue
            if not crew_id:
                known = [c for c, n in names.items() if n == row.display_name]
                if known:
                    already += 1
                    print(
                        f"row {lines} ({known[0]}): already crew, by the same name; nothing to "
                        "do (give the row a crew_id if this is someone else)"
                    )
                    continue
                crew_id, made = new_crew_id(), True
            label = f"row {lines} ({crew_id})"
            body = {"crew_id": crew_id, "display_name": row.display_name}
            if row.contact:
                body["contact"] = row.contact
            try:  # a run's own ids: a rerun is answered "already crew" by the rules, not replayed
                answer = await client.send(
                    nc,
                    "onboarding.register_crew_member",
                    msgspec.json.encode(body),
                    command_id=f"import-{run}-{row.first_line}",
                    actor=args.actor,
                    source="cli-import",
                )
            except NoService as exc:
                print(f"{label}: no answer, it may or may not be registered: {exc}")
                print(
                    f"stopped at row {lines}: {imported} registered, {already} already crew, "
                    f"{failed} not imported before it; the rows after it were not sent. "
                    "Import the file again once `crew status` is well: rows done already "
                    'are answered "already crew".'
                )
                return EXIT_UNREACHABLE
            reply = msgspec.json.decode(answer)
            match reply.get("status"):
                case "accepted" if reply["events"]:
                    imported += 1
                    names[crew_id] = row.display_name
                    print(f"{label}: registered" + (", with this new crew id" if made else ""))
                case "accepted" if names.get(crew_id, row.display_name) != row.display_name:
                    failed += 1
                    print(
                        f"{label}: not imported: crew already, under another name; "
                        "the name was not changed"
                    )
                case "accepted":
                    already += 1
                    print(f"{label}: already crew, nothing to do")
                case "invalid":
                    failed += 1
                    errors = "; ".join(
                        f"{e['path'].replace('$.', '')}: {e['message']}" for e in reply["errors"]
                    )
                    print(f"{label}: not imported: {errors}")
                case _:
                    failed += 1
                    print(f"{label}: not imported: {reply.get('message') or reply}")
        print(
            f"{imported} registered, {already} already crew, {failed} not imported, "
            f"of {len(members.rows)} rows"
        )
        return 1 if failed else 0

    return asyncio.run(_with_house(work))


def cmd_kiosk(args: argparse.Namespace) -> int:
    from services.kiosk import tokens

    async def work(nc: Any) -> int:
        if args.action == "add":
            token = await tokens.add(nc, args.name)
            print(f"kiosk {args.name}: token (shown once; only its hash is kept):")
            print(token)
            print(f"open the kiosk page at http://<this machine>:<http port>/kiosk#token={token}")
            return 0
        if await tokens.revoke(nc, args.name):
            print(f"kiosk {args.name}: token revoked")
            return 0
        print(f"no kiosk named {args.name}", file=sys.stderr)
        return 1

    return asyncio.run(_with_house(work))


def cmd_ical(args: argparse.Namespace) -> int:
    from services.kiosk import tokens

    async def work(nc: Any) -> int:
        if args.revoke:
            gone = await tokens.revoke(nc, args.crew_id, tokens.ICAL_BUCKET)
            print(f"{args.crew_id}: calendar feed {'revoked' if gone else 'did not exist'}")
            return 0 if gone else 1
        secret = await tokens.add(nc, args.crew_id, tokens.ICAL_BUCKET)
        print(f"{args.crew_id}: subscribe to this calendar (asking again makes a new address):")
        base = args.base_url or f"http://127.0.0.1:{_kiosk_port()}"
        print(f"{base.rstrip('/')}/ical/{args.crew_id}.ics?key={secret}")
        return 0

    return asyncio.run(_with_house(work))


def cmd_snapshot(args: argparse.Namespace) -> int:
    async def work(nc: Any) -> int:
        raw = await client.request_json(nc, subjects.PROJECTOR_SNAPSHOT, {}, 120, "projector")
        answer = msgspec.json.decode(raw)
        if "error" in answer:
            print(f"crew snapshot: {answer['error']}", file=sys.stderr)
            return 1
        print(f"{answer['path']} (up to event {answer['seq']}); open it read-only, e.g.")
        print(f"  duckdb -readonly {answer['path']}")
        return 0

    return asyncio.run(_with_house(work))


def write_parquet(out: Path, columns: list[str], types: list[str], rows: list[list[Any]]) -> None:
    """Parquet with the view's own column types (from the query service's reply), not guessed
    from the values: an empty view or an all-NULL column keeps its type."""
    import tempfile

    import duckdb

    def literal(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    # JSON values arrive as text, and DuckDB reads no ISO 8601 duration: both are read as text
    read_as = {"JSON": "VARCHAR", "INTERVAL": "VARCHAR"}
    spec = ", ".join(
        f"{literal(c)}: {literal(read_as.get(t, t))}" for c, t in zip(columns, types, strict=True)
    )
    select = ", ".join(
        f'cast("{c}" as JSON) as "{c}"' if t == "JSON" else f'"{c}"'
        for c, t in zip(columns, types, strict=True)
    )
    with tempfile.TemporaryDirectory() as tmp:
        lines = Path(tmp) / "rows.jsonl"
        lines.write_bytes(
            b"".join(msgspec.json.encode(dict(zip(columns, r, strict=True))) + b"\n" for r in rows)
        )
        source = (
            f"read_json({literal(str(lines))}, format = 'newline_delimited', columns = {{{spec}}})"
        )
        con = duckdb.connect()
        try:
            con.execute(
                f"copy (select {select} from {source}) to {literal(str(out))} (format parquet)"
            )
        finally:
            con.close()


def cmd_export_view(args: argparse.Namespace) -> int:
    import re

    from projections.query import MAX_ROWS, SqlError, SqlRequest

    if not re.fullmatch(r"[a-z_]{1,64}", args.view):
        print(f"crew export-view: {args.view!r} is not a view name", file=sys.stderr)
        return 2
    out = Path(args.out or f"{args.view}.{args.format}")

    async def read_all(nc: Any) -> tuple[list[str], list[str], list[list[Any]]] | str:
        """Every row, in pages in a stable order (all columns), each page in its own
        transaction. A page is at most MAX_ROWS rows, and fewer when they would not fit in one
        answer (it says `truncated`): the next page starts after the rows received. Each answer
        carries the checkpoint it was read at, an empty one too; if the views moved on between
        pages, rows could be missed or repeated, so the view is read again from the start."""
        for _ in range(5):
            columns: list[str] = []
            types: list[str] = []
            rows: list[list[Any]] = []
            seqs: set[int | None] = set()
            while True:
                sql = f"select * from {args.view} order by all limit {MAX_ROWS} offset {len(rows)}"
                reply = await client.sql(nc, SqlRequest(sql=sql, max_rows=MAX_ROWS))
                if isinstance(reply, SqlError):
                    return reply.message
                columns, types = reply.columns, reply.types
                seqs.add(reply.checkpoint)
                rows += reply.rows
                print(f"\rexport-view: {len(rows):,} rows ...", end="", file=sys.stderr, flush=True)
                full = len(reply.rows) == MAX_ROWS or reply.truncated
                if not full or not reply.rows or len(seqs) > 1:
                    break
            if len(seqs) <= 1:
                return columns, types, rows
            print(
                "\nexport-view: the view changed while it was read; reading it again",
                file=sys.stderr,
            )
        return "the view kept changing while it was read; try again, or read snapshot.duckdb"

    async def work(nc: Any) -> int:
        read = await read_all(nc)
        print(file=sys.stderr)
        if isinstance(read, str):
            print(f"crew export-view: {read}", file=sys.stderr)
            return 1
        columns, types, rows = read
        if args.format == "parquet":
            write_parquet(out, columns, types, rows)
        else:
            out.write_text(format_rows(columns, rows, args.format) + "\n")
        print(f"wrote {out} ({len(rows)} rows of {args.view})", file=sys.stderr)
        return 0

    return asyncio.run(_with_house(work))


def cmd_views(args: argparse.Namespace, places: list[Path] | None = None) -> int:
    from importlib import metadata

    if places is None:  # a source checkout has docs/views.md; a wheel installs it as data
        places = [Path(__file__).resolve().parents[1] / "docs" / "views.md"]
        try:  # <prefix>/share/crew/views.md, wherever the wheel put it
            dist = metadata.distribution("crew")
            shipped = [f for f in dist.files or () if f.name == "views.md"]
            places += [Path(str(dist.locate_file(f))) for f in shipped]
        except metadata.PackageNotFoundError:
            pass
    found = next((place for place in places if place.is_file()), None)
    if found is None:
        print(
            "crew views: docs/views.md is not in this install (looked in "
            f"{', '.join(map(str, places))}); read docs/views.md in the crew source",
            file=sys.stderr,
        )
        return 1
    text = found.read_text()
    if args.view:
        sections = {s.split("\n", 1)[0].strip(): s for s in text.split("\n## ")[1:]}
        if args.view not in sections:
            names = ", ".join(name for name in sections if " " not in name)
            print(f"crew views: no view named {args.view} (there are {names})", file=sys.stderr)
            return 1
        text = "## " + sections[args.view]
    print(text.rstrip())
    return 0


def cmd_schemas(args: argparse.Namespace) -> int:
    from crew.contract import write_schemas

    for path in write_schemas(Path(args.out)):
        print(path)
    return 0


def cmd_deploy_config(args: argparse.Namespace) -> int:
    from crew.deploy import nats_conf

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(nats_conf())
    print(out)
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from crew.backup import backup, keep_ledgers, ledger_beside

    async def work(nc: Any) -> int:
        folder = Path(args.folder)
        counts = await backup(nc, folder, lambda line: print(line, flush=True))
        print(
            f"backed up {sum(counts.values()):,} messages of {len(counts)} streams to "
            f"{args.folder}; restore with: crew up --home NEW --restore {args.folder}"
        )
        # The running house keeps the ledger beside this backup from now on, if it runs here.
        home = settings.home_from_env()
        running_here = not os.environ.get("CREW_NATS_URL") and (home / settings.HOUSE_FILE).exists()
        ids = keep_ledgers(folder, home if running_here else None)
        print(
            f"{len(ids)} forgotten ids kept in {ledger_beside(folder)} (outside the backup; "
            "every restore applies it)"
            + ("" if running_here else "; later forgets are not added there: run crew backup again")
        )
        return 0

    return asyncio.run(_with_house(work))


def cmd_compose_env(args: argparse.Namespace) -> int:
    from crew.deploy import compose_env

    print(compose_env(), end="")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from crew.house import prepare

    async def work(nc: Any) -> int:
        await prepare(nc, args.replicas)
        print(f"the event stream and buckets are ready ({args.replicas} replicas)")
        return 0

    return asyncio.run(_with_house(work))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="crew", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = top.add_subparsers(dest="verb", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "up",
        help="start the whole house on this machine",
        description="Start nats-server (JetStream, fsync on every write), every "
        "service, the projector, the query service and the kiosk. Every component connects "
        "as its own NATS user, allowed only its own subjects; a client without credentials may do nothing. "
        "The crew CLI's credentials go in <home>/house.json. Stops cleanly on Ctrl-C.",
        epilog="environment: CREW_HOME (default for --home); CREW_NATS_URL=nats://host:port[,...] "
        "joins that NATS instead of starting one (its users are then yours to set up: every "
        "component connects with that URL); CREW_DUCKDB_MEMORY_LIMIT, CREW_SNAPSHOT_S and "
        "more in docs/operations.md.",
    )
    p.add_argument("--home", help="where the house keeps its data (default ./var, env CREW_HOME)")
    p.add_argument("--nats-port", type=int, default=4222, help="NATS port (default 4222)")
    p.add_argument(
        "--http-port",
        type=int,
        default=8080,
        help="kiosk HTTP port: the touch page, its API and the calendar feeds (default 8080)",
    )
    p.add_argument("--demo", action="store_true", help="seed a realistic house to explore")
    p.add_argument(
        "--restore",
        metavar="FOLDER",
        help="start a new house from a backup (crew backup): the log keeps its sequence numbers; "
        "everyone in FOLDER/../forgotten-ids, <home>/forgotten-ids and --forgotten stays forgotten",
    )
    p.add_argument(
        "--forgotten",
        metavar="FILE",
        action="append",
        default=[],
        help="with --restore: one more ledger of forgotten ids (one id a line) to apply; "
        "repeatable",
    )
    p.add_argument(
        "--cluster",
        type=int,
        default=1,
        metavar="N",
        help="run N nats-server nodes as a cluster on loopback (the first on --nats-port), "
        "the stream and buckets at min(N, 3) replicas (default 1: a single node)",
    )
    p.set_defaults(run=cmd_up)

    p = sub.add_parser(
        "status",
        help="exit 0 when every component answers",
        description="Ask every component of the running house to answer; exit 1 "
        "and name the silent ones otherwise.",
    )
    p.set_defaults(run=cmd_status)

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
    p.set_defaults(run=cmd_send)

    p = sub.add_parser(
        "sql",
        help="run a read-only SQL query against the views",
        description="Read-only SQL (one SELECT) against the live DuckDB views, answered by "
        "the query service under a time limit; no DDL, DML, SET, ATTACH, COPY or file access. "
        "`crew views` lists every view and column (meal_plan, rota, participation, "
        "crew_contributions, load_balance, drifting_away, meal_stats, onboarding_funnel, "
        "event_log, ...).",
        epilog='example: crew sql "select meal_id, head_cook, open_helper_slots from meal_plan"',
    )
    p.add_argument("query", help="one SELECT statement (quote it for the shell)")
    p.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="table (default), csv with a header row, or a JSON array of objects",
    )
    p.add_argument("--max-rows", type=int, default=10_000, help="row cap (default 10000)")
    p.add_argument("--version", help="query a version built side by side (crew rebuild --version)")
    p.add_argument(
        "--as-of",
        metavar="TIMESTAMP",
        help="answer the history views (meal_plan_as_of, rota_as_of) as they stood then, "
        "e.g. 2030-01-07T14:00:00+01:00; the query itself is not changed",
    )
    p.add_argument(
        "--restricted",
        action="store_true",
        help="query the restricted tables instead: people_details (contact, what brought them, "
        "interests) and conversation_notes",
    )
    p.set_defaults(run=cmd_sql)

    p = sub.add_parser(
        "events",
        help="print the event log with its metadata",
        description="Print events in order from --since; --follow keeps going.",
    )
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new events")
    p.add_argument("--since", type=int, default=1, help="first stream sequence (default 1)")
    p.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: a line per event (seq, time, type, actor, cause, payload); json: a JSON "
        "object per line with every header (event id, correlation, source, ...)",
    )
    p.set_defaults(run=cmd_events)

    p = sub.add_parser(
        "rebuild",
        help="rebuild every view from the log and swap it in",
        description="Replay the whole log into a new DuckDB file, with progress, "
        "then swap it in. Queries are answered from the old file until the swap.",
    )
    p.add_argument(
        "--version",
        help="build side by side under this name (a-z 0-9 -), leaving the live views be",
    )
    p.add_argument(
        "--window-months",
        type=int,
        help="the contributions window of the new build (default: as now)",
    )
    p.add_argument(
        "--swap", metavar="VERSION", help="make a version built with --version the live one"
    )
    p.set_defaults(run=cmd_rebuild)

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
    p.set_defaults(run=cmd_forget)

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
    p.set_defaults(run=cmd_import_crew)

    p = sub.add_parser(
        "kiosk",
        help="give a kiosk tablet a token, or take it back",
        description="`crew kiosk add <name>` prints a new token for a tablet (only its hash "
        "is stored; adding again replaces it); `crew kiosk revoke <name>` takes it back.",
    )
    p.add_argument("action", choices=("add", "revoke"))
    p.add_argument("name", help="the kiosk's name, e.g. kitchen-tablet (1-64 of A-Z a-z 0-9 _ -)")
    p.set_defaults(run=cmd_kiosk)

    p = sub.add_parser(
        "export-view",
        help="write a view to a CSV, Parquet or JSON file",
        description="Reads the view through the live query service and writes it here, e.g. for a "
        "spreadsheet or an annual report.",
    )
    p.add_argument("view", help="e.g. participation, crew_contributions (crew views lists them)")
    p.add_argument("--format", choices=("csv", "parquet", "json"), default="csv")
    p.add_argument("--out", help="the file (default <view>.<format>)")
    p.set_defaults(run=cmd_export_view)

    p = sub.add_parser(
        "ical",
        help="give a person a calendar feed of their meals, cleaning parties and shifts",
        description="Prints the feed's URL with a secret key (only its hash is kept). Asking again "
        "rotates the key, so an old URL stops working; --revoke ends the feed.",
    )
    p.add_argument("crew_id")
    p.add_argument(
        "--base-url",
        help="the kiosk's address as others reach it (default: this house's kiosk port on "
        "127.0.0.1)",
    )
    p.add_argument("--revoke", action="store_true", help="end the feed")
    p.set_defaults(run=cmd_ical)

    p = sub.add_parser(
        "snapshot",
        help="publish a read-only snapshot file for any SQL client now",
        description="The projector also publishes <home>/snapshot.duckdb every "
        "CREW_SNAPSHOT_S seconds (default 60). Open it with the duckdb CLI, Python or "
        "DBeaver while the house runs; it holds ids, not names.",
    )
    p.set_defaults(run=cmd_snapshot)

    p = sub.add_parser("views", help="describe every view and its columns (docs/views.md)")
    p.add_argument("view", nargs="?", help="only this view, e.g. crew_contributions")
    p.set_defaults(run=cmd_views)

    p = sub.add_parser(
        "prepare",
        help="create the event stream and buckets on a NATS of your own (crew up does it itself)",
        description="Create, if missing, the event stream CREW_EVENTS, the command outcomes, "
        "the personal keys and the kiosk token buckets; never changes existing ones. Run it once "
        "as an admin NATS user (CREW_NATS_URL) before the services start: they may only use them.",
    )
    p.add_argument("--replicas", type=int, default=1, help="stream replicas (3 on a cluster)")
    p.set_defaults(run=cmd_prepare)

    p = sub.add_parser(
        "backup",
        help="copy the event log and its buckets to a folder, while the house runs",
        description="Write every message of the event stream and of the buckets beside it "
        "(personal keys, command outcomes, kiosk and calendar tokens) to FOLDER, one JSON-lines "
        "file per stream. It holds personal data: keep it safe. Restore into a new house with "
        "`crew up --home NEW --restore FOLDER`.",
    )
    p.add_argument("folder", help="where to write the backup (created; owner-only)")
    p.set_defaults(run=cmd_backup)

    p = sub.add_parser(
        "compose-env",
        help="print fresh NATS passwords and their hashes for compose.yaml (> .env)",
        description="Print a fresh random password for every NATS user of the house and for "
        "the cluster's routes, each with its bcrypt hash (all the NATS nodes get), as "
        "KEY=value lines that docker compose reads from .env (see docs/operations.md).",
    )
    p.set_defaults(run=cmd_compose_env)

    p = sub.add_parser(
        "deploy-config",
        help="write deploy/nats.conf: the cluster config compose.yaml runs, users included",
        description="Write the 3-node cluster config that compose.yaml runs, with a user per "
        "component whose password hashes come from the environment (crew compose-env).",
    )
    p.add_argument("--out", default="deploy/nats.conf", help="file (default deploy/nats.conf)")
    p.set_defaults(run=cmd_deploy_config)

    p = sub.add_parser(
        "schemas",
        help="write JSON Schema and AsyncAPI for every command and event",
        description="Write a JSON Schema per command and event, the reply's schema, and an "
        "AsyncAPI 3 document of every subject, for teams writing other services.",
    )
    p.add_argument("--out", default="docs/schemas", help="folder (default docs/schemas)")
    p.set_defaults(run=cmd_schemas)
    return top


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        code = args.run(args)
    except NoService as exc:
        print(f"crew: {exc}", file=sys.stderr)
        code = EXIT_UNREACHABLE
    raise SystemExit(code)
