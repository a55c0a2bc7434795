"""Channels, deliveries and messages: the one interface every way of telling someone goes through.

A ``Delivery`` is one notice over one channel. Its key, ``<trigger id>:<recipient>:<channel>``,
is the delivery log's unique ``_id``: each is made exactly once however often the event is
redelivered. A ``Message`` is a delivery rendered for its recipient, with the addresses to send
to. Every channel implements ``Channel.send(message)`` and reports failure as::

    DeliveryError
    ├── TemporaryFailure   try again later (timeouts, 5xx, SMTP 4xx, connection refused)
    └── PermanentFailure   never (SMTP 5xx, HTTP 4xx such as 400/410, no address)

Channels: ``inbox`` (the staff UI's inbox collection, pushed live over server-sent events; also
the resident's status page), ``email`` (SMTP), ``sms`` (an HTTP gateway), ``webhook`` (other
systems, signed with HMAC).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.notify.domain.privacy import mask_address
from services.notify.domain.recipients import Notice

__all__ = [
    "Channel",
    "Delivery",
    "DeliveryError",
    "Message",
    "PermanentFailure",
    "Reach",
    "TemporaryFailure",
    "channels_for",
]


class DeliveryError(Exception):
    """A channel could not deliver a message."""


class TemporaryFailure(DeliveryError):
    """Worth trying again later."""


class PermanentFailure(DeliveryError):
    """Trying again cannot help; the delivery goes to the dead-letter topic."""


@dataclass(frozen=True)
class Reach:
    """How a recipient can be reached: personal data, held only while a message is composed."""

    emails: tuple[str, ...] = field(default=(), repr=False)
    phones: tuple[str, ...] = field(default=(), repr=False)
    webhook_url: str | None = None
    language: str = "zh-CN"
    name: str | None = field(default=None, repr=False)
    tracking_no: str | None = None

    def addresses(self, channel: str) -> tuple[str, ...]:
        """Where a channel sends to (empty: this recipient cannot be reached that way)."""
        if channel == "email":
            return self.emails
        if channel == "sms":
            return self.phones
        if channel == "webhook":
            return (self.webhook_url,) if self.webhook_url else ()
        return ()


@dataclass(frozen=True)
class Delivery:
    """One notice over one channel."""

    notice: Notice
    channel: str

    @property
    def key(self) -> str:
        """The delivery log's unique key: (event, recipient, channel)."""
        return f"{self.notice.trigger.id}:{self.notice.recipient.address}:{self.channel}"


@dataclass(frozen=True)
class Message:
    """A delivery rendered for its recipient; ``to`` is personal data and never logged."""

    key: str
    channel: str
    recipient: str
    appeal_id: str
    event_id: str
    event_type: str
    topic: str
    language: str
    subject: str
    body: str
    short: str
    link: str | None = None
    to: tuple[str, ...] = field(default=(), repr=False)
    payload: Mapping[str, Any] = field(default_factory=dict)

    @property
    def masked_to(self) -> list[str]:
        """The addresses as they may appear in logs: 138****0000, a***@example.com."""
        return [mask_address(address) for address in self.to]


class Channel(Protocol):
    """One way of telling someone. ``send`` raises TemporaryFailure or PermanentFailure."""

    name: str

    async def send(self, message: Message) -> None: ...


def channels_for(notice: Notice, reach: Reach, active: frozenset[str]) -> list[str]:
    """The channels a notice goes out on, given how its recipient can be reached.

    Staff and residents get the inbox (the staff UI, the resident's status page) plus every
    personal channel they have an address for; a webhook subscriber gets its webhook only.
    """
    if notice.recipient.kind == "subscriber":
        return ["webhook"] if "webhook" in active and reach.webhook_url else []
    wanted = ["inbox"]
    if reach.emails:
        wanted.append("email")
    if reach.phones:
        wanted.append("sms")
    return [name for name in wanted if name in active]
