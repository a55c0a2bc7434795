"""``appeals bench rebuild`` (services/bench/rebuild_compare.py) against the real SecantusDB.

A generated month's events are stored in ``event_log``; the tool rebuilds them twice from this
checkout under two labels. Each run must report every event, the server's CPU must be read,
and between runs only the generation the readers use may remain.
"""

from __future__ import annotations

import uuid

from pymongo import MongoClient

from services.bench.rebuild_compare import CompareOptions, run_compare
from shared.embedded import DatabaseProcess
from tests.integration.conftest import REPO
from tests.unit.metrics.metrics_month import generate_month


def test_every_checkout_rebuilds_the_same_log_in_turn(mongo: DatabaseProcess) -> None:
    events = list({e.event_id: e for e in generate_month(seed=5, appeals=60).events}.values())
    db_name = f"bench_rebuild_{uuid.uuid4().hex[:8]}"
    client: MongoClient = MongoClient(mongo.url, tz_aware=True)
    try:
        db = client[db_name]
        db.event_log.insert_many([{**e.model_dump(), "_id": e.event_id} for e in events])
        said: list[str] = []
        assert mongo.pid is not None
        result = run_compare(
            CompareOptions(
                mongo_url=mongo.url,
                database=db_name,
                code=[("first", REPO), ("second", REPO)],
                rounds=1,
                server_pid=mongo.pid,
            ),
            say=said.append,
        )
        runs = result["rebuild_runs"]
        assert [(r["how"], r["round"]) for r in runs] == [("first", 1), ("second", 1)]
        assert all(r["events"] == len(events) == result["events"] for r in runs)
        assert all(r["seconds"] > 0 and r["server_cpu_s"] >= 0 for r in runs)
        generations = [n for n in db.list_collection_names() if n.startswith("metrics_facts_")]
        in_use = db.metrics_meta.find_one({"_id": "metrics_facts"})["collection"]
        assert generations == [in_use]
        assert any(line.startswith("  dropped metrics_facts_") for line in said)
    finally:
        client.drop_database(db_name)
        client.close()
