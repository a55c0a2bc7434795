"""Settings of the notify service."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from shared.settings import CommonSettings

__all__ = ["NotifySettings"]


class NotifySettings(CommonSettings):
    """Environment: APPEALS_NOTIFY_PORT, ..."""

    notify_port: int = Field(default=8003, ge=1, le=65535)
    data_dir: Path = Path(".appeals")
