"""The peer: the same sign-up on the Python `eventsourcing` library (9.5, SQLite on a file,
durable settings), in process, so `make bench` can say how crew compares with it.

The workload mirrors crew's command path in `bench.run.command_path`: meals planned with 50
helper places, then one helper sign-up per command spread over the meals, by the same people
(`bench.workload.sign_up`). Each sign-up loads the meal (replaying its events, as crew loads
an aggregate), decides (already on it? full? then the waitlist), and appends the new event
under the library's optimistic concurrency check, retried on a conflict as crew's shell
retries. SQLite runs in WAL mode with `synchronous=FULL`, so every commit is fsynced before it
returns, like crew's `sync_interval: always`. What crew does and the peer does not: the command
id's outcome for idempotent retries, the request/reply hop over NATS, and the reply's encoding.

`python -m bench.peer_meals --sequential N --concurrent N --meals M --db FILE` prints one JSON
line: the sequential rate, the rate at each thread count, and the journal and sync modes of the
file (read on a fresh connection: the library sets neither, so its connections have the same).
It runs in a process of its own (bench.peer), so the library, only in the dev extras, is never
imported by crew's own figures.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from bench import workload

THREADS = (8, 16, 32, 64)
HELPER_PLACES = 50


def meal_uuid(meal_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"crew-bench/{meal_id}")


class Meal(Aggregate):
    """A meal with helper places and a waitlist: the part of crew's meal the sign-up needs."""

    @staticmethod
    def create_id(meal_id: str, helper_slots: int) -> UUID:
        return meal_uuid(meal_id)

    @event("Planned")
    def __init__(self, meal_id: str, helper_slots: int) -> None:
        self.meal_id = meal_id
        self.helper_slots = helper_slots
        self.helpers: list[str] = []
        self.waitlist: list[str] = []

    def volunteer(self, crew_id: str) -> None:
        if crew_id in self.helpers or crew_id in self.waitlist:
            return  # already on it: nothing new, as crew's decider
        if len(self.helpers) >= self.helper_slots:
            self._waitlisted(crew_id)
        else:
            self._volunteered(crew_id)

    @event("VolunteeredToCook")
    def _volunteered(self, crew_id: str) -> None:
        self.helpers.append(crew_id)

    @event("WaitlistedToHelp")
    def _waitlisted(self, crew_id: str) -> None:
        self.waitlist.append(crew_id)


class Meals(Application[UUID]):
    def plan(self, meal_id: str) -> None:
        self.save(Meal(meal_id, HELPER_PLACES))

    def volunteer(self, meal_id: str, crew_id: str) -> None:
        while True:
            meal: Meal = self.repository.get(meal_uuid(meal_id))
            meal.volunteer(crew_id)
            try:
                self.save(meal)
                return
            except IntegrityError:
                continue  # another thread signed up to the same meal first: load again


def open_meals(db: Path) -> Meals:
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(db),
        "SQLITE_LOCK_TIMEOUT": "30",
    }
    return Meals(env=env)


def durability(db: Path) -> dict[str, Any]:
    """What SQLite does on each commit of the peer's file: WAL and a full sync."""
    with sqlite3.connect(db) as conn:
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
        synchronous = conn.execute("PRAGMA synchronous").fetchone()[0]
    return {"journal_mode": journal, "synchronous": {2: "FULL", 3: "EXTRA"}.get(synchronous)}


def rate(meals: Meals, count: int, threads: int, offset: int, meal_count: int) -> float:
    def one(i: int) -> None:
        body = workload.sign_up("peer", offset + i, meal_count)
        meals.volunteer(body["meal_id"], body["crew_id"])

    started = time.perf_counter()
    if threads == 1:
        for i in range(count):
            one(i)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, range(count)))
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peer_meals", description=__doc__)
    parser.add_argument("--sequential", type=int, required=True)
    parser.add_argument("--concurrent", type=int, required=True)
    parser.add_argument("--meals", type=int, required=True)
    parser.add_argument("--db", type=Path, required=True)
    args = parser.parse_args()
    meals = open_meals(args.db)
    for n in range(args.meals):
        meals.plan(f"meal{n}")
    result: dict[str, Any] = {
        "sequential": rate(meals, args.sequential, 1, 0, args.meals),
        "threads": {},
    }
    offset = args.sequential
    for threads in THREADS:
        result["threads"][threads] = rate(meals, args.concurrent, threads, offset, args.meals)
        offset += args.concurrent
        print(f"  peer, {threads} threads: {result['threads'][threads]:,.0f}/s", file=sys.stderr)
    result["durability"] = durability(args.db)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
