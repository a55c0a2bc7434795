"""A correction to aiokafka's group protocol for the faust workers (``shared.faust_transport``
installs it).

It showed when noida answered a SyncGroup with ``UnknownError`` (an error code aiokafka has no
rule for) while a group rebalanced; tests/conformance/test_faust_transport.py replays it
against the real broker.

**An unexpected answer in the group protocol is logged and the group joined again, not
handed to the consumer's user.** aiokafka hands every group error to the user (whatever waits
on the consumer raises it) and then waits until the user has taken it. For a faust worker
both go wrong:
- its fetcher crashed on the error and stopped the worker (a CI run lost its routing worker
  so), and its recovery can crash the same way;
- while its flow is stopped for a rebalance it takes nothing, so the coordinator waited for
  good and the worker sat in its group with no partitions.

An unexpected answer (a bare ``KafkaError``, which aiokafka raises for error codes it has no
rule for) is the broker's transient trouble, mended by joining the group again; nothing the
user could do about it. The rejoin is asked for explicitly: after a failed SyncGroup aiokafka
does not always rejoin by itself. Errors with a meaning of their own (authorization, an
invalid session timeout or group protocol) are handed over as before.

Answers that keep coming are paced: the rejoin waits 0.1 s, doubling to 5 s while they come
in a row. (Rejoining as a new member instead was tried: the broker then waits for the old one
to time out, a minute. Without the pacing, a CI run saw a
member rejoin some 900 times a second while noida kept answering ``UnknownError``.) The
appeals service's plain consumer is left as released: it takes the error and restarts its
consumer after a pause of its own (services/appeals/adapters/decisions_consumer.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time

from aiokafka import errors
from aiokafka.consumer.group_coordinator import GroupCoordinator

__all__ = ["install", "uninstall"]

log = logging.getLogger(__name__)

_ORIGINAL_PUSH_ERROR_TO_USER = GroupCoordinator._push_error_to_user


FIRST_BACKOFF_S = 0.1
MAX_BACKOFF_S = 5.0
IN_A_ROW_S = 60.0  # answers further apart than this start the count again


class Pacing:
    """How long to wait before rejoining after an unexpected answer (pure logic: the caller
    passes the clock)."""

    def __init__(self) -> None:
        self.in_a_row = 0
        self.last_at: float | None = None

    def next(self, now: float) -> float:
        if self.last_at is None or now - self.last_at > IN_A_ROW_S:
            self.in_a_row = 0
        self.in_a_row += 1
        self.last_at = now
        return float(min(FIRST_BACKOFF_S * 2 ** (self.in_a_row - 1), MAX_BACKOFF_S))


def is_unexpected_answer(exc: BaseException) -> bool:
    """Whether aiokafka raised ``exc`` for a broker answer it has no rule for."""
    return type(exc) is errors.KafkaError


def install() -> None:
    """Install the correction (idempotent)."""
    hand_over = _ORIGINAL_PUSH_ERROR_TO_USER

    @functools.wraps(hand_over)
    async def push_error_to_user(self: GroupCoordinator, exc: BaseException) -> None:
        if not is_unexpected_answer(exc):
            await hand_over(self, exc)
            return
        pacing = self.__dict__.setdefault("_unexpected_answer_pacing", Pacing())
        backoff = pacing.next(time.monotonic())
        log.warning("group %s: %r; joining the group again in %.1f s", self.group_id, exc, backoff)
        await asyncio.sleep(backoff)
        self.request_rejoin()

    GroupCoordinator._push_error_to_user = push_error_to_user


def uninstall() -> None:
    """aiokafka as released (for the test that shows what the correction is for)."""
    GroupCoordinator._push_error_to_user = _ORIGINAL_PUSH_ERROR_TO_USER
