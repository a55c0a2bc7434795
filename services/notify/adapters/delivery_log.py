"""The delivery log in MongoDB (collection ``deliveries``): one document per delivery.

``_id`` is the delivery key ``<event id>:<recipient>:<channel>``. A delivery is *claimed* by
inserting its document (state ``pending``) before anything is sent, so a second claim of the
same key fails with a duplicate-key error instead of sending twice. States::

    pending  claimed; being sent (``next_attempt_at`` = end of the sender's lease)
    sent     done; never sent again
    failed   retryable=True: a temporary failure, retried at ``next_attempt_at``
             retryable=False: given up (permanent failure or attempts exhausted),
             dead-lettered; no ``next_attempt_at``

A ``pending`` delivery whose lease ran out belongs to a sender that died; the retry timer
re-claims it like a due retry (conditional update on state, attempts and ``next_attempt_at``,
so one worker wins). The document holds the trigger (an event carries no personal data) and the
notice, never an address: a retry looks the contact up again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.notify.domain.channels import Delivery

__all__ = ["Claim", "DeliveryLog"]


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a delivery."""

    claimed: bool
    state: Literal["pending", "sent", "failed"]
    attempts: int


class DeliveryLog:
    """Claims, completes and re-claims deliveries."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.deliveries = db["deliveries"]

    async def ensure_indexes(self) -> None:
        """The retry scan's index."""
        await self.deliveries.create_index(
            [("state", ASCENDING), ("next_attempt_at", ASCENDING)], name="due"
        )
        await self.deliveries.create_index([("appeal_id", ASCENDING)], name="appeal")

    async def claim(self, delivery: Delivery, *, now: datetime, lease: timedelta) -> Claim:
        """Insert the pending record; if the key exists, report its state instead."""
        notice = delivery.notice
        trigger = notice.trigger
        try:
            await self.deliveries.insert_one(
                {
                    "_id": delivery.key,
                    "event_id": trigger.id,
                    "appeal_id": trigger.appeal_id,
                    "event_type": trigger.type,
                    "recipient": notice.recipient.address,
                    "channel": delivery.channel,
                    "topic": notice.topic,
                    "state": "pending",
                    "attempts": 1,
                    "created_at": now,
                    "next_attempt_at": now + lease,
                    "trigger": trigger.as_doc(),
                    "notice": notice.as_doc(),
                }
            )
        except DuplicateKeyError:
            doc = await self.deliveries.find_one({"_id": delivery.key}, {"state": 1, "attempts": 1})
            if doc is None:  # deleted in between (by hand): treat as done rather than resend
                return Claim(False, "sent", 0)
            return Claim(False, doc["state"], int(doc.get("attempts", 0)))
        return Claim(True, "pending", 1)

    async def mark_sent(self, key: str, *, now: datetime) -> None:
        """The channel accepted the message."""
        await self.deliveries.update_one(
            {"_id": key},
            {
                "$set": {"state": "sent", "sent_at": now, "last_error": None},
                "$unset": {"next_attempt_at": "", "retryable": ""},
            },
        )

    async def mark_retry(self, key: str, *, error: str, next_attempt_at: datetime) -> None:
        """A temporary failure: try again at ``next_attempt_at``."""
        await self.deliveries.update_one(
            {"_id": key, "state": {"$ne": "sent"}},
            {
                "$set": {
                    "state": "failed",
                    "retryable": True,
                    "last_error": error,
                    "next_attempt_at": next_attempt_at,
                }
            },
        )

    async def mark_failed(self, key: str, *, error: str, reason: str, now: datetime) -> None:
        """Given up: no further attempts."""
        await self.deliveries.update_one(
            {"_id": key, "state": {"$ne": "sent"}},
            {
                "$set": {
                    "state": "failed",
                    "retryable": False,
                    "last_error": error,
                    "gave_up": reason,
                    "failed_at": now,
                },
                "$unset": {"next_attempt_at": ""},
            },
        )

    async def due(self, *, now: datetime, limit: int = 50) -> list[dict[str, Any]]:
        """Retries that are due and pending deliveries whose sender's lease ran out."""
        cursor = self.deliveries.find(
            {"state": {"$in": ["pending", "failed"]}, "next_attempt_at": {"$lte": now}},
            {
                "state": 1,
                "attempts": 1,
                "next_attempt_at": 1,
                "trigger": 1,
                "notice": 1,
                "channel": 1,
            },
        ).limit(limit)
        return [doc async for doc in cursor]

    async def reclaim(self, doc: dict[str, Any], *, now: datetime, lease: timedelta) -> bool:
        """Take a due delivery for one more attempt; False when another worker took it."""
        result = await self.deliveries.update_one(
            {
                "_id": doc["_id"],
                "state": doc["state"],
                "attempts": doc["attempts"],
                "next_attempt_at": doc["next_attempt_at"],
            },
            {"$set": {"state": "pending", "next_attempt_at": now + lease}, "$inc": {"attempts": 1}},
        )
        return result.modified_count == 1
