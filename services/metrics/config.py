"""Settings of the metrics service."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from shared.settings import CommonSettings

__all__ = ["MetricsSettings"]


class MetricsSettings(CommonSettings):
    """Environment: APPEALS_METRICS_PORT, ..."""

    metrics_port: int = Field(default=8001, ge=1, le=65535)
    data_dir: Path = Path(".appeals")
