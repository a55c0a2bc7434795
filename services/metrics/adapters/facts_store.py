"""The ``metrics_facts`` collection in MongoDB: every appeal's folded facts, for the reports.

One document per appeal: ``_id`` = appeal id, the fields of ``AppealFacts.to_dict()``, the
number of events folded (``events``) and ``scopes``, the keys the document is found by, under
one multikey index: ``p:<n>``, the appeal's ``appeals.events`` partition, and every month,
month-and-district and month-and-street any of its figures can count in (``m:2024-03``,
``m:2024-03|d:<code>``, ``m:2024-03|s:<code>``: ``domain.reports.scopes``), so a monthly report
reads only the appeals that can count in it. One index and not three because SecantusDB's
insert cost grows with every index of the collection, and a rebuild writes every appeal's
facts (measured: BENCHMARKS.md, session 7). The live worker upserts
changed facts in batches on a timer; ``appeals metrics rebuild`` rewrites the collection from
the event log.

Generations: a full ``appeals metrics rebuild`` writes a new collection
(``metrics_facts_<UTC timestamp>``) and then points ``metrics_meta`` (``_id`` = the base name)
at it; every reader and writer resolves the pointer (re-read every couple of seconds), so the
reports switch from the old facts to the new ones at once and never see half a rebuild.
(Renaming over the old collection did the same on MongoDB, but SecantusDB renames and drops
a 10,000-document collection in 1.5-3 minutes: measured, BENCHMARKS.md.) Without a pointer the
base name itself is the collection.

The collection is also the durable copy of the worker's table: after a rebalance the worker
reads the facts of its partitions back (``of_partition``) and adopts any the table lost (a
broker that drops changelog records in a crash: docs/faults.md, finding 9).

Why MongoDB and not the worker's faust table: a table is split by partition across workers,
so with several metrics workers no single one could answer a report. Every worker writes the
appeals of its own partitions here, and any worker (or any other process) reads them all.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from pymongo import ASCENDING, IndexModel, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.metrics.domain import AppealFacts
from services.metrics.domain.reports import scope, scopes
from shared.topics import partition_of

__all__ = ["FACT_INDEXES", "META", "FactsStore", "facts_document"]

Doc = dict[str, Any]


def facts_document(facts: AppealFacts) -> Doc:
    """The MongoDB document of one appeal's facts."""
    return {
        "_id": facts.appeal_id,
        **facts.to_dict(),
        "events": len(facts.seen),
        "scopes": [_partition_scope(partition_of(facts.appeal_id)), *scopes(facts)],
    }


def _partition_scope(partition: int) -> str:
    return f"p:{partition}"


# The collection that maps a base name to the generation in use.
META = "metrics_meta"

# What the reports query facts by (a month, a month and a district or street), and the worker's
# read-back of its partitions: all through ``scopes``.
FACT_INDEXES = [IndexModel([("scopes", ASCENDING)])]

# The indexes of the layout before ``scopes`` (until session 7).
_BEFORE_SCOPES = ("months_1_districts_1", "months_1_streets_1", "p_1")

# Fields of the document that are not AppealFacts'.
_NOT_FACTS = ("events", "scopes")


def _facts(doc: Doc) -> AppealFacts:
    return AppealFacts.from_dict(doc)


class FactsStore:
    """Reads and writes the current generation of ``metrics_facts``."""

    def __init__(
        self,
        db: AsyncDatabase[Doc],
        collection: str = "metrics_facts",
        *,
        refresh_seconds: float = 2.0,
    ) -> None:
        self.db = db
        self.base = collection
        self.refresh_seconds = refresh_seconds
        self.generation: str | None = None  # the collection in use, once resolved
        self._resolved_at = float("-inf")

    async def current(self) -> AsyncCollection[Doc]:
        """The collection the pointer names now (re-read at most every ``refresh_seconds``)."""
        now = time.monotonic()
        if self.generation is None or now - self._resolved_at >= self.refresh_seconds:
            pointer = await self.db[META].find_one({"_id": self.base})
            self.generation = str(pointer["collection"]) if pointer else self.base
            self._resolved_at = now
        return self.db[self.generation]

    async def ensure_indexes(self) -> None:
        """The indexes the reports' queries use (idempotent)."""
        await (await self.current()).create_indexes(FACT_INDEXES)

    async def written_before_scopes(self) -> bool:
        """Whether the generation in use was written before ``scopes`` (it still has the old
        ``months``/``p`` indexes): the reports would miss its appeals until it is rebuilt."""
        indexes = [doc["name"] async for doc in await (await self.current()).list_indexes()]
        return any(name in _BEFORE_SCOPES for name in indexes)

    async def upsert(self, facts: Iterable[AppealFacts], *, batch: int = 1000) -> int:
        """Write these appeals' facts (replace by appeal id); returns how many were written."""
        written = 0
        ops: list[ReplaceOne[Doc]] = []
        for appeal in facts:
            ops.append(ReplaceOne({"_id": appeal.appeal_id}, facts_document(appeal), upsert=True))
            if len(ops) >= batch:
                await (await self.current()).bulk_write(ops, ordered=False)
                written += len(ops)
                ops = []
        if ops:
            await (await self.current()).bulk_write(ops, ordered=False)
            written += len(ops)
        return written

    async def of_partition(self, partition: int) -> dict[str, AppealFacts]:
        """The stored facts of every appeal on ``partition`` of ``appeals.events``."""
        collection = await self.current()
        query = {"scopes": _partition_scope(partition)}
        cursor = collection.find(query, {name: 0 for name in _NOT_FACTS})
        return {doc["_id"]: _facts(doc) async for doc in cursor}

    async def find(
        self,
        *,
        month: str,
        district: str | None = None,
        street: str | None = None,
    ) -> list[AppealFacts]:
        """The facts of the appeals that touch ``month`` (and ``district`` / ``street``)."""
        # One key goes to the index; a second (a street within a district) is checked here,
        # because SecantusDB answers {"$all": [...]} with a collection scan (explain, 0.7.0b3).
        wanted = [scope(month, district=district)] if district is not None else []
        if street is not None:
            wanted.append(scope(month, street=street))
        query = {"scopes": wanted[-1] if wanted else scope(month)}
        collection = await self.current()
        return [
            _facts(doc)
            async for doc in collection.find(query, {"events": 0})
            if all(key in doc["scopes"] for key in wanted)
        ]
