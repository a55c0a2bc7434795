"""Apply the router's decisions to appeals.

- A new appeal (state ``received``) is dispatched, triaged or transferred as decided, through
  the lifecycle like any other command (the router is a system actor).
- A returned appeal is not re-dispatched by the router: under the street's comprehensive
  management authority (综合管理权) its coordinator decides. The router's new proposal —
  computed without the unit that returned it — is stored on the appeal as a suggestion for the
  coordinator's queue.
- Anything else (a redelivered decision, an appeal that moved on) changes nothing, which makes
  the consumer idempotent.
"""

from __future__ import annotations

import logging

from services.appeals.adapters.store import AppealStore
from services.appeals.domain.lifecycle import ApplyRoutingDecision, CommandRefused, Staff
from services.appeals.domain.sla import WorkCalendar
from services.appeals.service_layer.commands import AppealNotFound, execute
from shared.city import City
from shared.events import RoutingDecision

__all__ = ["ROUTER", "apply_decision"]

log = logging.getLogger(__name__)

ROUTER = Staff(id="routing", role="system")


async def apply_decision(
    decision: RoutingDecision, *, store: AppealStore, city: City, calendar: WorkCalendar
) -> bool:
    """Record the decision's outcome; False when it no longer applies.

    Raises AppealNotFound (a LookupError) for a decision about an appeal that does not exist.
    """
    doc = await store.get(decision.appeal_id)
    if doc is None:
        # Not ours to drop silently: the consumer parks it on the dead-letter topic.
        raise AppealNotFound(decision.appeal_id)
    if doc.get("state") == "returned":
        await store.appeals.update_one(
            {"_id": decision.appeal_id},
            {"$set": {"routing_suggestion": decision.model_dump(mode="python")}},
        )
        return True
    if doc.get("state") != "received":
        return False
    try:
        result = await execute(
            decision.appeal_id,
            ApplyRoutingDecision(decision),
            ROUTER,
            store=store,
            city=city,
            calendar=calendar,
            doc=doc,
            extra_changes={"routing": decision.model_dump(mode="python")},
        )
    except (CommandRefused, AppealNotFound) as exc:
        log.warning(
            "routing decision not applied: %s",
            exc,
            extra={"appeal_id": decision.appeal_id, "decision_id": decision.decision_id},
        )
        return False
    return bool(result.events)
