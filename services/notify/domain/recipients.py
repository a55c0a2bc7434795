"""Who must hear of an event, and on which channel (pure).

A ``Delivery`` is identified by (event, recipient, channel): the delivery log's unique key,
so each is made exactly once however often the event is redelivered.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.events import EventEnvelope

__all__ = ["Delivery", "deliveries_for"]


@dataclass(frozen=True)
class Delivery:
    """One message to one recipient over one channel."""

    event_id: str
    appeal_id: str
    event_type: str
    recipient: str  # "unit:<code>", "resident:<appeal id>", "center:<code>"
    channel: str  # "log" for now; "sse", "email", "sms", "webhook" behind the same interface

    @property
    def key(self) -> str:
        """The delivery log's unique key."""
        return f"{self.event_id}:{self.recipient}:{self.channel}"


def deliveries_for(event: EventEnvelope) -> list[Delivery]:
    """The deliveries an event calls for."""
    recipients: list[str] = []
    if event.type == "appeal.received":
        recipients.append(f"resident:{event.appeal_id}")
    elif event.type == "appeal.dispatched" and event.unit:
        recipients.append(f"unit:{event.unit}")
    elif event.type == "appeal.triaged" and event.unit:
        recipients.append(f"center:{event.unit}")
    elif event.type in {"appeal.resolved", "appeal.transferred", "appeal.closed"}:
        recipients.append(f"resident:{event.appeal_id}")
    return [
        Delivery(event.event_id, event.appeal_id, event.type, recipient, "log")
        for recipient in recipients
    ]
