"""Running the house: `crew up`, `status`, `prepare`, `backup`, kiosk tokens, and the files
for deploying it and for teams writing other services."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from crew import settings
from house import client
from house.subcommands import (
    Subcommands,
    with_house,
)

MAIL_FLAGS = {  # `crew up` flags that set the notices service's settings
    "smtp": "CREW_SMTP",
    "smtp_user": "CREW_SMTP_USER",
    "smtp_password_file": "CREW_SMTP_PASSWORD_FILE",
    "mail_from": "CREW_MAIL_FROM",
    "quiet_hours": "CREW_QUIET_HOURS",
    "public_url": "CREW_PUBLIC_URL",
}


def cmd_up(args: argparse.Namespace) -> int:
    from house.runner import House

    if args.smtp_password_file:  # the components run elsewhere: the whole path
        args.smtp_password_file = str(Path(args.smtp_password_file).resolve())
    for flag, variable in MAIL_FLAGS.items():
        if (value := getattr(args, flag)) is not None:
            os.environ[variable] = value  # the components read it, as if it had been set
    config = settings.load(find_house=False)
    if config.smtp_user and not Path(config.smtp_password_file or "/nonexistent").is_file():
        raise SystemExit(
            "crew up: --smtp-user needs --smtp-password-file FILE, a file to read"
        )  # the components read them again: stop here if bad
    home = Path(args.home).resolve() if args.home else config.home
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
        nats_url=config.nats_url,
        one_process=args.one_process,
    )
    return asyncio.run(house.run())


def add_mail_flags(p: argparse.ArgumentParser) -> None:
    """`crew up`'s flags for the notices service's mail (each sets a CREW_* setting)."""
    mail = p.add_argument_group(
        "notices by e-mail",
        "without --smtp, mail stays in the house's outbox: `crew notices` shows it "
        "(docs/notices.md)",
    )
    mail.add_argument("--smtp", metavar="HOST:PORT", help="the mail server (env CREW_SMTP)")
    mail.add_argument("--smtp-user", metavar="USER", help="its login, if it wants one")
    mail.add_argument(
        "--smtp-password-file", metavar="FILE", help="a file holding that login's password"
    )
    mail.add_argument(
        "--mail-from", metavar="ADDR", help="the sender of the house's mail (crew@localhost)"
    )
    mail.add_argument(
        "--public-url",
        metavar="URL",
        help="where phones reach the kiosk server, for the one-tap links in mail "
        "(default http://127.0.0.1:<--http-port>: this machine only)",
    )
    mail.add_argument(
        "--quiet-hours",
        metavar="HH-HH",
        help="house hours when no mail goes out; it waits for the end of them "
        "(default 21-08; none: any time)",
    )


def add_up(sub: Subcommands) -> None:
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
    p.add_argument(
        "--one-process",
        action="store_true",
        help="run the five contexts (meals, rota, onboarding, notices, activities) and the "
        "kiosk in one process, each still as its own NATS user: about 265 MB less memory, "
        "for a small machine (compose keeps one container each)",
    )
    add_mail_flags(p)
    p.set_defaults(run=cmd_up)


def cmd_status(args: argparse.Namespace) -> int:
    async def work(nc: Any) -> int:
        from house.runner import expected_answers

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

    return asyncio.run(with_house(work))


def add_status(sub: Subcommands) -> None:
    p = sub.add_parser(
        "status",
        help="exit 0 when every component answers",
        description="Ask every component of the running house to answer; exit 1 "
        "and name the silent ones otherwise.",
    )
    p.set_defaults(run=cmd_status)


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

    return asyncio.run(with_house(work))


def add_kiosk(sub: Subcommands) -> None:
    p = sub.add_parser(
        "kiosk",
        help="give a kiosk tablet a token, or take it back",
        description="`crew kiosk add <name>` prints a new token for a tablet (only its hash "
        "is stored; adding again replaces it); `crew kiosk revoke <name>` takes it back.",
    )
    p.add_argument("action", choices=("add", "revoke"))
    p.add_argument("name", help="the kiosk's name, e.g. kitchen-tablet (1-64 of A-Z a-z 0-9 _ -)")
    p.set_defaults(run=cmd_kiosk)


def cmd_prepare(args: argparse.Namespace) -> int:
    from house.runner import prepare

    async def work(nc: Any) -> int:
        await prepare(nc, args.replicas)
        print(f"the event stream and buckets are ready ({args.replicas} replicas)")
        return 0

    return asyncio.run(with_house(work))


def add_prepare(sub: Subcommands) -> None:
    p = sub.add_parser(
        "prepare",
        help="create the event stream and buckets on a NATS of your own (crew up does it itself)",
        description="Create, if missing, the event stream CREW_EVENTS, the command outcomes, "
        "the personal keys and the kiosk token buckets; never changes existing ones. Run it once "
        "as an admin NATS user (CREW_NATS_URL) before the services start: they may only use them.",
    )
    p.add_argument("--replicas", type=int, default=1, help="stream replicas (3 on a cluster)")
    p.set_defaults(run=cmd_prepare)


def cmd_backup(args: argparse.Namespace) -> int:
    from house.backup import backup, keep_ledgers, ledger_beside

    async def work(nc: Any) -> int:
        folder = Path(args.folder)
        counts = await backup(nc, folder, lambda line: print(line, flush=True))
        print(
            f"backed up {sum(counts.values()):,} messages of {len(counts)} streams to "
            f"{args.folder}; restore with: crew up --home NEW --restore {args.folder}"
        )
        # The running house keeps the ledger beside this backup from now on, if it runs here.
        home = settings.home_from_env()
        running_here = not settings.given_nats_url() and (home / settings.HOUSE_FILE).exists()
        ids = keep_ledgers(folder, home if running_here else None)
        print(
            f"{len(ids)} forgotten ids kept in {ledger_beside(folder)} (outside the backup; "
            "every restore applies it)"
            + ("" if running_here else "; later forgets are not added there: run crew backup again")
        )
        return 0

    return asyncio.run(with_house(work))


def add_backup(sub: Subcommands) -> None:
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


def cmd_compose_env(args: argparse.Namespace) -> int:
    from house.deploy import compose_env

    print(compose_env(), end="")
    return 0


def add_compose_env(sub: Subcommands) -> None:
    p = sub.add_parser(
        "compose-env",
        help="print fresh NATS passwords and their hashes for compose.yaml (> .env)",
        description="Print a fresh random password for every NATS user of the house and for "
        "the cluster's routes, each with its bcrypt hash (all the NATS nodes get), as "
        "KEY=value lines that docker compose reads from .env (see docs/operations.md).",
    )
    p.set_defaults(run=cmd_compose_env)


def cmd_deploy_config(args: argparse.Namespace) -> int:
    from house.deploy import nats_conf

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(nats_conf())
    print(out)
    return 0


def add_deploy_config(sub: Subcommands) -> None:
    p = sub.add_parser(
        "deploy-config",
        help="write deploy/nats.conf: the cluster config compose.yaml runs, users included",
        description="Write the 3-node cluster config that compose.yaml runs, with a user per "
        "component whose password hashes come from the environment (crew compose-env).",
    )
    p.add_argument("--out", default="deploy/nats.conf", help="file (default deploy/nats.conf)")
    p.set_defaults(run=cmd_deploy_config)


def cmd_schemas(args: argparse.Namespace) -> int:
    from house.contract import write_schemas

    for path in write_schemas(Path(args.out)):
        print(path)
    return 0


def add_schemas(sub: Subcommands) -> None:
    p = sub.add_parser(
        "schemas",
        help="write JSON Schema and AsyncAPI for every command and event",
        description="Write a JSON Schema per command and event, the reply's schema, and an "
        "AsyncAPI 3 document of every subject, for teams writing other services.",
    )
    p.add_argument("--out", default="docs/schemas", help="folder (default docs/schemas)")
    p.set_defaults(run=cmd_schemas)
