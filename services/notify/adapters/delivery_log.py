"""The delivery log in MongoDB: one document per (event, recipient, channel).

Its ``_id`` is the delivery key, so a second attempt to record the same delivery fails with a
duplicate-key error instead of sending twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from services.notify.domain.recipients import Delivery

__all__ = ["DeliveryLog"]


class DeliveryLog:
    """Records deliveries exactly once."""

    def __init__(self, client: AsyncMongoClient[dict[str, Any]], database: str) -> None:
        self.client = client
        self.deliveries = client[database]["deliveries"]

    async def record(self, delivery: Delivery) -> bool:
        """Record a delivery; False when it was already made."""
        try:
            await self.deliveries.insert_one(
                {
                    "_id": delivery.key,
                    "event_id": delivery.event_id,
                    "appeal_id": delivery.appeal_id,
                    "event_type": delivery.event_type,
                    "recipient": delivery.recipient,
                    "channel": delivery.channel,
                    "status": "delivered",
                    "delivered_at": datetime.now(UTC),
                }
            )
        except DuplicateKeyError:
            return False
        return True
