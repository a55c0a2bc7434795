"""The ``inbox`` channel: per-recipient notices in MongoDB, pushed live over server-sent events.

Each delivery on this channel is one ``inbox`` document (``_id`` = delivery key, so writing it
twice is harmless)::

    {_id, recipient: "unit:JA-JAS-RM", appeal_id, event_id, event_type, topic, title, text,
     body, link, language, unread: true, created_at}

The staff UI (served by the appeals service) lists a unit's documents and sets ``unread`` to
false when read; ``GET /api/v1/stream?recipient=...`` on the notify worker streams new ones
(``InboxFeed``). A ``Wakeup`` lets the stream answer at once when this worker writes; documents
written by other workers are found by polling.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from services.notify.domain.channels import Message, TemporaryFailure

__all__ = ["InboxChannel", "InboxFeed", "Wakeup"]


class Wakeup:
    """Wakes every waiting stream when this worker writes to the inbox."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake the current waiters; later waiters wait for the next write."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, seconds: float) -> None:
        """Return on the next write or after ``seconds``."""
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)


class InboxChannel:
    """Writes a notice into its recipient's inbox."""

    name = "inbox"

    def __init__(self, db: AsyncDatabase[dict[str, Any]], wakeup: Wakeup | None = None) -> None:
        self.inbox = db["inbox"]
        self.wakeup = wakeup

    async def ensure_indexes(self) -> None:
        """The stream's and the UI's query: one recipient's notices by time."""
        await self.inbox.create_index(
            [("recipient", ASCENDING), ("created_at", ASCENDING)], name="recipient_time"
        )

    async def send(self, message: Message) -> None:
        """Insert the notice; an existing one with the same key means it is already there."""
        doc = {
            "_id": message.key,
            "recipient": message.recipient,
            "appeal_id": message.appeal_id,
            "event_id": message.event_id,
            "event_type": message.event_type,
            "topic": message.topic,
            "title": message.subject,
            "text": message.short,
            "body": message.body,
            "link": message.link,
            "language": message.language,
            "unread": True,
            "created_at": datetime.now(UTC),
        }
        try:
            await self.inbox.insert_one(doc)
        except DuplicateKeyError:
            pass
        except PyMongoError as exc:
            raise TemporaryFailure(f"inbox write failed: {type(exc).__name__}") from None
        if self.wakeup is not None:
            self.wakeup.notify()


class InboxFeed:
    """Reads one recipient's notices after a point in time, oldest first."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.inbox = db["inbox"]

    async def after(self, recipient: str, moment: datetime, limit: int = 100) -> list[dict]:
        """Notices created at or after ``moment`` (the caller drops those it has sent)."""
        cursor = (
            self.inbox.find({"recipient": recipient, "created_at": {"$gte": moment}})
            .sort([("created_at", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [doc async for doc in cursor]
