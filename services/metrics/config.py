"""Settings of the metrics service (environment variables prefixed ``APPEALS_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.metrics.domain import MIN_SAMPLE
from shared.settings import CommonSettings
from shared.topics import METRICS_GROUP

__all__ = ["MetricsSettings"]


class MetricsSettings(CommonSettings):
    """Environment: APPEALS_METRICS_PORT, APPEALS_METRICS_FIGURES_SECONDS, ...

    The Mongo connection (``APPEALS_MONGO_URL`` / ``APPEALS_MONGO_DB``) and the jurisdiction
    file come from ``CommonSettings``.
    """

    metrics_port: int = Field(default=8001, ge=1, le=65535)
    # The faust app id: the consumer group and the prefix of the table's changelog topic.
    # Workers that share it split the partitions; a second, separate pipeline needs its own.
    metrics_app_id: str = METRICS_GROUP
    data_dir: Path = Path(".appeals")
    # How often the day/month figure gauges are recomputed from the facts table.
    metrics_figures_seconds: float = Field(default=10.0, gt=0)
    # How often changed facts are written to MongoDB (one bulk write per tick).
    metrics_flush_seconds: float = Field(default=2.0, gt=0)
    # How often the consumer lag gauge is refreshed.
    metrics_lag_seconds: float = Field(default=5.0, gt=0)
    # Below this many cases an entity is "insufficient data" in rankings.
    metrics_min_sample: int = Field(default=MIN_SAMPLE, ge=1)
    # The MongoDB collection the reports API and `appeals metrics rebuild` use.
    metrics_facts_collection: str = "metrics_facts"
