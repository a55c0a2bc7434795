"""Settings of the notify service (environment variables prefixed ``APPEALS_``).

A channel is active when it is listed in ``APPEALS_NOTIFY_CHANNELS`` *and* configured: e-mail
needs ``APPEALS_SMTP_HOST``, SMS needs ``APPEALS_SMS_GATEWAY_URL``, webhooks need
``APPEALS_WEBHOOK_URLS`` (and then ``APPEALS_WEBHOOK_SECRET``). The inbox (live push to the
staff UI over server-sent events) needs nothing but the database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from shared.settings import CommonSettings
from shared.topics import NOTIFY_GROUP

__all__ = ["CHANNEL_NAMES", "NotifySettings"]

ChannelName = Literal["inbox", "email", "sms", "webhook"]
CHANNEL_NAMES: tuple[ChannelName, ...] = ("inbox", "email", "sms", "webhook")

# Secrets that are obviously not secrets; refusing them keeps a copied example out of production.
_PLACEHOLDERS = {"changethis", "changeme", "secret", "password", "xxx", ""}


def _split(value: Any) -> Any:
    """Accept a JSON list or a comma-separated string (easier to write in a shell)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class NotifySettings(CommonSettings):
    """Environment: APPEALS_NOTIFY_PORT, APPEALS_SMTP_HOST, APPEALS_WEBHOOK_URLS, ..."""

    notify_port: int = Field(default=8003, ge=1, le=65535)
    # The faust app id is the consumer group: a second, independent notify deployment on the
    # same cluster (or a test) needs its own.
    notify_app_id: str = Field(default=NOTIFY_GROUP, pattern=r"^[A-Za-z0-9._-]+$")
    data_dir: Path = Path(".appeals")

    notify_channels: Annotated[list[ChannelName], NoDecode] = Field(
        default_factory=lambda: list(CHANNEL_NAMES)
    )
    # Links in messages: residents get <base>/status/<tracking no>, staff <base>/appeals/<id>.
    public_base_url: str = "http://127.0.0.1:8000"
    # Times in messages are shown in the city's zone; the data stays UTC.
    notify_timezone: str = "Asia/Shanghai"

    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = "12345 <noreply@12345.example.org>"
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None

    sms_gateway_url: str | None = None
    sms_gateway_token: SecretStr | None = None

    webhook_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    webhook_secret: SecretStr | None = None

    # One attempt per channel call takes at most this long ...
    send_timeout_seconds: float = Field(default=10.0, gt=0)
    # ... and a claimed delivery is not retried by anyone else before its lease ends, so the
    # lease must outlast a send: otherwise a slow send and a retry could both go out.
    delivery_lease_seconds: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=8, ge=1, le=100)
    retry_base_seconds: float = Field(default=5.0, gt=0)
    retry_max_seconds: float = Field(default=3600.0, gt=0)
    retry_scan_seconds: float = Field(default=2.0, gt=0)

    # "Deadline near": a unit is reminded once this fraction of its time has gone.
    reminder_at_fraction: float = Field(default=0.8, gt=0, lt=1)
    reminder_scan_seconds: float = Field(default=30.0, gt=0)

    # When set, GET /api/v1/stream wants "Authorization: Bearer <token>" (or ?token=).
    stream_token: SecretStr | None = None

    @field_validator("notify_channels", "webhook_urls", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split(value)

    @field_validator("webhook_urls")
    @classmethod
    def _http_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"a webhook URL starts with http:// or https://, not {url!r}")
        return urls

    @model_validator(mode="after")
    def _consistent(self) -> NotifySettings:
        if self.webhook_urls:
            secret = self.webhook_secret.get_secret_value() if self.webhook_secret else ""
            if secret.lower() in _PLACEHOLDERS or len(secret) < 16:
                raise ValueError(
                    "APPEALS_WEBHOOK_SECRET is required (at least 16 characters, not a "
                    "placeholder) when APPEALS_WEBHOOK_URLS is set"
                )
        if self.delivery_lease_seconds <= self.send_timeout_seconds:
            raise ValueError("delivery_lease_seconds must be longer than send_timeout_seconds")
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError("set both APPEALS_SMTP_USERNAME and APPEALS_SMTP_PASSWORD, or neither")
        return self

    def active_channels(self) -> frozenset[str]:
        """The channels that are both enabled and configured."""
        configured = {
            "inbox": True,
            "email": self.smtp_host is not None,
            "sms": self.sms_gateway_url is not None,
            "webhook": bool(self.webhook_urls),
        }
        return frozenset(name for name in self.notify_channels if configured[name])
