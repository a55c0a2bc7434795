"""Intake flow: validate against the catalog, store the appeal with its first event."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, Literal

from pymongo.errors import DuplicateKeyError

from services.appeals.adapters.documents import appeal_fields
from services.appeals.adapters.store import AppealStore, DuplicateIntake, new_token
from services.appeals.domain.appeal import evolve
from services.appeals.domain.intake import AppealCreate, new_appeal, new_tracking_no
from shared.city import City
from shared.events import Actor

__all__ = ["IntakeResult", "UnknownMatter", "hash_token", "submit_appeal"]


class UnknownMatter(ValueError):
    """The submission names a matter code the catalog does not have."""


IntakeResult = tuple[dict[str, Any], str | None, bool]


def hash_token(token: str) -> str:
    """Tokens are stored hashed: a database dump does not open residents' appeals."""
    return hashlib.sha256(token.encode()).hexdigest()


async def submit_appeal(
    submission: AppealCreate,
    *,
    store: AppealStore,
    city: City,
    channel: Literal["web", "hotline", "open311"],
    actor: Actor,
    idempotency_key: str | None,
    tracking_prefix: str = "",
) -> IntakeResult:
    """Store a new appeal; return (document, token or None if replayed, created?).

    A retried submission with the same idempotency key returns the appeal stored the first
    time (its token cannot be shown again: only its hash is kept).
    """
    if submission.matter is not None and city.catalog.get(submission.matter) is None:
        raise UnknownMatter(f"matter {submission.matter!r} is not in the catalog")
    now = datetime.now(UTC)
    key = f"{channel}:{idempotency_key}" if idempotency_key else None
    for _ in range(5):  # a tracking-number collision is rare; draw again
        token = new_token()
        extra, event = new_appeal(
            submission,
            channel=channel,
            actor=actor,
            now=now,
            tracking_no=new_tracking_no(now, tracking_prefix),
            token_hash=hash_token(token),
            idempotency_key=key,
        )
        appeal = evolve(None, event)
        doc = {**appeal_fields(appeal, city), **extra, "version": appeal.version}
        try:
            await store.insert_new(doc, [event])
        except DuplicateIntake as dup:
            return dup.existing, None, False
        except DuplicateKeyError as exc:
            if "tracking_no" in str(exc):
                continue
            raise
        return doc, token, True
    raise RuntimeError("could not draw a free tracking number in 5 tries")
