"""The MongoDB client every service uses (pymongo's async client).

``retryWrites=false`` and ``maxIdleTimeMS`` belong in the URL: SecantusDB slows down tenfold
with retryable writes and closes connections idle for 300 s (../shared/INFRA.md); MongoDB
itself is fine with both. Datetimes come back time-zone aware (UTC).
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

__all__ = ["make_client"]


def make_client(url: str, **overrides: Any) -> AsyncMongoClient[dict[str, Any]]:
    """An async client with aware datetimes and short server-selection waits."""
    options: dict[str, Any] = {
        "tz_aware": True,
        "serverSelectionTimeoutMS": 5000,
        "connectTimeoutMS": 3000,
        **overrides,
    }
    return AsyncMongoClient(url, **options)
