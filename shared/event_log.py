"""One appeal's history read back from the appeals service's ``event_log`` in MongoDB.

The appeals service is the system of record: every event it publishes is first stored with
the appeal, then copied into ``event_log`` (``_id`` = event id) once the broker has it. A
stream worker whose own state lost an appeal (a changelog record the broker dropped in a crash:
docs/faults.md, finding 9) reads the appeal's earlier events from here and folds them again,
instead of parking the appeal's next event as "never received". ``appeals metrics rebuild``
reads the same collection.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pymongo import ASCENDING

from shared.events import EventEnvelope, InvalidEvent, decode_event

__all__ = ["history_before", "history_before_waiting"]

log = logging.getLogger(__name__)

# More events than any real appeal has; a bound so a corrupt log cannot flood a worker.
MAX_HISTORY = 2000


async def history_before(db: Any, event: EventEnvelope) -> list[EventEnvelope]:
    """The logged events of ``event``'s appeal that precede it, oldest first.

    ``db`` is an async pymongo database. Events that occurred after ``event`` (or are
    ``event`` itself) are left out: they will arrive on the topic in their turn. An entry that
    is not a valid event is skipped (the log was validated when written; a newer schema this
    worker does not know cannot be folded anyway).
    """
    cursor = db["event_log"].find(
        {"appeal_id": event.appeal_id, "occurred_at": {"$lte": event.occurred_at}},
        sort=[("appeal_id", ASCENDING), ("occurred_at", ASCENDING)],
        limit=MAX_HISTORY,
    )
    history: list[EventEnvelope] = []
    async for doc in cursor:
        doc.pop("_id", None)
        try:
            past = decode_event(doc)
        except InvalidEvent:
            continue
        if past.event_id != event.event_id:
            history.append(past)
    return history


async def history_before_waiting(
    db: Any, event: EventEnvelope, *, max_backoff: float = 10.0
) -> list[EventEnvelope]:
    """``history_before``, retried with capped backoff until the database answers.

    A stream worker calls this inside its agent: while the database is away it waits (its lag
    shows it) rather than park an event that only needs reading.
    """
    backoff = 0.5
    while True:
        try:
            return await history_before(db, event)
        except Exception:
            log.exception("cannot read the event log; retrying in %.1f s", backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff)
