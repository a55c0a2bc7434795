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
