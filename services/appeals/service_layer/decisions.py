"""Apply the router's decisions: dispatch, triage or transfer an appeal.

A decision applies only to the routing request it answers (``based_on_event_id`` equals the
appeal's ``awaiting_decision_for``): a redelivered or stale decision changes nothing, which
makes the consumer idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from services.appeals.adapters.store import AppealStore, VersionConflict
from shared.city import City
from shared.events import (
    SYSTEM_ROUTER,
    AppealDispatched,
    AppealTransferred,
    AppealTriaged,
    EventEnvelope,
    RoutingDecision,
    new_event,
)

__all__ = ["DeadlineRule", "apply_decision"]

log = logging.getLogger(__name__)

# (urgency, start) -> {"sign_by": ..., "respond_by": ..., "resolve_by": ...}
DeadlineRule = Callable[[str, datetime], dict[str, datetime]]


async def apply_decision(
    decision: RoutingDecision,
    *,
    store: AppealStore,
    city: City,
    deadlines: DeadlineRule,
) -> bool:
    """Record the decision's outcome on the appeal; False when it no longer applies."""
    for _ in range(10):
        doc = await store.get(decision.appeal_id)
        if doc is None:
            log.warning(
                "decision %s for unknown appeal",
                decision.decision_id,
                extra={"appeal_id": decision.appeal_id},
            )
            return False
        if doc.get("awaiting_decision_for") != decision.based_on_event_id:
            return False
        changes, event = _outcome(doc, decision, city=city, deadlines=deadlines)
        try:
            await store.append(doc["_id"], doc["version"], changes, [event])
        except VersionConflict:
            continue
        return True
    raise VersionConflict(decision.appeal_id)


def _outcome(
    doc: dict[str, Any], decision: RoutingDecision, *, city: City, deadlines: DeadlineRule
) -> tuple[dict[str, Any], EventEnvelope]:
    now = datetime.now(UTC)
    place = {
        "street": decision.street,
        "community": decision.community,
        "district": decision.district,
    }
    common: dict[str, Any] = {
        **place,
        "awaiting_decision_for": None,
        "matter": decision.matter,
        "urgency": decision.urgency,
        "routing": decision.model_dump(mode="python"),
    }
    envelope = {
        "appeal_id": doc["_id"],
        "actor": SYSTEM_ROUTER,
        "street": decision.street,
        "community": decision.community,
        "occurred_at": now,
    }
    if decision.transfer is not None:
        event = new_event(
            "appeal.transferred",
            **envelope,
            data=AppealTransferred(
                to=decision.transfer,
                matter=decision.matter,
                reasons=decision.reasons,
                decision_id=decision.decision_id,
            ),
        )
        return {**common, "state": "transferred", "unit": None, "closed_at": now}, event
    if decision.triage or decision.unit is None:
        center = decision.dispatch_center or _dispatch_center(city, decision)
        event = new_event(
            "appeal.triaged",
            **envelope,
            unit=center,
            data=AppealTriaged(
                dispatch_center=center,
                reasons=decision.reasons,
                candidates=decision.candidates,
                confidence=decision.confidence,
                decision_id=decision.decision_id,
            ),
        )
        return {**common, "state": "triage", "unit": center}, event
    due = deadlines(decision.urgency, now)
    event = new_event(
        "appeal.dispatched",
        **envelope,
        unit=decision.unit,
        data=AppealDispatched(
            matter=decision.matter,
            urgency=decision.urgency,
            lead_unit=decision.unit,
            co_handlers=decision.co_handlers,
            by="router",
            confidence=decision.confidence,
            reasons=decision.reasons,
            deadlines=due,
            decision_id=decision.decision_id,
        ),
    )
    changes = {
        **common,
        "state": "dispatched",
        "unit": decision.unit,
        "co_handlers": decision.co_handlers,
        "dispatched_at": now,
        "deadlines": due,
    }
    return changes, event


def _dispatch_center(city: City, decision: RoutingDecision) -> str:
    if decision.district and decision.district in city.districts:
        return city.districts[decision.district].dispatch_center
    # Unplaced appeals go to the first district's centre: the city's default triage desk.
    return city.jurisdiction.districts[0].dispatch_center
