"""What happens after a failed attempt: retry later with exponential backoff, or give up (pure).

A temporary failure is retried after ``base * 2**(attempts-1)`` seconds (capped, with up to
+20 % jitter so a gateway that comes back is not hit by every delivery at once); after
``max_attempts`` attempts, or at the first permanent failure, the delivery is failed for good
and goes to ``notify.deliveries.dlq``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.notify.domain.channels import DeliveryError, PermanentFailure

__all__ = ["AfterFailure", "after_failure", "backoff"]


def backoff(attempts: int, *, base: float, cap: float, jitter: float = 0.0) -> timedelta:
    """The wait before the next attempt, after ``attempts`` failed ones (jitter in [0, 1])."""
    seconds = min(cap, base * 2 ** max(0, attempts - 1))
    return timedelta(seconds=seconds * (1 + 0.2 * jitter))


@dataclass(frozen=True)
class AfterFailure:
    """The delivery's next state after a failed attempt."""

    retry: bool
    next_attempt_at: datetime | None
    reason: str  # "temporary", "permanent" or "attempts exhausted"


def after_failure(
    error: DeliveryError,
    *,
    attempts: int,
    max_attempts: int,
    now: datetime,
    base: float,
    cap: float,
    jitter: float = 0.0,
) -> AfterFailure:
    """Retry a temporary failure while attempts remain; otherwise give up."""
    if isinstance(error, PermanentFailure):
        return AfterFailure(False, None, "permanent")
    if attempts >= max_attempts:
        return AfterFailure(False, None, "attempts exhausted")
    wait = backoff(attempts, base=base, cap=cap, jitter=jitter)
    return AfterFailure(True, now + wait, "temporary")
