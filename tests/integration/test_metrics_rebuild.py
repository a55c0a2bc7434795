"""`appeals metrics rebuild` replays the MongoDB event log into metrics_facts.

A generated month of appeals (tests/unit/metrics/metrics_month.py, where the figures are
checked against the plans) is written to a fresh database's ``event_log`` in random order with
``insert_many``, as the appeals service's relay would leave it; the command runs as a real
process against the session SecantusDB, and its documents must equal the facts folded here,
appeal by appeal, in the generation ``metrics_meta`` points the readers at. A second run with
``--since`` replays only the appeals active since that day, into the same generation; a third,
full one with ``--drop-previous`` switches to a new generation and drops the old.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import uuid
from datetime import timedelta
from typing import Any

from pymongo import MongoClient

from services.metrics.adapters.facts_store import facts_document
from services.metrics.domain import AppealFacts, fold
from services.metrics.domain.formulas import CITY_TZ
from shared.embedded import DatabaseProcess
from tests.integration.conftest import REPO
from tests.unit.metrics.metrics_month import generate_month


def run_rebuild(mongo: DatabaseProcess, db_name: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "metrics", "rebuild", *args],
        env={
            "APPEALS_MONGO_URL": mongo.url,
            "APPEALS_MONGO_DB": db_name,
            "PATH": "/usr/bin:/bin",
        },
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def facts_in_use(db: Any) -> str:
    """The collection the readers use now (the rebuild's generation pointer)."""
    pointer = db.metrics_meta.find_one({"_id": "metrics_facts"})
    assert pointer is not None, "a full rebuild must point metrics_meta at its generation"
    return str(pointer["collection"])


def test_rebuild_writes_the_facts_of_every_appeal(mongo: DatabaseProcess) -> None:
    month = generate_month(seed=99, appeals=300)
    unique = {e.event_id: e for e in month.events}
    events = list(unique.values())
    random.Random(1).shuffle(events)  # the log's natural order is not the appeals' order
    db_name = f"metrics_rebuild_{uuid.uuid4().hex[:8]}"
    client: MongoClient = MongoClient(mongo.url, tz_aware=True)
    try:
        db = client[db_name]
        db.event_log.insert_many([{**e.model_dump(), "_id": e.event_id} for e in events])

        expected: dict[str, AppealFacts] = {}
        for event in sorted(events, key=lambda e: (e.appeal_id, e.occurred_at)):
            # The demo city has none of the generated streets: districts stay "none", as in
            # the command, which reads the default jurisdiction.
            expected[event.appeal_id] = fold(expected.get(event.appeal_id), event, {})

        out = run_rebuild(mongo, db_name)
        assert re.search(rf"done: {len(events)} events of {len(expected)} appeals .* events/s", out)
        first = facts_in_use(db)
        assert first.startswith("metrics_facts_")
        stored = {d["_id"]: d for d in db[first].find({})}
        assert stored.keys() == expected.keys()
        for appeal_id, facts in expected.items():
            assert stored[appeal_id] == facts_document(facts), appeal_id

        # --since: only appeals with an event on or after that day, each replayed in full.
        last = max(e.occurred_at for e in events).astimezone(CITY_TZ).date()
        since = last - timedelta(days=2)
        active = {e.appeal_id for e in events if e.occurred_at.astimezone(CITY_TZ).date() >= since}
        db[first].delete_many({"_id": {"$in": sorted(active)}})
        out = run_rebuild(mongo, db_name, "--since", since.isoformat())
        replayed = sum(1 for e in events if e.appeal_id in active)
        assert f"done: {replayed} events of {len(active)} appeals" in out
        assert 0 < len(active) < len(expected)
        assert facts_in_use(db) == first  # --since writes into the generation in use
        stored = {d["_id"]: d for d in db[first].find({})}
        assert stored.keys() == expected.keys()
        for appeal_id in active:
            assert stored[appeal_id] == facts_document(expected[appeal_id]), appeal_id

        # A second full rebuild: a new generation, the old one dropped on request.
        out = run_rebuild(mongo, db_name, "--drop-previous")
        second = facts_in_use(db)
        assert second != first and f"dropped {first}" in out
        assert first not in db.list_collection_names()
        assert {d["_id"] for d in db[second].find({}, {"_id": 1})} == expected.keys()
    finally:
        client.drop_database(db_name)
        client.close()
