"""A correction to aiokafka's group protocol, installed when ``shared.kafka`` is imported.

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
"""

from __future__ import annotations

import functools
import logging

from aiokafka import errors
from aiokafka.consumer.group_coordinator import GroupCoordinator

__all__ = ["install", "uninstall"]

log = logging.getLogger(__name__)

_ORIGINAL_PUSH_ERROR_TO_USER = GroupCoordinator._push_error_to_user


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
        log.warning("group %s: %r; joining the group again", self.group_id, exc)
        self.request_rejoin()

    GroupCoordinator._push_error_to_user = push_error_to_user


def uninstall() -> None:
    """aiokafka as released (for the test that shows what the correction is for)."""
    GroupCoordinator._push_error_to_user = _ORIGINAL_PUSH_ERROR_TO_USER
