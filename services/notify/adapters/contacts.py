"""The ``ContactDirectory`` over MongoDB: residents from ``appeals``, units from ``unit_contacts``.

``unit_contacts`` documents (notify defines them; tests seed them, the appeals service's staff
accounts may fill them later)::

    {"_id": "JA-JAS-RM", "emails": ["duty@..."], "sms": ["13800000000"], "language": "zh-CN"}
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.notify.domain.contacts import ResidentContact, UnitContact

__all__ = ["MongoContactDirectory"]


class MongoContactDirectory:
    """Reads contacts; never writes them."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.appeals = db["appeals"]
        self.units = db["unit_contacts"]

    async def resident(self, appeal_id: str) -> ResidentContact | None:
        """The contact given with an appeal, or None when the appeal is unknown."""
        doc = await self.appeals.find_one({"_id": appeal_id}, {"contact": 1, "tracking_no": 1})
        if doc is None:
            return None
        contact = doc.get("contact") or {}
        return ResidentContact(
            tracking_no=doc.get("tracking_no"),
            name=contact.get("name"),
            phone=contact.get("phone"),
            email=contact.get("email"),
            language=contact.get("language") or "zh-CN",
        )

    async def unit(self, code: str) -> UnitContact | None:
        """A unit's duty addresses, or None when none are on file."""
        doc = await self.units.find_one({"_id": code})
        if doc is None:
            return None
        return UnitContact(
            emails=tuple(doc.get("emails") or ()),
            sms=tuple(doc.get("sms") or ()),
            language=doc.get("language") or "zh-CN",
        )
