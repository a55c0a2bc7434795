"""Wires the notify worker from its settings: database, channels, composer, the Notifier.

The only place that knows which adapter stands behind which port; tests of the use cases build
a ``Notifier`` the same way against the real database and servers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import httpx
import jinja2
from pymongo import AsyncMongoClient

from services.notify.adapters.contacts import MongoContactDirectory
from services.notify.adapters.delivery_log import DeliveryLog
from services.notify.adapters.email import SmtpChannel
from services.notify.adapters.http_channels import SmsGatewayChannel, WebhookChannel
from services.notify.adapters.inbox import InboxChannel, InboxFeed, Wakeup
from services.notify.adapters.notify_state import DeadlineBook, MergeBook
from services.notify.adapters.prometheus import NotifyMetrics
from services.notify.config import NotifySettings
from services.notify.domain.channels import Channel
from services.notify.domain.messages import TEMPLATE_DIR, MessageComposer
from services.notify.service_layer.notifier import DeadLetter, Notifier, RetryPolicy
from shared.city import City, load_city
from shared.mongo import make_client

__all__ = ["Wiring", "build", "subscriber_names"]


def subscriber_names(urls: Iterable[str]) -> dict[str, str]:
    """A stable name per webhook URL (a hash: reordering the list keeps delivery keys)."""
    return {hashlib.sha256(url.encode()).hexdigest()[:12]: url for url in urls}


class Wiring:
    """The notifier plus what the entrypoint needs besides it (the SSE feed, clean-up)."""

    def __init__(
        self,
        notifier: Notifier,
        feed: InboxFeed,
        wakeup: Wakeup,
        client: AsyncMongoClient[dict[str, Any]],
        http: httpx.AsyncClient,
        indexed: list[Any],
    ) -> None:
        self.notifier = notifier
        self.feed = feed
        self.wakeup = wakeup
        self.client = client
        self.http = http
        self._indexed = indexed

    async def ensure_indexes(self) -> None:
        """Create the collections' indexes (idempotent)."""
        for part in self._indexed:
            await part.ensure_indexes()

    async def close(self) -> None:
        """Close the database and HTTP clients."""
        await self.http.aclose()
        await self.client.close()


def build(
    settings: NotifySettings,
    *,
    metrics: NotifyMetrics,
    dead_letter: DeadLetter,
    city: City | None = None,
) -> Wiring:
    """Everything the worker runs on, from the settings (call inside the running loop)."""
    client = make_client(settings.mongo_url)
    db = client[settings.mongo_db]
    if city is None:
        city = load_city(settings.jurisdiction_file, settings.matters_file)
    http = httpx.AsyncClient(timeout=settings.send_timeout_seconds)
    wakeup = Wakeup()
    active = settings.active_channels()
    inbox = InboxChannel(db, wakeup)
    channels: dict[str, Channel] = {}
    if "inbox" in active:
        channels["inbox"] = inbox
    if "email" in active and settings.smtp_host is not None:
        channels["email"] = SmtpChannel(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            timeout=settings.send_timeout_seconds,
        )
    if "sms" in active and settings.sms_gateway_url is not None:
        token = settings.sms_gateway_token
        channels["sms"] = SmsGatewayChannel(
            http,
            url=settings.sms_gateway_url,
            token=token.get_secret_value() if token else None,
        )
    subscribers: dict[str, str] = {}
    if "webhook" in active and settings.webhook_secret is not None:
        channels["webhook"] = WebhookChannel(
            http, secret=settings.webhook_secret.get_secret_value()
        )
        subscribers = subscriber_names(settings.webhook_urls)
    delivery_log = DeliveryLog(db)
    deadlines = DeadlineBook(db)
    merges = MergeBook(db)
    notifier = Notifier(
        log=delivery_log,
        directory=MongoContactDirectory(db),
        channels=channels,
        composer=MessageComposer(
            jinja2.FileSystemLoader(TEMPLATE_DIR),
            public_base_url=settings.public_base_url,
            timezone=settings.notify_timezone,
            city=city,
        ),
        deadlines=deadlines,
        merges=merges,
        metrics=metrics,
        dead_letter=dead_letter,
        city=city,
        subscribers=subscribers,
        policy=RetryPolicy(
            max_attempts=settings.max_attempts,
            base_seconds=settings.retry_base_seconds,
            max_seconds=settings.retry_max_seconds,
            lease_seconds=settings.delivery_lease_seconds,
            reminder_fraction=settings.reminder_at_fraction,
        ),
    )
    return Wiring(
        notifier, InboxFeed(db), wakeup, client, http, [delivery_log, inbox, deadlines, merges]
    )
