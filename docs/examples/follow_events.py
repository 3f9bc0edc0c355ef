"""Follow crew's events from a stream sequence on, each checked against its published JSON
Schema (docs/schemas/events/<type>.json). docs/integrations.md walks through it.

    pip install nats-py jsonschema
    python follow_events.py --house /path/to/var/house.json --from 1 --subject 'crew.evt.meals.>'

It prints one line per event, `<seq> <type> <occurred_at> <payload as JSON>`, and keeps
following until stopped (or until --count events); what it skips, and why, it logs to stderr.
Keep the last seq you handled: after a restart, follow from the one after it."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import jsonschema
import nats
from nats.js.api import ConsumerConfig, DeliverPolicy

log = logging.getLogger("follow_events")


def load_validators(schemas: Path) -> dict[str, jsonschema.Draft202012Validator]:
    """One validator per event type, from the folder `crew schemas` writes."""
    return {
        path.stem: jsonschema.Draft202012Validator(
            json.loads(path.read_text()),
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,  # dates too
        )
        for path in sorted((schemas / "events").glob("*.json"))
    }


async def follow(
    url: str,
    start: int,
    subject: str,
    validators: dict[str, jsonschema.Draft202012Validator],
    count: int | None,
) -> None:
    # The observer may read and follow the log and nothing else. Replies to its requests
    # come on its own inboxes only, so it must say which: _INBOX_observer.
    nc = await nats.connect(url, inbox_prefix="_INBOX_observer")
    try:
        js = nc.jetstream()
        # An ordered consumer: every event of the subject in stream order, none skipped, no
        # acks, nothing left on the server; after a reconnect it resumes where it was.
        sub = await js.subscribe(
            subject,
            ordered_consumer=True,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start
            ),
        )
        log.info("following %s from seq %d", subject, start)
        handled = 0
        async for msg in sub.messages:
            seq = msg.metadata.sequence.stream
            headers = msg.headers or {}
            kind = headers.get("Crew-Event-Type", "")
            event: Any = json.loads(msg.data)
            validator = validators.get(kind)
            if validator is None:
                # Newer than your copy of the schemas: fetch them again, skip it meanwhile.
                log.warning("%d %s: no schema for this type", seq, kind)
            else:
                errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(event)]
                if errors:
                    log.warning("%d %s does not match: %s", seq, kind, errors)
                else:
                    occurred = headers.get("Crew-Occurred-At", "")
                    print(f"{seq} {kind} {occurred} {json.dumps(event)}", flush=True)
            handled += 1
            if count is not None and handled >= count:
                return
    finally:
        await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--house", type=Path, help="house.json of a running crew up")
    where.add_argument("--url", help="the observer's NATS URL, nats://observer:<pw>@host:4222")
    parser.add_argument("--from", dest="start", type=int, default=1, help="stream sequence")
    parser.add_argument("--subject", default="crew.evt.>", help="e.g. crew.evt.meals.>")
    parser.add_argument("--schemas", type=Path, default=Path("docs/schemas"))
    parser.add_argument("--count", type=int, help="stop after this many events")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")  # to stderr
    url = args.url or json.loads(args.house.read_text())["observer_url"]
    validators = load_validators(args.schemas)
    if not validators:
        parser.error(f"no schemas in {args.schemas / 'events'}: run `crew schemas` or copy them")
    asyncio.run(follow(url, args.start, args.subject, validators, args.count))


if __name__ == "__main__":
    main()
