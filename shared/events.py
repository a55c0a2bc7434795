"""Lifecycle events of an appeal and the routing decision message: the contract between services.

Every event travels on ``appeals.events`` keyed by appeal id, inside one envelope::

    {event_id, type, schema_version, appeal_id, occurred_at (UTC), actor,
     street, community, unit, data}

``type`` is past tense (``appeal.received``) and selects the pydantic model of ``data``.
Consumers are idempotent on ``event_id`` (delivery is at least once). A change to a data
model bumps its ``SCHEMA_VERSION`` and adds an upcaster to ``UPCASTERS`` so old events in the
MongoDB event log still decode; ``make schemas`` exports the JSON Schemas checked in under
``shared/schemas/`` and a test fails when they drift.

Personal data (caller phone, e-mail) never travels in these events: the appeals service keeps
it, and notify asks for a contact by appeal id when it needs one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = [
    "DATA_MODELS",
    "EVENT_TYPES",
    "Actor",
    "EventEnvelope",
    "InvalidEvent",
    "RoutingDecision",
    "decode_decision",
    "decode_event",
    "encode",
    "new_event",
]


class InvalidEvent(ValueError):
    """A message on a topic is not a valid event of a known type and version."""


class Actor(BaseModel):
    """Who caused an event: a resident, a staff member, or a system component."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["resident", "staff", "system"]
    id: str = Field(min_length=1, max_length=120)
    role: str | None = None
    unit: str | None = None


SYSTEM_ROUTER = Actor(kind="system", id="routing")
SYSTEM_SWEEPER = Actor(kind="system", id="sla-sweeper")


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    SCHEMA_VERSION: ClassVar[int] = 1


class AppealReceived(_Data):
    """诉求受理: intake stored a new appeal."""

    channel: Literal["web", "hotline", "open311"]
    tracking_no: str
    text: str
    address: str | None = None
    location: dict[str, float] | None = None
    matter: str | None = None  # the resident's or operator's own choice, a hint for routing
    excluded_units: list[str] = Field(default_factory=list)


class AppealDispatched(_Data):
    """派单: the appeal was assigned to a unit (by the router or a person)."""

    matter: str | None
    urgency: Literal["urgent", "normal", "advice"]
    lead_unit: str
    co_handlers: list[str] = Field(default_factory=list)
    by: Literal["router", "dispatcher", "coordinator"]
    confidence: float | None = None
    reasons: list[str] = Field(default_factory=list)
    deadlines: dict[str, datetime] = Field(default_factory=dict)
    decision_id: str | None = None
    district: str | None = None  # the lead unit's district; added after v1, optional


class AppealTriaged(_Data):
    """The router was not sure: the appeal waits in the district dispatch centre's queue."""

    dispatch_center: str
    reasons: list[str] = Field(default_factory=list)
    candidates: list[dict[str, Any]] = Field(default_factory=list)
    confidence: float | None = None
    decision_id: str | None = None
    district: str | None = None  # the dispatch centre's district; added after v1, optional


class AppealTransferred(_Data):
    """Out of scope (crime in progress, fire, medical emergency): handed to 110/119/120."""

    to: Literal["110", "119", "120"]
    matter: str | None = None
    reasons: list[str] = Field(default_factory=list)
    decision_id: str | None = None


class AppealSigned(_Data):
    """签收: the unit accepted the work."""


class AppealResponded(_Data):
    """First contact with the resident."""

    message: str = ""


class AppealReturned(_Data):
    """退单: the unit says the appeal is not theirs."""

    reason: str
    returned_by: str
    return_count: int


class AppealExtensionRequested(_Data):
    """延期申请."""

    reason: str
    workdays: int


class AppealExtended(_Data):
    """延期批准: the resolve deadline moved."""

    workdays: int
    approved_by: str
    deadlines: dict[str, datetime] = Field(default_factory=dict)


class AppealResolved(_Data):
    """办结: the unit reports a result."""

    result: str
    solved: bool = True


class AppealReviewed(_Data):
    """回访: the resident's rating of the result."""

    satisfaction: Literal["satisfied", "basically_satisfied", "unsatisfied"]
    solved: bool
    comment: str = ""


class AppealReopened(_Data):
    """重办: the review was unsatisfied; back to the unit."""

    reason: str = ""
    # the unit's fresh deadlines for the second round; added after v1, optional
    deadlines: dict[str, datetime] = Field(default_factory=dict)


class AppealClosed(_Data):
    """结案."""

    reason: str = ""


class AppealMerged(_Data):
    """Merged into a master appeal (duplicates)."""

    master_id: str


class AppealSupervised(_Data):
    """督办: a higher level's note that the unit must acknowledge."""

    level: Literal["street", "district"]
    note: str


class AppealOverdue(_Data):
    """A deadline passed; emitted once per missed deadline."""

    deadline: Literal["sign", "respond", "resolve"]
    due_at: datetime


class AppealNoteAdded(_Data):
    """A note on the appeal: internal (staff only) or a message to the resident (留言)."""

    text: str = Field(min_length=1, max_length=2000)
    internal: bool = True


class AppealPaused(_Data):
    """The clock stopped: the unit waits for the resident (e.g. unreachable, away, documents)."""

    reason: str = Field(min_length=1)


class AppealResumed(_Data):
    """The clock runs again; the deadlines still ahead moved by the pause."""

    paused_seconds: int = Field(ge=0)
    paused_working_minutes: int = Field(ge=0)
    deadlines: dict[str, datetime] = Field(default_factory=dict)


