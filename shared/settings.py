"""Settings every service reads: where the broker, the database and the city data are.

Each service extends ``CommonSettings`` with its own fields; every variable is prefixed
``APPEALS_`` (``APPEALS_KAFKA_BOOTSTRAP``, ``APPEALS_MONGO_URL`` ...). Broker quirks of the
embedded stand-ins live in ``shared.kafka.BROKER_PROFILES`` and are chosen by
``APPEALS_BROKER_PROFILE``; production leaves it at ``kafka`` and gets none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEMO_CITY", "CommonSettings"]

DEMO_CITY = Path(__file__).resolve().parent / "demo_city"


class CommonSettings(BaseSettings):
    """Connection and data settings shared by all services."""

    model_config = SettingsConfigDict(env_prefix="APPEALS_", extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    broker_profile: Literal["kafka", "noida", "tansu"] = "kafka"
    mongo_url: str = "mongodb://127.0.0.1:27017/?retryWrites=false&maxIdleTimeMS=60000"
    mongo_db: str = "appeals"
    jurisdiction_file: Path = DEMO_CITY / "jurisdiction.yaml"
    matters_file: Path = DEMO_CITY / "matters.yaml"
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    bind_host: str = "127.0.0.1"
    # Tells workers of one service apart (static consumer-group membership on brokers that
    # need it); give each worker process of a service its own.
    worker_id: str = Field(default="1", pattern=r"^[A-Za-z0-9_.-]{1,40}$")
