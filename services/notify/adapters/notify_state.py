"""Notify's own state in MongoDB: open deadlines (for reminders) and merged appeals.

``notify_deadlines``: one document per (appeal, deadline name), ``_id`` ``<appeal>:<name>``,
with ``due_at``, ``remind_at``, ``unit``, ``street``, ``open`` and ``reminded``.
``notify_merges``: ``_id`` = a merged (duplicate) appeal, ``master_id`` = the appeal it was
merged into; when the master is resolved, the duplicates' residents hear the outcome.
Both are fed from appeals.events only, so replaying the topic rebuilds them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.notify.domain.deadlines import DeadlineChanges, OpenDeadline

__all__ = ["DeadlineBook", "MergeBook"]


class DeadlineBook:
    """The open deadlines notify reminds units of."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.deadlines = db["notify_deadlines"]

    async def ensure_indexes(self) -> None:
        """The reminder scan's index."""
        await self.deadlines.create_index(
            [("open", ASCENDING), ("reminded", ASCENDING), ("remind_at", ASCENDING)], name="due"
        )

    async def apply(self, appeal_id: str, changes: DeadlineChanges) -> None:
        """Open, move or close an appeal's deadlines as one event says."""
        if changes.closed:
            keys = [f"{appeal_id}:{name}" for name in changes.closed]
            await self.deadlines.update_many({"_id": {"$in": keys}}, {"$set": {"open": False}})
        for deadline in changes.opened:
            existing = await self.deadlines.find_one({"_id": deadline.key})
            is_open = existing is not None and existing.get("open", False)
            if changes.only_open and not is_open:
                continue
            if is_open and existing is not None and existing["due_at"] == deadline.due_at:
                continue  # unchanged (or the same event again): keep the reminded flag
            await self.deadlines.replace_one(
                {"_id": deadline.key},
                {
                    "appeal_id": deadline.appeal_id,
                    "name": deadline.name,
                    "due_at": deadline.due_at,
                    "remind_at": deadline.remind_at,
                    "unit": deadline.unit,
                    "street": deadline.street,
                    # an extension's event names no co-handlers: they stay those of the dispatch
                    "co_handlers": list(
                        deadline.co_handlers or (existing or {}).get("co_handlers") or ()
                    ),
                    "open": True,
                    "reminded": False,
                },
                upsert=True,
            )

    async def due(self, *, now: datetime, limit: int = 100) -> list[OpenDeadline]:
        """Open deadlines whose reminder time has come and that have not been reminded."""
        cursor = self.deadlines.find(
            {"open": True, "reminded": False, "remind_at": {"$lte": now}}
        ).limit(limit)
        return [
            OpenDeadline(
                appeal_id=doc["appeal_id"],
                name=doc["name"],
                due_at=doc["due_at"],
                remind_at=doc["remind_at"],
                unit=doc.get("unit"),
                street=doc.get("street"),
                co_handlers=tuple(doc.get("co_handlers") or ()),
            )
            async for doc in cursor
        ]

    async def mark_reminded(self, deadline: OpenDeadline) -> None:
        """Done for this due time (a moved deadline gets a new reminder)."""
        await self.deadlines.update_one(
            {"_id": deadline.key, "due_at": deadline.due_at}, {"$set": {"reminded": True}}
        )


class MergeBook:
    """Which appeals were merged into which."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.merges = db["notify_merges"]

    async def ensure_indexes(self) -> None:
        """Look-up by master."""
        await self.merges.create_index([("master_id", ASCENDING)], name="master")

    async def record(self, duplicate_id: str, master_id: str, *, at: datetime) -> None:
        """Remember a merge (idempotent)."""
        await self.merges.update_one(
            {"_id": duplicate_id}, {"$set": {"master_id": master_id, "merged_at": at}}, upsert=True
        )

    async def merged_into(self, master_id: str) -> list[str]:
        """The appeals merged into ``master_id``."""
        return [doc["_id"] async for doc in self.merges.find({"master_id": master_id}, {"_id": 1})]