class AppealSupervisionAcknowledged(_Data):
    """The unit acknowledged the supervision notes (督办) pending on the appeal."""

    note: str = ""


class AppealExtensionRejected(_Data):
    """延期驳回: the extension request was refused; the resolve deadline stands."""

    reason: str = Field(min_length=1)
    rejected_by: str


DATA_MODELS: dict[str, type[_Data]] = {
    "appeal.received": AppealReceived,
    "appeal.dispatched": AppealDispatched,
    "appeal.triaged": AppealTriaged,
    "appeal.signed": AppealSigned,
    "appeal.responded": AppealResponded,
    "appeal.returned": AppealReturned,
    "appeal.extension_requested": AppealExtensionRequested,
    "appeal.extended": AppealExtended,
    "appeal.resolved": AppealResolved,
    "appeal.reviewed": AppealReviewed,
    "appeal.reopened": AppealReopened,
    "appeal.closed": AppealClosed,
    "appeal.merged": AppealMerged,
    "appeal.transferred": AppealTransferred,
    "appeal.supervised": AppealSupervised,
    "appeal.overdue": AppealOverdue,
    "appeal.note_added": AppealNoteAdded,
    "appeal.paused": AppealPaused,
    "appeal.resumed": AppealResumed,
    "appeal.supervision_acknowledged": AppealSupervisionAcknowledged,
    "appeal.extension_rejected": AppealExtensionRejected,
}
EVENT_TYPES = tuple(DATA_MODELS)

# (type, from_version) -> function turning data of that version into the next version.
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}


class EventEnvelope(BaseModel):
    """One lifecycle event. Immutable; identified by ``event_id``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(min_length=1, max_length=64)
    type: str
    schema_version: int = Field(ge=1)
    appeal_id: str = Field(min_length=1, max_length=64)
    occurred_at: datetime
    actor: Actor
    street: str | None = None
    community: str | None = None
    unit: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in DATA_MODELS:
            raise ValueError(f"unknown event type {value!r}")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at must carry a time zone (UTC)")
        return value.astimezone(UTC)

    def payload(self) -> _Data:
        """The typed data model of this event."""
        return DATA_MODELS[self.type].model_validate(self.data)


def new_event(
    type_: str,
    *,
    appeal_id: str,
    actor: Actor,
    data: _Data,
    street: str | None = None,
    community: str | None = None,
    unit: str | None = None,
    occurred_at: datetime | None = None,
) -> EventEnvelope:
    """Build an envelope around typed data, stamping id, version and time."""
    if DATA_MODELS.get(type_) is not type(data):
        raise InvalidEvent(f"{type(data).__name__} is not the data of {type_}")
    return EventEnvelope(
        event_id=uuid.uuid4().hex,
        type=type_,
        schema_version=type(data).SCHEMA_VERSION,
        appeal_id=appeal_id,
        occurred_at=occurred_at or datetime.now(UTC),
        actor=actor,
        street=street,
        community=community,
        unit=unit,
        data=data.model_dump(mode="json"),
    )


def encode(model: BaseModel) -> bytes:
    """Serialise an event or decision for Kafka (compact JSON, UTC ISO timestamps)."""
    return orjson.dumps(model.model_dump(mode="json"))


def decode_event(raw: bytes | str | dict[str, Any]) -> EventEnvelope:
    """Parse, upcast and validate an event; raise InvalidEvent naming what is wrong."""
    try:
        obj = orjson.loads(raw) if isinstance(raw, bytes | str) else dict(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidEvent("an event is a JSON object")
    type_ = obj.get("type")
    if not isinstance(type_, str) or type_ not in DATA_MODELS:
        raise InvalidEvent(f"unknown event type {type_!r}")
    model = DATA_MODELS[type_]
    version = obj.get("schema_version")
    if not isinstance(version, int) or version < 1:
        raise InvalidEvent("schema_version must be a positive integer")
    if version > model.SCHEMA_VERSION:
        raise InvalidEvent(f"{type_} schema_version {version} is newer than this code knows")
    data = obj.get("data") or {}
    while version < model.SCHEMA_VERSION:
        data = UPCASTERS[(type_, version)](data)
        version += 1
    obj = {**obj, "data": data, "schema_version": version}
    try:
        envelope = EventEnvelope.model_validate(obj)
    except ValidationError as exc:
        raise InvalidEvent(f"{type_}: {_first_error(exc)}") from None
    try:
        envelope.payload()
    except ValidationError as exc:
        raise InvalidEvent(f"{type_}: data.{_first_error(exc)}") from None
    return envelope


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}"


class RoutingDecision(BaseModel):
    """What the router decided for one appeal, with its reasons (on ``routing.decisions``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decision_id: str
    appeal_id: str
    based_on_event_id: str
    decided_at: datetime
    street: str | None = None
    community: str | None = None
    district: str | None = None
    matter: str | None = None
    unit: str | None = None
    co_handlers: list[str] = Field(default_factory=list)
    urgency: Literal["urgent", "normal", "advice"] = "normal"
    triage: bool = False
    transfer: Literal["110", "119", "120"] | None = None
    dispatch_center: str | None = None
    confidence: float = 0.0
    reasons: list[str] = Field(default_factory=list)
    candidates: list[dict[str, Any]] = Field(default_factory=list)


def decode_decision(raw: bytes | str) -> RoutingDecision:
    """Parse a routing decision; raise InvalidEvent naming what is wrong."""
    try:
        return RoutingDecision.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidEvent(f"routing decision: {where}: {first['msg']}") from None
