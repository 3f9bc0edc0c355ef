"""The `crew` command: run the house, talk to it, query it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from house.client import NoService
from house.subcommands import EXIT_UNREACHABLE, Subcommands, people, reading, running, sending

DESCRIPTION = """\
crew coordinates the crew of a community house: the daily joint meal, the weekly cleaning
party, newcomers. Every change is an event in NATS JetStream; coordinators read DuckDB views.

The house is found through CREW_NATS_URL, else through the house `crew up` runs in CREW_HOME
(default ./var)."""

# In the order `crew --help` lists them.
SUBCOMMANDS: list[Callable[[Subcommands], None]] = [
    running.add_up,
    running.add_status,
    sending.add_send,
    reading.add_sql,
    reading.add_events,
    reading.add_rebuild,
    people.add_forget,
    people.add_export,
    sending.add_import_crew,
    running.add_kiosk,
    reading.add_export_view,
    reading.add_report,
    people.add_ical,
    people.add_link,
    reading.add_notices,
    reading.add_snapshot,
    reading.add_views,
    running.add_prepare,
    running.add_backup,
    running.add_compose_env,
    running.add_deploy_config,
    running.add_schemas,
]


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="crew", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = top.add_subparsers(dest="verb", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    return top


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        code = args.run(args)
    except NoService as exc:
        print(f"crew: {exc}", file=sys.stderr)
        code = EXIT_UNREACHABLE
    raise SystemExit(code)
