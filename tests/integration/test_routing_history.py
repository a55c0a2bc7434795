"""`appeals routing train --history` reads corrections from the real appeals database."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

from pymongo import MongoClient

from services.routing.adapters.history import corrections_from_database
from shared.embedded import DatabaseProcess
from tests.integration.conftest import reference_city


def test_corrections_are_read_from_stored_histories_and_trained_on(
    mongo: DatabaseProcess, tmp_path: Path
) -> None:
    database = f"history_{uuid.uuid4().hex[:8]}"
    signed = {"type": "appeal.signed", "data": {}}
    docs = [
        {
            "_id": "a1",
            "text": "小区楼道被电动车堵死了",
            "address": "华山路10号",
            "events": [
                {
                    "type": "appeal.dispatched",
                    "data": {
                        "by": "dispatcher",
                        "matter": "safety.fire_lane",
                        "lead_unit": "JA-JAS-SA",
                    },
                },
                signed,
            ],
        },
        {
            "_id": "a2",
            "text": "路灯不亮",
            "address": "华山路20号",
            "events": [
                {
                    "type": "appeal.dispatched",
                    "data": {
                        "by": "router",
                        "matter": "road.street_light",
                        "lead_unit": "JA-JAS-RM",
                    },
                },
                signed,
            ],
        },
    ]
    client: MongoClient = MongoClient(mongo.url)
    try:
        client[database]["appeals"].insert_many(docs)
        found = corrections_from_database(mongo.url, database)
        assert [(e.text, e.matter, e.unit) for e in found] == [
            ("小区楼道被电动车堵死了", "safety.fire_lane", "JA-JAS-SA")
        ]
        city = reference_city()
        out = tmp_path / "model.pkl"
        env = {
            "APPEALS_MONGO_URL": mongo.url,
            "APPEALS_MONGO_DB": database,
            "PATH": "/usr/bin:/bin",
        }
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "services.cli.main",
                "routing",
                "train",
                "--history",
                "--jurisdiction",
                str(city / "jurisdiction.yaml"),
                "--matters",
                str(city / "matters.yaml"),
                "--out",
                str(out),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert result.returncode == 0, result.stderr
        assert "learning from 1 corrections" in result.stdout
        assert out.is_file()
    finally:
        client.drop_database(database)
        client.close()


def _corrected(appeal_id: str, text: str, matter: str, unit: str) -> dict[str, object]:
    """An appeal a district dispatcher sent by hand and the unit then signed, as stored."""
    return {
        "_id": appeal_id,
        "text": text,
        "address": "华山路120号",
        "events": [
            {"type": "appeal.routed", "data": {"triage": True}},
            {"type": "appeal.dispatched",
             "data": {"by": "dispatcher", "matter": matter, "lead_unit": unit}},
            {"type": "appeal.signed", "data": {}},
        ],
    }  # fmt: skip


def test_the_worker_trains_again_only_when_the_corrections_changed(mongo: DatabaseProcess) -> None:
    from services.routing.config import RoutingSettings
    from services.routing.domain.router import RouteRequest
    from services.routing.entrypoints.app import relearn

    database = f"relearn_{uuid.uuid4().hex[:8]}"
    city = reference_city()
    settings = RoutingSettings(
        mongo_url=mongo.url,
        mongo_db=database,
        jurisdiction_file=city / "jurisdiction.yaml",
        matters_file=city / "matters.yaml",
        routing_learn_from_history=True,
        routing_embeddings=False,
    )
    text = "门口那条河里全是死鱼，一股味道"
    request = RouteRequest(text=text, address="鲁班路45号")  # another street than the correction's
    client: MongoClient = MongoClient(mongo.url)
    try:
        first = relearn(settings, None, None)
        assert first is not None
        before, (_, history), learnt = first
        assert history == [] and before.route(request).triage  # no word it knows: triage
        assert relearn(settings, learnt, None) is None  # nothing new: the router is kept

        client[database]["appeals"].insert_one(
            _corrected("c1", text, "water.drainage_blockage", "JA-JAS-WA")
        )
        again = relearn(settings, learnt, None)
        assert again is not None
        after, (_, history), changed = again
        assert [(e.text, e.matter) for e in history] == [(text, "water.drainage_blockage")]
        assert changed != learnt
        decided = after.route(request)
        # The street's own water station: the correction taught the matter, not the unit.
        assert (decided.triage, decided.matter, decided.unit) == (
            False, "water.drainage_blockage", "HP-WLQ-WA"
        )  # fmt: skip
        assert relearn(settings, changed, None) is None
    finally:
        client.drop_database(database)
        client.close()
