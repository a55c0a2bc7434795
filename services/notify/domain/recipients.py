"""Who must hear of an event, and why (pure).

A ``Trigger`` is what calls for notices: an appeal lifecycle event, or a "deadline near"
reminder that notify raises itself. ``plan_notices`` turns one trigger into ``Notice``\\ s, one
per recipient, each naming the template (``topic``) and the recipient's role:

==========================  =====================================================================
event                       recipients (topic)
==========================  =====================================================================
appeal.received             resident (resident_received: tracking number and status link)
appeal.dispatched           lead unit, co-handler units (staff_new_work; also on reassignment)
appeal.triaged              district dispatch centre (staff_new_work)
appeal.returned             street coordinator, the street's city_ops unit (staff_returned)
appeal.extension_requested  street coordinator, or the district centre when the coordinator
                            asks for itself (staff_extension_requested)
appeal.supervised           lead unit; for district-level supervision also the coordinator
appeal.overdue              lead unit and street coordinator (staff_overdue)
notify.deadline_near        lead unit (staff_deadline_near)
appeal.resolved             resident (resident_resolved, with the satisfaction-callback
                            invitation); residents of appeals merged into it
                            (resident_master_resolved: the master's outcome)
appeal.transferred          resident (resident_transferred: call 110/119/120)
appeal.merged               resident (resident_merged)
every appeal.* event        each webhook subscriber (system_event)
==========================  =====================================================================

Recipients are addressed as ``unit:<code>`` (units, coordinators and dispatch centres alike:
the staff UI subscribes by unit code), ``resident:<appeal id>`` and ``subscriber:<name>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from shared.city import City
from shared.events import EventEnvelope

__all__ = [
    "DEADLINE_NEAR",
    "Notice",
    "Recipient",
    "Trigger",
    "coordinator_of",
    "dispatch_center_for",
    "plan_notices",
]

DEADLINE_NEAR = "notify.deadline_near"

RecipientKind = Literal["unit", "resident", "subscriber"]


@dataclass(frozen=True)
class Trigger:
    """An appeal event, or a reminder raised by notify: what a notice is about."""

    id: str
    type: str
    appeal_id: str
    occurred_at: datetime
    street: str | None = None
    community: str | None = None
    unit: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    schema_version: int = 1
    actor: Mapping[str, Any] | None = None

    @classmethod
    def from_event(cls, event: EventEnvelope) -> Trigger:
        """The trigger of a lifecycle event (its data JSON-shaped, as on the wire)."""
        return cls(
            id=event.event_id,
            type=event.type,
            appeal_id=event.appeal_id,
            occurred_at=event.occurred_at,
            street=event.street,
            community=event.community,
            unit=event.unit,
            data=dict(event.data),
            schema_version=event.schema_version,
            actor=event.actor.model_dump(mode="json"),
        )

    def as_doc(self) -> dict[str, Any]:
        """A document for the delivery log (no personal data: events carry none)."""
        return {
            "id": self.id,
            "type": self.type,
            "appeal_id": self.appeal_id,
            "occurred_at": self.occurred_at,
            "street": self.street,
            "community": self.community,
            "unit": self.unit,
            "data": dict(self.data),
            "schema_version": self.schema_version,
            "actor": dict(self.actor) if self.actor is not None else None,
        }

    def as_envelope(self) -> dict[str, Any]:
        """The event as on appeals.events (what webhook subscribers receive)."""
        return {
            "event_id": self.id,
            "type": self.type,
            "schema_version": self.schema_version,
            "appeal_id": self.appeal_id,
            "occurred_at": self.occurred_at,
            "actor": dict(self.actor) if self.actor is not None else None,
            "street": self.street,
            "community": self.community,
            "unit": self.unit,
            "data": dict(self.data),
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Trigger:
        """The inverse of ``as_doc``."""
        return cls(
            id=doc["id"],
            type=doc["type"],
            appeal_id=doc["appeal_id"],
            occurred_at=doc["occurred_at"],
            street=doc.get("street"),
            community=doc.get("community"),
            unit=doc.get("unit"),
            data=dict(doc.get("data") or {}),
            schema_version=int(doc.get("schema_version") or 1),
            actor=doc.get("actor"),
        )


@dataclass(frozen=True)
class Recipient:
    """A unit (staff), a resident (by appeal) or a webhook subscriber."""

    kind: RecipientKind
    id: str

    @property
    def address(self) -> str:
        """``unit:JA-JAS-RM``, ``resident:<appeal id>``, ``subscriber:<name>``."""
        return f"{self.kind}:{self.id}"

    @classmethod
    def parse(cls, address: str) -> Recipient:
        """The inverse of ``address``."""
        kind, _, ident = address.partition(":")
        if kind not in ("unit", "resident", "subscriber") or not ident:
            raise ValueError(f"not a recipient address: {address!r}")
        return cls(kind, ident)  # type: ignore[arg-type]

    @property
    def is_staff(self) -> bool:
        """Staff read in the inbox; templates address them as a unit."""
        return self.kind == "unit"


@dataclass(frozen=True)
class Notice:
    """One thing to tell one recipient about one trigger."""

    trigger: Trigger
    recipient: Recipient
    topic: str  # the template's name
    role: str  # lead, co_handler, coordinator, dispatch_center, resident, subscriber
    context: Mapping[str, Any] = field(default_factory=dict)

    def as_doc(self) -> dict[str, Any]:
        """What the delivery log keeps to compose the message again on a retry."""
        return {
            "recipient": self.recipient.address,
            "topic": self.topic,
            "role": self.role,
            "context": dict(self.context),
        }

    @classmethod
    def from_doc(cls, trigger: Trigger, doc: Mapping[str, Any]) -> Notice:
        """The inverse of ``as_doc``."""
        return cls(
            trigger=trigger,
            recipient=Recipient.parse(doc["recipient"]),
            topic=doc["topic"],
            role=doc["role"],
            context=dict(doc.get("context") or {}),
        )


def coordinator_of(city: City | None, street: str | None) -> str | None:
    """The street's coordinator: its city_ops unit (城市运行管理中心)."""
    if city is None or street is None or street not in city.streets:
        return None
    unit = city.streets[street][1].coordinator
    return unit.code if unit else None


