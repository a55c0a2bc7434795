"""Duplicate handling: flag suspected duplicates after routing, merge them when staff confirm.

- ``flag_if_duplicate`` runs right after a routing decision was applied (the post-decision
  hook in ``bootstrap``): only then is the matter known and the place settled. It links the
  appeal to the open appeal it likely repeats by setting ``suspected_duplicate_of`` (and
  ``duplicate_suspicion``: distance, when) on the document — a hint for the queues, not a
  lifecycle event: nothing happened to the appeal yet. Running it twice sets the same link.
- ``merge_into_master`` is the staff confirmation (``POST /api/v1/appeals/{id}/merge``): it
  checks the master (exists, visible to the caller, open, not merged itself) before
  ``lifecycle.Merge`` records ``appeal.merged``. From then on the merged appeal follows its
  master: the resident's status page shows the master's progress, and notify tells the merged
  appeal's resident when the master is resolved (notify keeps its own merged-into book from
  ``appeal.merged`` and plans ``resident_master_resolved`` on the master's
  ``appeal.resolved``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from services.appeals.adapters.documents import appeal_from_doc
from services.appeals.adapters.queue_store import QueueStore
from services.appeals.adapters.store import AppealStore
from services.appeals.domain.access import can_read
from services.appeals.domain.duplicates import DuplicatePolicy, Match, find_master
from services.appeals.domain.lifecycle import CommandRefused, Merge, Staff, decide
from services.appeals.domain.sla import WorkCalendar
from services.appeals.service_layer.commands import AppealNotFound, CommandResult, execute
from shared.city import City

__all__ = ["MasterNotFound", "flag_if_duplicate", "merge_into_master"]

log = logging.getLogger(__name__)

# States an appeal is in right after routing: dispatched to a unit or waiting in triage.
_ROUTED = ("dispatched", "triage")


class MasterNotFound(LookupError):
    """The master appeal does not exist or is outside the caller's scope (HTTP 404)."""


async def flag_if_duplicate(
    appeal_id: str,
    *,
    store: AppealStore,
    queues: QueueStore,
    city: City,
    policy: DuplicatePolicy,
) -> Match | None:
    """Link a freshly routed appeal to the open appeal it likely repeats; the match or None."""
    doc = await store.get(appeal_id)
    if doc is None or doc.get("state") not in _ROUTED:
        return None
    # In triage the appeal has no matter of its own yet; the router's best guess stands in.
    matter = doc.get("matter") or (doc.get("routing") or {}).get("matter") or doc.get("matter_hint")
    if not matter:
        return None
    received: datetime = doc["received_at"]
    candidates = await queues.recent_of_matter(
        matter, received - policy.window, received, exclude=appeal_id
    )
    match = find_master(doc, candidates, city, policy)
    if match is None:
        return None
    await store.appeals.update_one(
        {"_id": appeal_id},
        {
            "$set": {
                "suspected_duplicate_of": match.master_id,
                "duplicate_suspicion": {
                    "master_id": match.master_id,
                    "distance_m": round(match.distance_m, 1),
                    "matter": matter,
                    "found_at": datetime.now(UTC),
                },
            }
        },
    )
    log.info(
        "suspected duplicate of %s (%.0f m)",
        match.master_id,
        match.distance_m,
        extra={"appeal_id": appeal_id},
    )
    return match


async def merge_into_master(
    appeal_id: str,
    master_id: str,
    actor: Staff,
    *,
    store: AppealStore,
    city: City,
    calendar: WorkCalendar,
    expected_version: int | None = None,
) -> CommandResult:
    """Merge ``appeal_id`` into ``master_id`` after checking the master.

    Raises AppealNotFound (the appeal), MasterNotFound (the master, or out of scope),
    CommandRefused (409: the master is closed or merged itself; the lifecycle's own refusals).
    """
    doc = await store.get(appeal_id)
    if doc is None:
        raise AppealNotFound(appeal_id)
    command = Merge(master_id=master_id)
    # The lifecycle's verdict on the duplicate comes first (role, state, scope), so the caller
    # learns what is wrong with the command before anything about the master is disclosed.
    decide(appeal_from_doc(doc), command, actor, datetime.now(UTC), city=city, calendar=calendar)
    master = await store.get(master_id)
    if master is None or not can_read(actor, master):
        raise MasterNotFound(master_id)
    if master.get("state") == "merged":
        raise CommandRefused(
            409,
            f"appeal {master_id} is itself merged into {master.get('master_id')}; "
            "merge into that one",
        )
    if not master.get("is_open", False):
        raise CommandRefused(
            409, f"appeal {master_id} is {master.get('state')}; merge needs an open master"
        )
    return await execute(
        appeal_id,
        command,
        actor,
        store=store,
        city=city,
        calendar=calendar,
        expected_version=expected_version,
    )
