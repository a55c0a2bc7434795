"""Where recipients' addresses come from: the ``ContactDirectory`` port, and reach rules (pure).

Residents' contacts stay in the appeals service's ``appeals`` documents (``contact``: name,
phone, email, language); staff addresses are per unit in ``unit_contacts`` (see
docs/notify.md). The domain sees only these dataclasses; an adapter reads the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from services.notify.domain.channels import Reach
from services.notify.domain.recipients import Recipient

__all__ = ["ContactDirectory", "ResidentContact", "UnitContact", "reach_for"]


@dataclass(frozen=True)
class ResidentContact:
    """A resident's contact as given with the appeal (personal data)."""

    tracking_no: str | None = None
    name: str | None = field(default=None, repr=False)
    phone: str | None = field(default=None, repr=False)
    email: str | None = field(default=None, repr=False)
    language: str = "zh-CN"


@dataclass(frozen=True)
class UnitContact:
    """A unit's duty addresses and preferred language."""

    emails: tuple[str, ...] = field(default=(), repr=False)
    sms: tuple[str, ...] = field(default=(), repr=False)
    language: str = "zh-CN"


class ContactDirectory(Protocol):
    """Looks up how to reach residents and units."""

    async def resident(self, appeal_id: str) -> ResidentContact | None: ...

    async def unit(self, code: str) -> UnitContact | None: ...


def reach_for(
    recipient: Recipient,
    *,
    resident: ResidentContact | None = None,
    unit: UnitContact | None = None,
    subscribers: Mapping[str, str] | None = None,
) -> Reach:
    """How a recipient can be reached, from what the directory returned for it."""
    if recipient.kind == "resident":
        if resident is None:
            return Reach()
        return Reach(
            emails=(resident.email,) if resident.email else (),
            phones=(resident.phone,) if resident.phone else (),
            language=resident.language,
            name=resident.name,
            tracking_no=resident.tracking_no,
        )
    if recipient.kind == "unit":
        if unit is None:
            return Reach()
        return Reach(emails=unit.emails, phones=unit.sms, language=unit.language)
    return Reach(webhook_url=(subscribers or {}).get(recipient.id))
