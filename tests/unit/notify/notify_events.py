"""Triggers built from real envelopes, the way the appeals service emits them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.notify.domain.recipients import Trigger
from shared.events import Actor, new_event

STAFF = Actor(kind="staff", id="u-1", role="unit_staff", unit="DH-HB-RM")
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, a Monday


def trigger(
    type_: str,
    data: Any,
    *,
    unit: str | None = "DH-HB-RM",
    street: str | None = "DH-HB",
    appeal_id: str = "a1",
) -> Trigger:
    """The trigger of a validated envelope (data JSON-shaped, as on the wire)."""
    event = new_event(
        type_,
        appeal_id=appeal_id,
        actor=STAFF,
        data=data,
        street=street,
        unit=unit,
        occurred_at=NOW,
    )
    return Trigger.from_event(event)


def deadlines(hours: int = 2) -> dict[str, datetime]:
    """Sign, respond and resolve deadlines counted from NOW."""
    return {
        "sign": NOW + timedelta(hours=hours),
        "respond": NOW + timedelta(hours=hours * 2),
        "resolve": NOW + timedelta(days=5),
    }
