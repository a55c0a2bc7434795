"""Intake: what a resident or an operator submits, validated, turned into a new appeal.

Pure: builds the appeal document and its ``appeal.received`` event; the service layer stores
both in one write. Validation errors name the field (FastAPI turns them into 422s).
"""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.events import Actor, AppealReceived, EventEnvelope, new_event

__all__ = [
    "AppealCreate",
    "Contact",
    "HotlineAppealCreate",
    "Location",
    "new_appeal",
    "new_tracking_no",
]

PHONE = re.compile(r"^\+?[0-9][0-9 -]{4,19}$")


class Location(BaseModel):
    """A WGS-84 point."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


class Contact(BaseModel):
    """How to reach the resident; personal data, kept only in the appeals service."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, max_length=60)
    phone: str | None = Field(default=None, max_length=20)
    email: str | None = Field(default=None, max_length=254)
    language: Literal["zh-CN", "en"] = "zh-CN"

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is not None and not PHONE.match(value):
            raise ValueError("phone must be digits, optionally with +, spaces or hyphens")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", value):
            raise ValueError("email is not an e-mail address")
        return value


class AppealCreate(BaseModel):
    """A web (resident form) submission."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    text: str = Field(min_length=1, max_length=4000, description="What is wrong, in words.")
    address: str | None = Field(default=None, min_length=1, max_length=200)
    location: Location | None = None
    matter: str | None = Field(
        default=None, max_length=64, description="A matter code from the catalog, if known."
    )
    contact: Contact | None = None

    @model_validator(mode="after")
    def _where(self) -> AppealCreate:
        if self.address is None and self.location is None:
            raise ValueError("give an address or a location (lon, lat)")
        return self


class HotlineAppealCreate(AppealCreate):
    """An operator's record of a call to the hotline."""

    call_id: str | None = Field(default=None, min_length=1, max_length=64)
    operator_id: str | None = Field(default=None, min_length=1, max_length=64)
    caller_phone: str | None = Field(default=None, max_length=20)

    @field_validator("caller_phone")
    @classmethod
    def _caller_phone(cls, value: str | None) -> str | None:
        if value is not None and not PHONE.match(value):
            raise ValueError("caller_phone must be digits, optionally with +, spaces or hyphens")
        return value


def new_tracking_no(now: datetime, prefix: str = "") -> str:
    """A tracking number to read back to the caller: date + 8 random digits.

    Random rather than sequential so one number says nothing about others; the status page
    needs the secret token as well.
    """
    return f"{prefix}{now.astimezone(UTC):%Y%m%d}{secrets.randbelow(10**8):08d}"


def new_appeal(
    submission: AppealCreate,
    *,
    channel: Literal["web", "hotline", "open311"],
    actor: Actor,
    now: datetime,
    tracking_no: str,
    token_hash: str,
    idempotency_key: str | None,
) -> tuple[dict[str, Any], EventEnvelope]:
    """The new appeal's service-only document fields and its ``appeal.received`` event."""
    appeal_id = uuid.uuid4().hex[:20]
    location = submission.location.model_dump() if submission.location else None
    contact = submission.contact.model_dump(exclude_none=True) if submission.contact else {}
    if isinstance(submission, HotlineAppealCreate) and submission.caller_phone:
        contact.setdefault("phone", submission.caller_phone)
    event = new_event(
        "appeal.received",
        appeal_id=appeal_id,
        actor=actor,
        occurred_at=now,
        data=AppealReceived(
            channel=channel,
            tracking_no=tracking_no,
            text=submission.text,
            address=submission.address,
            location=location,
            matter=submission.matter,
        ),
    )
    # The aggregate's own fields come from evolve(appeal.received); these are what only the
    # appeals service keeps beside them.
    doc: dict[str, Any] = {
        "_id": appeal_id,
        "token_hash": token_hash,
        "contact": contact,
        "updated_at": now,
        # The router's answer must name this event; older or repeated answers are ignored.
        "awaiting_decision_for": event.event_id,
    }
    if idempotency_key is not None:
        doc["idempotency_key"] = idempotency_key
    if isinstance(submission, HotlineAppealCreate):
        doc["call"] = {"call_id": submission.call_id, "operator_id": submission.operator_id}
    return doc, event
