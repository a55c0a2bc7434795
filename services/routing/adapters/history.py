"""Read the corrections people made from the appeals database (for ``routing train``).

The appeals service keeps every appeal's events in its document; this reads only the appeals
that a dispatcher or coordinator dispatched by hand (an indexed-free scan, so it is a tool for
training runs and worker start-up, not for a request path).
"""

from __future__ import annotations

from typing import Any

from pymongo import MongoClient

from services.routing.domain.corrections import MANUAL_DISPATCHERS, correction_from_history
from services.routing.domain.router import LabelledAppeal

__all__ = ["corrections_from_database"]


def corrections_from_database(
    mongo_url: str, database: str, *, limit: int = 100_000
) -> list[LabelledAppeal]:
    """Labelled examples from every appeal a person dispatched (newest first, at most limit)."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_url, tz_aware=True)
    try:
        cursor = client[database]["appeals"].find(
            {"events.data.by": {"$in": sorted(MANUAL_DISPATCHERS)}},
            {"text": 1, "address": 1, "location": 1, "events.type": 1, "events.data": 1},
            limit=limit,
        )
        found = (
            correction_from_history(
                doc.get("text") or "", doc.get("address"), doc.get("location"), doc["events"]
            )
            for doc in cursor
        )
        return [example for example in found if example is not None]
    finally:
        client.close()
