"""How an ``Appeal`` is laid out in its MongoDB document, and read back.

The document holds the aggregate's fields at the top level (so work-queue queries can filter
and sort on them with indexes), plus what only the appeals service keeps: the resident's contact
(personal data, stored once), the token hash, the idempotency key, the events (audit trail)
and the outbox. ``holder`` names whoever must act next — the lead unit, the street coordinator
for a returned appeal, or the district dispatch centre in triage — so every work queue is one
indexed equality filter.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.appeals.domain.appeal import Appeal
from shared.city import City

__all__ = ["APPEAL_FIELDS", "appeal_fields", "appeal_from_doc", "holder_of"]

APPEAL_FIELDS = tuple(Appeal.model_fields)


def holder_of(appeal: Appeal, city: City) -> str | None:
    """The unit whose queue the appeal is in now."""
    if appeal.state == "triage":
        return appeal.dispatch_center
    if appeal.state == "returned" and appeal.street in city.streets:
        coordinator = city.streets[appeal.street][1].coordinator
        return coordinator.code if coordinator else appeal.dispatch_center
    if appeal.state in ("received", "transferred", "merged"):
        return None
    return appeal.lead_unit


def appeal_fields(appeal: Appeal, city: City) -> dict[str, Any]:
    """The document fields that represent ``appeal`` (BSON-ready)."""
    fields = appeal.model_dump(mode="python")
    fields.pop("id")
    # BSON has no timedelta or set: seconds and sorted lists read back through pydantic.
    fields["paused_total"] = appeal.paused_total.total_seconds()
    fields["overdue_flags"] = sorted(appeal.overdue_flags)
    fields["holder"] = holder_of(appeal, city)
    fields["unit"] = appeal.lead_unit
    # Multikey: a unit's scope (lead or co-handler) is one indexed equality on this field.
    fields["handlers"] = [u for u in (appeal.lead_unit, *appeal.co_handlers) if u]
    fields["is_open"] = appeal.is_open
    return fields


def appeal_from_doc(doc: dict[str, Any]) -> Appeal:
    """The aggregate stored in ``doc``."""
    values = {name: doc[name] for name in APPEAL_FIELDS if name in doc and name != "id"}
    if isinstance(values.get("paused_total"), int | float):
        values["paused_total"] = timedelta(seconds=values["paused_total"])
    return Appeal.model_validate({**values, "id": doc["_id"]})
