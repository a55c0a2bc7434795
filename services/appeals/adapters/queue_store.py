"""MongoDB reads for work queues, the SLA sweeper and the duplicate check, with their indexes.

Each query of ``domain.queues`` is one ``find`` (equality on an indexed pair + at most one
range), sorted and limited; a plan's queries are merged here by the same sort key. Nothing
here writes appeal state: state changes go through ``service_layer.commands.execute``.

Indexes (``create_indexes``, idempotent; beside ``AppealStore.create_indexes``)::

    holder, state, <deadline>       a unit's / dispatch centre's queues, sorted by deadline
    street, state, <deadline>       a coordinator's street view
    district, state                 the district view (extensions)
    co_handlers, state              appeals a unit co-handles (multikey)
    state, deadlines.<x>            the sweeper: missed deadlines (x = sign_by, respond_by,
                                    resolve_by)
    matter, received_at             the duplicate check: same matter, recent
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from services.appeals.domain.queues import QueuePlan, Sort, sort_key

__all__ = ["QueuePage", "QueueStore"]

Doc = dict[str, Any]
_DEADLINES = ("deadlines.sign_by", "deadlines.respond_by", "deadlines.resolve_by")

# What a list row needs; the event log stays out except for triage (router's reasons).
_LIST_FIELDS: dict[str, Any] = {
    name: 1
    for name in (
        "tracking_no",
        "version",
        "state",
        "channel",
        "text",
        "address",
        "matter",
        "urgency",
        "district",
        "street",
        "community",
        "unit",
        "co_handlers",
        "holder",
        "received_at",
        "deadlines",
        "overdue_flags",
        "paused_since",
        "pause_reason",
        "extension_pending",
        "supervision_pending",
        "return_count",
        "reopen_count",
        "suspected_duplicate_of",
        "contact",
        "routing_suggestion",
        "routing",
        "notes",
    )
}


class QueuePage:
    """One page of a queue: the documents, in order, and how many the queue holds."""

    def __init__(self, docs: list[Doc], total: int) -> None:
        self.docs = docs
        self.total = total


class QueueStore:
    """Queue, sweeper and duplicate queries on the ``appeals`` collection."""

    def __init__(self, appeals: AsyncCollection[Doc]) -> None:
        self.appeals = appeals

    async def create_indexes(self) -> None:
        """The indexes these queries are designed around (see the module docstring)."""
        models = [
            IndexModel([("holder", ASCENDING), ("state", ASCENDING)]),
            IndexModel([("co_handlers", ASCENDING), ("state", ASCENDING)]),
            IndexModel([("matter", ASCENDING), ("received_at", ASCENDING)]),
        ]
        for field in _DEADLINES:
            models += [
                IndexModel([("holder", ASCENDING), ("state", ASCENDING), (field, ASCENDING)]),
                IndexModel([("street", ASCENDING), ("state", ASCENDING), (field, ASCENDING)]),
                IndexModel([("state", ASCENDING), (field, ASCENDING)]),
            ]
        await self.appeals.create_indexes(models)

    async def page(
        self,
        plan: QueuePlan,
        *,
        sort: Sort,
        order: Literal["asc", "desc"],
        page: int,
        size: int,
        with_events: bool = False,
    ) -> QueuePage:
        """Page ``page`` (1-based) of ``size`` rows of ``plan``, merged across its queries."""
        direction = ASCENDING if order == "asc" else DESCENDING
        wanted = page * size
        projection = {**_LIST_FIELDS, **({"events": 1} if with_events else {})}
        runs: list[list[tuple[tuple[bool, Any, str], Doc]]] = []
        total = 0
        for query in plan.queries:
            field = plan.sort_field(query, sort)
            cursor = (
                self.appeals.find(query.filter, projection)
                .sort([(field, direction), ("_id", direction)])
                .limit(wanted)
            )
            docs = [doc async for doc in cursor]
            runs.append([(sort_key(doc, field), doc) for doc in docs])
            total += await self.appeals.count_documents(query.filter)
        merged = heapq.merge(*runs, key=lambda pair: _directed(pair[0], order))
        rows = [doc for _, doc in merged]
        return QueuePage(rows[(page - 1) * size : wanted], total)

    async def count(self, plan: QueuePlan) -> int:
        """How many appeals ``plan`` holds."""
        return sum([await self.appeals.count_documents(q.filter) for q in plan.queries])

    # ------------------------------------------------------------------ sweeper

    async def missed_unflagged(self, now: datetime, limit: int) -> list[Doc]:
        """Open, running appeals with a passed deadline not yet recorded as overdue.

        One query per deadline, each an equality on ``state`` plus a range on the deadline
        (index ``state, deadlines.x``); the flag test runs on the few that match.
        """
        found: dict[str, Doc] = {}
        checks = (
            ("sign", "deadlines.sign_by", ["dispatched"]),
            ("respond", "deadlines.respond_by", ["dispatched", "signed"]),
            ("resolve", "deadlines.resolve_by", ["dispatched", "signed", "responded"]),
        )
        for flag, field, states in checks:
            for state in states:
                cursor = self.appeals.find(
                    {
                        "state": state,
                        field: {"$lt": now},
                        "overdue_flags": {"$ne": flag},
                        "paused_since": None,
                    },
                    {"_id": 1, "version": 1},
                    limit=limit,
                )
                async for doc in cursor:
                    found.setdefault(doc["_id"], doc)
                if len(found) >= limit:
                    return list(found.values())[:limit]
        return list(found.values())

    async def past_resolve_deadline(self, now: datetime, limit: int) -> list[Doc]:
        """Running appeals whose resolve deadline has passed (escalation candidates)."""
        docs: list[Doc] = []
        for state in ("dispatched", "signed", "responded"):
            cursor = self.appeals.find(
                {"state": state, "deadlines.resolve_by": {"$lt": now}, "paused_since": None},
                {
                    "_id": 1,
                    "version": 1,
                    "state": 1,
                    "street": 1,
                    "district": 1,
                    "deadlines": 1,
                    "dispatched_at": 1,
                    "events.type": 1,
                    "events.actor": 1,
                    "events.data.level": 1,
                    "events.occurred_at": 1,
                },
                limit=limit - len(docs),
            )
            docs += [doc async for doc in cursor]
            if len(docs) >= limit:
                break
        return docs

    # ------------------------------------------------------------------ duplicates

    async def recent_of_matter(
        self, matter: str, since: datetime, until: datetime, exclude: str, limit: int = 200
    ) -> list[Doc]:
        """Open appeals of ``matter`` received in [since, until] (index ``matter, received_at``)."""
        cursor = self.appeals.find(
            {"matter": matter, "received_at": {"$gte": since, "$lte": until}},
            {
                "_id": 1,
                "state": 1,
                "is_open": 1,
                "location": 1,
                "community": 1,
                "received_at": 1,
                "suspected_duplicate_of": 1,
            },
            limit=limit,
        )
        return [doc async for doc in cursor if doc["_id"] != exclude and doc.get("is_open")]


def _directed(key: tuple[bool, Any, str], order: str) -> Any:
    if order == "asc":
        return key
    return _Reversed(key)


class _Reversed:
    """Inverts the comparison of a key, for merging descending runs."""

    __slots__ = ("key",)

    def __init__(self, key: Mapping[int, Any] | tuple[Any, ...]) -> None:
        self.key = key

    def __lt__(self, other: _Reversed) -> bool:
        return bool(self.key > other.key)  # type: ignore[operator]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and self.key == other.key
