"""The ``metrics_facts`` collection in MongoDB: every appeal's folded facts, for the reports.

One document per appeal: ``_id`` = appeal id, the fields of ``AppealFacts.to_dict()``, the
number of events folded (``events``), the ``appeals.events`` partition of the appeal (``p``)
and index fields (``months``, ``districts``, ``streets``: see ``domain.reports.index_fields``),
so a monthly report reads only the appeals that can count in it. The live worker upserts
changed facts in batches on a timer; ``appeals metrics rebuild`` rewrites the collection from
the event log.

The collection is also the durable copy of the worker's table: after a rebalance the worker
reads the facts of its partitions back (``of_partition``) and adopts any the table lost (a
broker that drops changelog records in a crash: docs/faults.md, finding 9).

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
from shared.topics import partition_of

__all__ = ["FactsStore", "facts_document"]

Doc = dict[str, Any]


def facts_document(facts: AppealFacts) -> Doc:
    """The MongoDB document of one appeal's facts."""
    return {
        "_id": facts.appeal_id,
        **facts.to_dict(),
        "events": len(facts.seen),
        "p": partition_of(facts.appeal_id),
        **index_fields(facts),
    }


# Fields of the document that are not AppealFacts'.
_NOT_FACTS = ("events", "p", "months", "districts", "streets")


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
                IndexModel([("p", ASCENDING)]),
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

    async def of_partition(self, partition: int) -> dict[str, AppealFacts]:
        """The stored facts of every appeal on ``partition`` of ``appeals.events``."""
        cursor = self.collection.find({"p": partition}, {name: 0 for name in _NOT_FACTS})
        return {doc["_id"]: _facts(doc) async for doc in cursor}

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
        projection = {name: 0 for name in _NOT_FACTS}
        return [_facts(doc) async for doc in self.collection.find(query, projection)]

    async def replace_all(self, documents: Sequence[Doc], *, batch: int = 5000) -> None:
        """Drop every stored document and insert these (a full rebuild)."""
        await self.collection.delete_many({})
        for start in range(0, len(documents), batch):
            await self.collection.insert_many(documents[start : start + batch], ordered=False)
