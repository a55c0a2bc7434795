"""The ``metrics_facts`` collection in MongoDB: every appeal's folded facts, for the reports.

One document per appeal: ``_id`` = appeal id, the fields of ``AppealFacts.to_dict()``, the
number of events folded (``events``) and index fields (``months``, ``districts``, ``streets``:
see ``domain.reports.index_fields``), so a monthly report reads only the appeals that can count
in it. The live worker upserts changed facts in batches on a timer; ``appeals metrics
rebuild`` rewrites the collection from the event log.

Why MongoDB and not the worker's faust table: a table is split by partition across workers,
so with several metrics workers no single one could answer a report. Every worker writes the
appeals of its own partitions here, and any worker (or any other process) reads them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pymongo import ASCENDING, IndexModel, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.metrics.domain import AppealFacts
from services.metrics.domain.reports import index_fields

__all__ = ["FactsStore", "facts_document"]

Doc = dict[str, Any]


def facts_document(facts: AppealFacts) -> Doc:
    """The MongoDB document of one appeal's facts."""
    return {
        "_id": facts.appeal_id,
        **facts.to_dict(),
        "events": len(facts.seen),
        **index_fields(facts),
    }


def _facts(doc: Doc) -> AppealFacts:
    return AppealFacts.from_dict(doc)


class FactsStore:
    """Reads and writes ``metrics_facts``."""

    def __init__(self, db: AsyncDatabase[Doc], collection: str = "metrics_facts") -> None:
        self.collection: AsyncCollection[Doc] = db[collection]

    async def ensure_indexes(self) -> None:
        """The indexes the reports' queries use (idempotent)."""
        await self.collection.create_indexes(
            [
                IndexModel([("months", ASCENDING), ("districts", ASCENDING)]),
                IndexModel([("months", ASCENDING), ("streets", ASCENDING)]),
            ]
        )

    async def upsert(self, facts: Iterable[AppealFacts], *, batch: int = 1000) -> int:
        """Write these appeals' facts (replace by appeal id); returns how many were written."""
        written = 0
        ops: list[ReplaceOne[Doc]] = []
        for appeal in facts:
            ops.append(ReplaceOne({"_id": appeal.appeal_id}, facts_document(appeal), upsert=True))
            if len(ops) >= batch:
                await self.collection.bulk_write(ops, ordered=False)
                written += len(ops)
                ops = []
        if ops:
            await self.collection.bulk_write(ops, ordered=False)
            written += len(ops)
        return written

    async def event_counts(self, appeal_ids: Sequence[str]) -> dict[str, int]:
        """How many events each stored appeal has folded (absent: not stored)."""
        cursor = self.collection.find({"_id": {"$in": list(appeal_ids)}}, {"events": 1})
        return {doc["_id"]: int(doc.get("events", 0)) async for doc in cursor}

    async def find(
        self,
        *,
        month: str | None = None,
        district: str | None = None,
        street: str | None = None,
    ) -> list[AppealFacts]:
        """The facts of the appeals that touch ``month`` (and ``district`` / ``street``)."""
        query: Doc = {}
        if month is not None:
            query["months"] = month
        if district is not None:
            query["districts"] = district
        if street is not None:
            query["streets"] = street
        projection = {"events": 0, "months": 0, "districts": 0, "streets": 0}
        return [_facts(doc) async for doc in self.collection.find(query, projection)]

    async def replace_all(self, documents: Sequence[Doc], *, batch: int = 5000) -> None:
        """Drop every stored document and insert these (a full rebuild)."""
        await self.collection.delete_many({})
        for start in range(0, len(documents), batch):
            await self.collection.insert_many(documents[start : start + batch], ordered=False)
