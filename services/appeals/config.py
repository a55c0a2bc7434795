"""Settings of the appeals service (intake, system of record, outbox relay)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import CommonSettings

__all__ = ["AppealsSettings"]


class AppealsSettings(CommonSettings):
    """Environment: APPEALS_HTTP_PORT, APPEALS_RELAY_BATCH, ..."""

    http_port: int = Field(default=8000, ge=1, le=65535)
    relay_batch: int = Field(default=200, ge=1, le=5000)
    # The relay is woken by every local write; this poll picks up what other replicas or a
    # crash left behind.
    relay_poll_seconds: float = Field(default=1.0, gt=0)
    relay_retry_max_seconds: float = Field(default=5.0, gt=0)
    tracking_prefix: str = Field(default="", max_length=8, pattern=r"^[A-Z0-9]*$")
