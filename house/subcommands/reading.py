"""Reading the house: `crew sql`, `events`, `views`, `export-view`, `snapshot`, `rebuild`,
`notices`."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import msgspec

from crew import subjects
from crew.tables import format_rows, write_parquet
from house import client
from house.progress import ProgressLine
from house.subcommands import (
    Subcommands,
    with_house,
)


def cmd_sql(args: argparse.Namespace) -> int:
    from crew.sql import SqlError, SqlRequest

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

    return asyncio.run(with_house(work))


def add_sql(sub: Subcommands) -> None:
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
        return asyncio.run(with_house(work))
    except KeyboardInterrupt:
        return 0


def add_events(sub: Subcommands) -> None:
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


def cmd_rebuild(args: argparse.Namespace) -> int:
    line = ProgressLine()

    async def progress(update: dict[str, Any]) -> None:
        target = max(update["target"], 1)
        share = min(update["applied"] / target, 1.0)
        if not update.get("done"):
            line.show(
                f"rebuilding: {update['applied']:>9,} / {update['target']:,} events "
                f"({share:5.1%}), {update['events_per_s']:,.0f} events/s"
            )

    async def rebuild(nc: Any, request: dict[str, Any]) -> dict[str, Any]:
        try:
            return await client.rebuild(nc, progress, request)
        finally:  # what follows, an error too, starts on a line of its own
            line.done()

    async def work(nc: Any) -> int:
        if args.swap:
            result = await rebuild(nc, {"swap": args.swap})
            print(
                f"version {args.swap} is live now (window {result['window_months']} months).",
                file=sys.stderr,
            )
            return 0
        request = {"version": args.version, "window_months": args.window_months}
        result = await rebuild(nc, request)
        where = (
            f"version {args.version} is built beside the live views: compare with "
            f"`crew sql --version {args.version} ...`, then `crew rebuild --swap {args.version}`"
            if args.version
            else "the new file is live"
        )
        print(
            f"rebuilt every view from {result['applied']:,} events in {result['seconds']:.1f} s "
            f"({result['events_per_s']:,.0f} events/s); {where}.",
            file=sys.stderr,
        )
        return 0

    return asyncio.run(with_house(work))


def add_rebuild(sub: Subcommands) -> None:
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

    return asyncio.run(with_house(work))


def add_snapshot(sub: Subcommands) -> None:
    p = sub.add_parser(
        "snapshot",
        help="publish a read-only snapshot file for any SQL client now",
        description="The projector also publishes <home>/snapshot.duckdb every "
        "CREW_SNAPSHOT_S seconds (default 60). Open it with the duckdb CLI, Python or "
        "DBeaver while the house runs; it holds ids, not names.",
    )
    p.set_defaults(run=cmd_snapshot)


def cmd_export_view(args: argparse.Namespace) -> int:

    from crew.sql import MAX_ROWS, SqlError, SqlRequest

    if not re.fullmatch(r"[a-z_]{1,64}", args.view):
        print(f"crew export-view: {args.view!r} is not a view name", file=sys.stderr)
        return 2
    out = Path(args.out or f"{args.view}.{args.format}")
    line = ProgressLine(every_s=0)  # a line per page of rows, also into a pipe

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
                line.show(f"export-view: {len(rows):,} rows ...")
                full = len(reply.rows) == MAX_ROWS or reply.truncated
                if not full or not reply.rows or len(seqs) > 1:
                    break
            if len(seqs) <= 1:
                return columns, types, rows
            line.done()
            print(
                "export-view: the view changed while it was read; reading it again", file=sys.stderr
            )
        return "the view kept changing while it was read; try again, or read snapshot.duckdb"

    async def work(nc: Any) -> int:
        read = await read_all(nc)
        line.done()
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

    return asyncio.run(with_house(work))


def add_export_view(sub: Subcommands) -> None:
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


def cmd_views(args: argparse.Namespace, places: list[Path] | None = None) -> int:
    from importlib import metadata

    if places is None:  # a source checkout has docs/views.md; a wheel installs it as data
        places = [Path(__file__).resolve().parents[2] / "docs" / "views.md"]
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


def add_views(sub: Subcommands) -> None:
    p = sub.add_parser("views", help="describe every view and its columns (docs/views.md)")
    p.add_argument("view", nargs="?", help="only this view, e.g. crew_contributions")
    p.set_defaults(run=cmd_views)


def cmd_notices(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo

    from schemas.common import HOUSE_TIMEZONE
    from schemas.notices import Letter

    async def work(nc: Any) -> int:
        raw = await client.request_json(nc, subjects.NOTICES_OUTBOX, {}, 10, "notices service")
        letters = msgspec.json.decode(raw, type=list[Letter])
        if args.format == "json":
            print(msgspec.json.encode(letters).decode())
            return 0
        for letter in letters:
            print(f"To: {letter.to}  ({letter.crew_id}; notice {letter.notice_id})")
            after = letter.send_after.astimezone(ZoneInfo(HOUSE_TIMEZONE))
            print(f"Not before: {after:%Y-%m-%d %H:%M %Z} (house time)")
            print(f"Subject: {letter.subject}\n\n{letter.text.rstrip()}\n")
        print(f"{len(letters)} notice(s) in the outbox, not sent yet")
        return 0

    return asyncio.run(with_house(work))


def add_notices(sub: Subcommands) -> None:
    p = sub.add_parser(
        "notices",
        help="the mail in the outbox, not sent yet",
        description="Every notice recorded and not yet sent, as the mail it will be: all of "
        "them when the house runs without a mail server (crew up --smtp), else those waiting "
        "for the end of quiet hours or for the mail server. Holds addresses: coordinators only.",
    )
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(run=cmd_notices)


def cmd_report(args: argparse.Namespace) -> int:
    from house import report, report_render

    if args.to < args.start:
        print("crew report: --to is before --from", file=sys.stderr)
        return 2
    out = Path(args.out or f"report.{args.format}")

    async def work(nc: Any) -> int:
        made = await report.gather(nc, args.start, args.to)
        if args.format == "pdf":
            out.write_bytes(report_render.as_pdf(made, args.lang))
        elif args.format == "csv":
            out.write_text(report_render.as_csv(made, args.lang))
        else:
            out.write_text(report_render.as_html(made, args.lang))
        print(f"wrote {out} ({args.format}, {args.start} to {args.to})", file=sys.stderr)
        return 0

    return asyncio.run(with_house(work))


def add_report(sub: Subcommands) -> None:
    import datetime

    p = sub.add_parser(
        "report",
        help="write the report for funders: counts only, no name, no id",
        description="What the house did in a period, for funders and the municipality: meals, "
        "cleaning parties, how many took part and how evenly, newcomers, hours. Counts only; "
        "groups under 5 people are merged so no one can be singled out, and every figure names "
        "the view it came from. See docs/coordinator.md.",
        epilog="example: crew report --from 2026-01-01 --to 2026-12-31 --format pdf --out 2026.pdf",
    )
    day = datetime.date.fromisoformat
    p.add_argument("--from", dest="start", type=day, required=True, metavar="DATE")
    p.add_argument("--to", type=day, required=True, metavar="DATE")
    p.add_argument("--format", choices=("html", "pdf", "csv"), default="html")
    p.add_argument("--lang", choices=("da", "en"), default="da", help="Danish (default) or English")
    p.add_argument("--out", help="the file (default report.<format>)")
    p.set_defaults(run=cmd_report)
