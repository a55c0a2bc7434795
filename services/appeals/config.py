"""Settings of the appeals service (intake, system of record, outbox relay)."""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from shared.settings import CommonSettings

__all__ = ["AppealsSettings"]


class AppealsSettings(CommonSettings):
    """Environment: APPEALS_HTTP_PORT, APPEALS_RELAY_BATCH, ..."""

    http_port: int = Field(default=8000, ge=1, le=65535)
    # On SIGTERM, how long /readyz answers 503 before the server stops taking requests.
    drain_seconds: float = Field(default=2.0, ge=0, le=60)
    # The largest request body accepted (the longest appeal text is 4,000 characters).
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=10 * 1024 * 1024)
    relay_batch: int = Field(default=200, ge=1, le=5000)
    # The relay is woken by every local write; this poll picks up what other replicas or a
    # crash left behind.
    relay_poll_seconds: float = Field(default=1.0, gt=0)
    relay_retry_max_seconds: float = Field(default=5.0, gt=0)
    tracking_prefix: str = Field(default="", max_length=8, pattern=r"^[A-Z0-9]*$")
    # --- Open311 hook (entrypoints/open311.py): keys of the client apps allowed to POST.
    # APPEALS_OPEN311_API_KEYS='["k1","k2"]' or 'k1,k2'. No default key: with none, every
    # POST is refused with 403, so a fresh install takes no anonymous submissions.
    open311_api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # --- Staff login hook (adapters/accounts.py, entrypoints/auth.py): a session lasts one
    # working shift; this many failed logins in a row lock an account for the lockout period.
    session_hours: int = Field(default=8, ge=1, le=168)
    login_max_failures: int = Field(default=5, ge=1, le=100)
    login_lockout_minutes: int = Field(default=15, ge=1, le=1440)
    # --- Queues / SLA sweeper / duplicates / status page hook (issue 3).
    # How often the sweeper looks for missed deadlines; an overdue event is at most this late.
    sweeper_interval_seconds: float = Field(default=60.0, gt=0, le=3600)
    sweeper_batch: int = Field(default=200, ge=1, le=5000)
    # The routing watchdog (service_layer/routing_watchdog.py): an appeal still `received` this
    # many seconds after intake is sent to routing again (0 turns the watchdog off). Routing
    # answers in milliseconds; this only catches an event or decision lost between processes.
    routing_stall_seconds: float = Field(default=120.0, ge=0, le=86_400)
    # After the street-level supervision, this many more working days before the district's.
    escalation_district_workdays: int = Field(default=2, ge=1, le=30)
    # A new appeal of the same matter this close (metres) and this recent (hours) to an open
    # one is flagged as its suspected duplicate.
    duplicate_radius_m: float = Field(default=150.0, gt=0, le=5000)
    duplicate_window_hours: float = Field(default=72.0, gt=0, le=24 * 30)
    # "Due soon" in the work queues: the current stage's deadline within this many minutes.
    due_soon_minutes: int = Field(default=120, ge=1, le=7 * 24 * 60)
    # Work queues from the open appeals held in memory, fed by a change stream
    # (adapters/open_work.py); off, or while it loads, every queue reads the database.
    open_work_view: bool = True
    # How long a queue read waits for this process's own last writes to reach the view
    # before it reads the database instead.
    open_work_wait_ms: int = Field(default=500, ge=0, le=10_000)
    # Resident status look-ups per client IP per minute (429 beyond).
    status_rate_limit_per_minute: int = Field(default=20, ge=1, le=10_000)
    # --- Staff UI hook (entrypoints/ui.py): the routing service's web server, asked for matter
    # suggestions and address completion while an operator types a call in
    # (APPEALS_ROUTING_URL). The console degrades to the plain catalog when it does not answer.
    routing_url: str = "http://127.0.0.1:8002"
    routing_timeout_seconds: float = Field(default=1.5, gt=0, le=30)

    @field_validator("open311_api_keys", mode="before")
    @classmethod
    def _split_open311_keys(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("open311_api_keys")
    @classmethod
    def _open311_keys_are_secrets(cls, keys: list[str]) -> list[str]:
        for key in keys:
            # A short or placeholder key is guessable; refuse to start with one.
            if len(key) < 16 or key.lower().startswith(("changeme", "changethis", "secret")):
                raise ValueError("each Open311 API key must be a random string of 16+ characters")
        return keys
