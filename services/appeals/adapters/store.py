"""MongoDB persistence of appeals, with the transactional outbox in the same document.

One appeal is one document. Every state change is a single ``update_one`` that
(a) sets the new state, (b) bumps ``version`` — the filter names the version the command read,
so a stale writer matches nothing and gets a conflict (optimistic concurrency) —,
(c) appends the new events to ``events`` (the appeal's audit trail, never edited) and
(d) appends their ids to ``outbox`` with ``outbox_pending: true``. A single-document write is
atomic on MongoDB and on SecantusDB alike, so state and events can never disagree, and no
multi-document transaction is needed on the hot path.

The relay (``outbox_relay.py``) publishes pending events, copies them into the ``event_log``
collection (``_id`` = event id, so a replay can read every event in order, once) and pulls them
from the outbox.

Queries are designed around SecantusDB's slow paths (../shared/INFRA.md): writes go by ``_id``,
filters hit an index, no ``find_one_and_update``, no top-level ``$or``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from pymongo import ASCENDING, AsyncMongoClient, IndexModel, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.events import EventEnvelope

__all__ = ["AppealStore", "DuplicateIntake", "VersionConflict"]

Doc = dict[str, Any]


class VersionConflict(Exception):
    """The appeal changed since it was read: the command must be retried or refused (409)."""


class DuplicateIntake(Exception):
    """An intake with this idempotency key was stored before; carries the existing appeal."""

    def __init__(self, existing: Doc) -> None:
        super().__init__(existing["_id"])
        self.existing = existing


class WriteWatcher(Protocol):
    """Told of a state change before it is written, and when it was not written after all."""

    def writing(self, appeal_id: str, version: int) -> None: ...

    def abandoned(self, appeal_id: str, version: int) -> None: ...


class AppealStore:
    """Appeal documents, their outbox, and the event log."""

    def __init__(self, client: AsyncMongoClient[Doc], database: str) -> None:
        self.client = client
        self.db: AsyncDatabase[Doc] = client[database]
        self.appeals: AsyncCollection[Doc] = self.db["appeals"]
        self.event_log: AsyncCollection[Doc] = self.db["event_log"]
        # Called after every write that adds events (the relay's wake-up), whoever the writer.
        self.on_events: list[Callable[[], None]] = []
        # Told of every state change before it is written, and of one that was not (the open
        # work view waits for it before answering a queue: read-your-writes).
        self.write_watchers: list[WriteWatcher] = []

    async def create_indexes(self) -> None:
        """Indexes every query of the service relies on (idempotent)."""
        await self.appeals.create_indexes(
            [
                IndexModel([("tracking_no", ASCENDING)], unique=True),
                IndexModel([("idempotency_key", ASCENDING)], unique=True, sparse=True),
                IndexModel([("outbox_pending", ASCENDING)]),
                IndexModel([("unit", ASCENDING), ("state", ASCENDING)]),
                IndexModel([("handlers", ASCENDING), ("state", ASCENDING)]),
                IndexModel([("holder", ASCENDING), ("state", ASCENDING)]),
                IndexModel([("street", ASCENDING), ("state", ASCENDING)]),
                IndexModel([("district", ASCENDING), ("state", ASCENDING)]),
                IndexModel([("state", ASCENDING)]),
            ]
        )
        await self.event_log.create_indexes(
            [IndexModel([("appeal_id", ASCENDING), ("occurred_at", ASCENDING)])]
        )

    async def ping(self) -> None:
        """Raise if the database does not answer."""
        await self.client.admin.command("ping")

    # ------------------------------------------------------------------ writes

    async def insert_new(self, doc: Doc, events: Sequence[EventEnvelope]) -> None:
        """Store a new appeal with its first events pending in the outbox.

        Raises DuplicateIntake when the idempotency key was seen before.
        """
        doc = {
            **doc,
            "events": [e.model_dump() for e in events],
            "outbox": [e.event_id for e in events],
            "outbox_pending": bool(events),
        }
        appeal_id, version = doc["_id"], int(doc.get("version") or 0)
        self._writing(appeal_id, version)
        try:
            await self.appeals.insert_one(doc)
        except BaseException as exc:
            self._abandoned(appeal_id, version)
            key = doc.get("idempotency_key")
            if isinstance(exc, DuplicateKeyError) and key and "idempotency_key" in str(exc):
                existing = await self.appeals.find_one({"idempotency_key": key})
                if existing is not None:
                    raise DuplicateIntake(existing) from None
            raise
        self._notify()

    async def append(
        self,
        appeal_id: str,
        expected_version: int,
        new_version: int,
        changes: Doc,
        events: Sequence[EventEnvelope],
    ) -> None:
        """Apply a state change and its events atomically.

        Raises VersionConflict when the stored version is not ``expected_version``.
        """
        update: Doc = {
            "$set": {**changes, "version": new_version, "updated_at": _now()},
        }
        if events:
            update["$push"] = {
                "events": {"$each": [e.model_dump() for e in events]},
                "outbox": {"$each": [e.event_id for e in events]},
            }
            update["$set"]["outbox_pending"] = True
        self._writing(appeal_id, new_version)
        try:
            result = await self.appeals.update_one(
                {"_id": appeal_id, "version": expected_version}, update
            )
        except BaseException:
            self._abandoned(appeal_id, new_version)
            raise
        if result.matched_count != 1:
            self._abandoned(appeal_id, new_version)
            raise VersionConflict(appeal_id)
        if events:
            self._notify()

    async def resend_for_routing(self, appeal_id: str, event_id: str, *, now: datetime) -> bool:
        """Put an appeal's stored ``appeal.received`` back in the outbox, if it is still
        ``received`` and the event is not pending already; True when it was."""
        result = await self.appeals.update_one(
            {"_id": appeal_id, "state": "received", "outbox": {"$ne": event_id}},
            {
                "$push": {"outbox": event_id},
                "$set": {"outbox_pending": True, "routing_resent_at": now},
                "$inc": {"routing_resends": 1},
            },
        )
        if result.modified_count == 1:
            self._notify()
            return True
        return False

    def _notify(self) -> None:
        for listener in self.on_events:
            listener()

    # Before the write, not after its acknowledgement: a request the event loop runs while
    # the write is on its way must already wait for it.
    def _writing(self, appeal_id: str, version: int) -> None:
        for watcher in self.write_watchers:
            watcher.writing(appeal_id, version)

    def _abandoned(self, appeal_id: str, version: int) -> None:
        for watcher in self.write_watchers:
            watcher.abandoned(appeal_id, version)

    # ------------------------------------------------------------------ reads

    async def get(self, appeal_id: str) -> Doc | None:
        """One appeal by id."""
        return await self.appeals.find_one({"_id": appeal_id})

    async def get_by_tracking_no(self, tracking_no: str) -> Doc | None:
        """One appeal by its tracking number."""
        return await self.appeals.find_one({"tracking_no": tracking_no})

    # ------------------------------------------------------------------ outbox

    async def pending_outbox(self, limit: int) -> list[Doc]:
        """Appeals with events waiting to be published (only the fields the relay needs)."""
        cursor = self.appeals.find(
            {"outbox_pending": True}, {"outbox": 1, "events": 1}, limit=limit
        )
        return [doc async for doc in cursor]

    async def mark_published(self, batch: Sequence[tuple[str, Sequence[Doc]]]) -> None:
        """Record events as published: copy them to the event log, pull them from the outboxes.

        Three round trips for the whole batch, whatever its size.
        """
        batch = [(appeal_id, events) for appeal_id, events in batch if events]
        if not batch:
            return
        try:
            await self.event_log.insert_many(
                [{**e, "_id": e["event_id"]} for _, events in batch for e in events],
                ordered=False,
            )
        except Exception as exc:  # a replayed publish: the log already has some of them
            if not _only_duplicates(exc):
                raise
        await self.appeals.bulk_write(
            [
                UpdateOne(
                    {"_id": appeal_id},
                    {"$pull": {"outbox": {"$in": [e["event_id"] for e in events]}}},
                )
                for appeal_id, events in batch
            ],
            ordered=False,
        )
        # A command may have appended new events between the two updates: only an outbox that
        # is really empty clears the flag, so nothing is stranded.
        await self.appeals.bulk_write(
            [
                UpdateOne(
                    {"_id": appeal_id, "outbox": {"$size": 0}},
                    {"$set": {"outbox_pending": False}},
                )
                for appeal_id, _ in batch
            ],
            ordered=False,
        )


def _only_duplicates(exc: Exception) -> bool:
    details = getattr(exc, "details", None) or {}
    errors = details.get("writeErrors", [])
    return bool(errors) and all(e.get("code") == 11000 for e in errors)


def _now() -> datetime:
    return datetime.now(UTC)


def new_token() -> str:
    """A resident's secret token for status look-ups (shown once, stored hashed)."""
    return secrets.token_urlsafe(18)