def dispatch_center_for(city: City | None, street: str | None, unit: str | None) -> str | None:
    """The district 12345 dispatch centre above a street (or above a unit)."""
    if city is None:
        return None
    if street is not None and street in city.streets:
        return city.streets[street][0].dispatch_center
    if unit is not None and unit in city.units:
        return city.units[unit][0].dispatch_center
    return None


def plan_notices(
    trigger: Trigger,
    *,
    city: City | None,
    merged_appeals: Sequence[str] = (),
    subscribers: Sequence[str] = (),
) -> list[Notice]:
    """The notices a trigger calls for, at most one per recipient, in a stable order.

    ``merged_appeals`` are the appeals merged into this one (their residents hear the master's
    outcome); ``subscribers`` name the configured webhook subscribers.
    """
    planned: list[Notice] = []

    def add(kind: RecipientKind, ident: str | None, topic: str, role: str, **context: Any) -> None:
        if not ident:
            return
        recipient = Recipient(kind, ident)
        if any(n.recipient == recipient for n in planned):
            return  # the key is (event, recipient, channel): one notice per recipient
        planned.append(Notice(trigger, recipient, topic, role, context))

    data = trigger.data
    coordinator = coordinator_of(city, trigger.street)
    match trigger.type:
        case "appeal.received":
            add("resident", trigger.appeal_id, "resident_received", "resident")
        case "appeal.dispatched":
            add("unit", data.get("lead_unit") or trigger.unit, "staff_new_work", "lead")
            for unit in data.get("co_handlers") or ():
                add("unit", unit, "staff_new_work", "co_handler")
        case "appeal.triaged":
            center = data.get("dispatch_center") or dispatch_center_for(
                city, trigger.street, trigger.unit
            )
            add("unit", center, "staff_new_work", "dispatch_center")
        case "appeal.returned":
            if coordinator != data.get("returned_by"):
                add("unit", coordinator, "staff_returned", "coordinator")
        case "appeal.extension_requested":
            # The coordinator approves; when it asks for itself the district decides.
            if coordinator and coordinator != trigger.unit:
                add("unit", coordinator, "staff_extension_requested", "coordinator")
            else:
                center = dispatch_center_for(city, trigger.street, trigger.unit)
                add("unit", center, "staff_extension_requested", "dispatch_center")
        case "appeal.supervised":
            add("unit", trigger.unit, "staff_supervised", "lead")
            if data.get("level") == "district":
                add("unit", coordinator, "staff_supervised", "coordinator")
        case "appeal.overdue":
            add("unit", trigger.unit, "staff_overdue", "lead")
            add("unit", coordinator, "staff_overdue", "coordinator")
        case "notify.deadline_near":
            add("unit", trigger.unit, "staff_deadline_near", "lead")
            for unit in data.get("co_handlers") or ():
                add("unit", unit, "staff_deadline_near", "co_handler")
        case "appeal.resolved":
            add("resident", trigger.appeal_id, "resident_resolved", "resident")
            for duplicate in merged_appeals:
                add(
                    "resident",
                    duplicate,
                    "resident_master_resolved",
                    "resident",
                    master_id=trigger.appeal_id,
                )
        case "appeal.transferred":
            add("resident", trigger.appeal_id, "resident_transferred", "resident")
        case "appeal.merged":
            add("resident", trigger.appeal_id, "resident_merged", "resident")
    if trigger.type.startswith("appeal."):
        for name in subscribers:
            add("subscriber", name, "system_event", "subscriber")
    return planned
