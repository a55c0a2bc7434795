"""Run a lifecycle command against a stored appeal: read, decide, evolve, write.

``decide`` (pure) says which events the command produces or refuses it; ``evolve`` applies
them; the store writes state and events in one conditional update. If someone else changed
the appeal in between, the write matches nothing: with ``expected_version`` (the version the
caller saw) that is a 409 for the caller; without it (system commands) we read again and retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.appeals.adapters.documents import appeal_fields, appeal_from_doc
from services.appeals.adapters.store import AppealStore, VersionConflict
from services.appeals.domain.appeal import Appeal, evolve
from services.appeals.domain.lifecycle import Command, CommandRefused, Staff, decide
from services.appeals.domain.sla import WorkCalendar
from shared.city import City
from shared.events import EventEnvelope

__all__ = ["AppealNotFound", "CommandResult", "StaleVersion", "execute"]


class AppealNotFound(LookupError):
    """No appeal has this id."""


class StaleVersion(Exception):
    """The caller acted on an older version of the appeal (HTTP 409)."""

    def __init__(self, appeal_id: str, expected: int, current: int) -> None:
        super().__init__(
            f"appeal {appeal_id} changed: you saw version {expected}, it is now {current}; "
            "reload and try again"
        )
        self.current = current


@dataclass(frozen=True)
class CommandResult:
    """The appeal after the command and the events it recorded."""

    appeal: Appeal
    events: list[EventEnvelope]


async def execute(
    appeal_id: str,
    command: Command,
    actor: Staff,
    *,
    store: AppealStore,
    city: City,
    calendar: WorkCalendar,
    expected_version: int | None = None,
    now: datetime | None = None,
    extra_changes: dict[str, Any] | None = None,
    doc: dict[str, Any] | None = None,
) -> CommandResult:
    """Apply ``command`` by ``actor``; raise CommandRefused, StaleVersion or AppealNotFound.

    ``extra_changes`` are written with the state (fields outside the aggregate); ``doc`` is the
    document if the caller has just read it (saves a round trip; re-read after a conflict).
    """
    for _ in range(20):
        if doc is None:
            doc = await store.get(appeal_id)
        if doc is None:
            raise AppealNotFound(appeal_id)
        appeal = appeal_from_doc(doc)
        # decide() first: it refuses callers outside the appeal's scope, who must not learn
        # its version either.
        events = decide(
            appeal, command, actor, now or datetime.now(UTC), city=city, calendar=calendar
        )
        if expected_version is not None and appeal.version != expected_version:
            raise StaleVersion(appeal_id, expected_version, appeal.version)
        if not events:
            return CommandResult(appeal, [])
        after = appeal
        for event in events:
            after = evolve(after, event)
        try:
            await store.append(
                appeal_id,
                appeal.version,
                after.version,
                {**appeal_fields(after, city), **(extra_changes or {})},
                events,
            )
        except VersionConflict:
            doc = None
            if expected_version is not None:
                current = await store.get(appeal_id)
                raise StaleVersion(
                    appeal_id, expected_version, int(current["version"]) if current else -1
                ) from None
            continue
        return CommandResult(after, events)
    raise CommandRefused(409, f"appeal {appeal_id} is changing too fast; try again")
