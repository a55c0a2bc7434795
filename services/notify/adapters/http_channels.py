"""The ``sms`` (HTTP gateway) and ``webhook`` channels: a JSON POST each.

SMS gateway contract (any provider is put behind a small adapter speaking it)::

    POST <APPEALS_SMS_GATEWAY_URL>
    Idempotency-Key: <delivery key>
    Authorization: Bearer <APPEALS_SMS_GATEWAY_TOKEN>        (when set)
    {"key": "<delivery key>", "to": ["13800000000"], "text": "...", "language": "zh-CN"}

Webhook contract (to each of APPEALS_WEBHOOK_URLS)::

    POST <url>
    Idempotency-Key: <delivery key>
    X-Appeals-Event: appeal.received
    X-Appeals-Timestamp: <unix seconds>
    X-Appeals-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>
    {"delivery_key": "...", "event": {<the event envelope>}}

Answers: 2xx delivered; 408, 425, 429 and 5xx, timeouts and connection errors are temporary
failures; any other status (400, 404, 410 ...) is permanent.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import httpx
import orjson

from services.notify.domain.channels import Message, PermanentFailure, TemporaryFailure

__all__ = ["SmsGatewayChannel", "WebhookChannel", "check_status", "sign"]

_RETRYABLE = {408, 425, 429}


def check_status(response: httpx.Response, what: str) -> None:
    """Raise the failure an HTTP answer means (nothing for 2xx)."""
    status = response.status_code
    if 200 <= status < 300:
        return
    error = f"{what} answered HTTP {status}"
    if status >= 500 or status in _RETRYABLE:
        raise TemporaryFailure(error)
    raise PermanentFailure(error)


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The webhook signature header value."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


async def _post(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str], what: str
) -> None:
    try:
        response = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise TemporaryFailure(f"{what} unreachable: {type(exc).__name__}") from None
    check_status(response, what)


class SmsGatewayChannel:
    """Sends the short text to the recipient's numbers through the gateway."""

    name = "sms"

    def __init__(self, client: httpx.AsyncClient, *, url: str, token: str | None = None) -> None:
        self.client = client
        self.url = url
        self.token = token

    async def send(self, message: Message) -> None:
        """One POST for all of the recipient's numbers."""
        if not message.to:
            raise PermanentFailure("no phone number on file")
        body = orjson.dumps(
            {
                "key": message.key,
                "to": list(message.to),
                "text": message.short,
                "language": message.language,
            }
        )
        headers = {"Content-Type": "application/json", "Idempotency-Key": message.key}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        await _post(self.client, self.url, body, headers, "SMS gateway")


class WebhookChannel:
    """Posts the event to a subscriber, signed."""

    name = "webhook"

    def __init__(self, client: httpx.AsyncClient, *, secret: str) -> None:
        self.client = client
        self.secret = secret.encode()

    async def send(self, message: Message) -> None:
        """One signed POST to the subscriber's URL."""
        if not message.to:
            raise PermanentFailure("subscriber has no URL configured any more")
        body = orjson.dumps(dict(message.payload))
        timestamp = str(int(time.time()))
        headers: dict[str, Any] = {
            "Content-Type": "application/json",
            "Idempotency-Key": message.key,
            "X-Appeals-Event": message.event_type,
            "X-Appeals-Timestamp": timestamp,
            "X-Appeals-Signature": sign(self.secret, timestamp, body),
        }
        await _post(self.client, message.to[0], body, headers, "webhook subscriber")
