"""Work queues (工作台): which appeals each desk sees, as index-friendly MongoDB queries.

Pure: builds query plans and list items from stored appeal documents; the adapter
(``adapters/queue_store.py``) runs them. Three desks:

- **a unit** (``UNIT_QUEUES``): ``new`` (dispatched, to sign), ``in_progress`` (signed or
  responded, clock running), ``waiting`` (paused for the resident, or an extension request
  pending), ``due_soon`` (the current stage's deadline falls within the next
  ``due_soon_minutes``), ``overdue`` (the current stage's deadline has passed) and
  ``co_handling`` (open appeals the unit assists on, led by another unit);
- **a street's coordinator** (``STREET_SECTIONS``, 综合管理权): ``open`` (every open appeal of
  the street), ``returns`` (returned appeals to re-dispatch, with the router's
  ``routing_suggestion``), ``extensions`` (extension requests to approve), ``comprehensive``
  (appeals the street's city_ops unit leads, with its co-handlers' progress), ``due_soon`` and
  ``overdue`` street-wide;
- **a district dispatch centre** (``DISTRICT_SECTIONS``): ``triage`` (manual dispatch, with
  the router's candidates and reasons) and ``extensions`` (requests the street cannot decide:
  its own coordinator leads the appeal).

Designed around SecantusDB's slow paths (shared/INFRA.md): every query is equality on an
indexed field pair (``holder``/``street``/``district``/``co_handlers`` + ``state``) plus at
most a range on one deadline, never a top-level ``$or``/``$and``. A queue that spans several
states is several queries, one per state, merged by the caller; each query has one state, so
its "current stage deadline" is one field (``STAGE_DEADLINE``) and the overdue/due-soon tests
are plain ranges. The sorted set stays small because each query is one desk's one state.

Personal data is masked in lists (phone 138****0000, name 张*); the full contact is only on
the single-appeal view.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from shared.city import City

from .access import can_read, read_scope, visible_filter
from .lifecycle import Staff

__all__ = [
    "DISTRICT_SECTIONS",
    "MAX_PAGE",
    "MAX_PAGE_SIZE",
    "SORTS",
    "STAGE_DEADLINE",
    "STREET_SECTIONS",
    "UNIT_QUEUES",
    "DistrictSection",
    "QueueForbidden",
    "QueuePlan",
    "QueueQuery",
    "Sort",
    "StreetSection",
    "UnitQueue",
    "district_plan",
    "mask_email",
    "mask_name",
    "mask_phone",
    "mask_text",
    "queue_item",
    "readable",
    "sort_key",
    "street_plan",
    "unit_plan",
]

UnitQueue = Literal["new", "in_progress", "waiting", "due_soon", "overdue", "co_handling"]
StreetSection = Literal["open", "returns", "extensions", "comprehensive", "due_soon", "overdue"]
DistrictSection = Literal["triage", "extensions"]
UNIT_QUEUES: tuple[UnitQueue, ...] = get_args(UnitQueue)
STREET_SECTIONS: tuple[StreetSection, ...] = get_args(StreetSection)
DISTRICT_SECTIONS: tuple[DistrictSection, ...] = get_args(DistrictSection)

# "due": each appeal's current stage deadline (sign for new work, respond once signed, resolve
# once responded); the others sort every appeal by the same field.
Sort = Literal["due", "sign_by", "respond_by", "resolve_by", "received_at"]
SORTS: tuple[Sort, ...] = get_args(Sort)

MAX_PAGE_SIZE = 100
# Page n costs n * size documents per query (the merge needs every query's first n pages);
# beyond this a desk should filter, not page.
MAX_PAGE = 100

# The deadline an appeal in this state must meet next; earlier ones are met by the state itself
# (a signed appeal has met sign_by or been flagged overdue for it).
STAGE_DEADLINE: Mapping[str, str] = {
    "dispatched": "deadlines.sign_by",
    "signed": "deadlines.respond_by",
    "responded": "deadlines.resolve_by",
}
_CLOCKED = tuple(STAGE_DEADLINE)  # states whose clock runs
_WORKING = ("signed", "responded")
_OPEN = ("triage", "dispatched", "signed", "responded", "returned", "resolved", "reviewed")


class QueueForbidden(Exception):
    """The desk asked for is outside the caller's read scope (HTTP 403)."""


@dataclass(frozen=True)
class QueueQuery:
    """One find: an equality(+range) filter served by an index, and its "due" sort field."""

    filter: dict[str, Any]
    due_field: str


@dataclass(frozen=True)
class QueuePlan:
    """A queue as disjoint queries whose results are merged by the sort key."""

    name: str
    queries: tuple[QueueQuery, ...]
    # Only for lists whose appeals carry no deadlines (triage, returns): "due" sorts by this.
    default_field: str = "received_at"

    def sort_field(self, query: QueueQuery, sort: Sort) -> str:
        """The document field ``query``'s results are sorted by for ``sort``."""
        if sort == "due":
            return query.due_field
        if sort == "received_at":
            return "received_at"
        return f"deadlines.{sort}"


def _stage_query(base: Mapping[str, Any], state: str, **extra: Any) -> QueueQuery:
    return QueueQuery({**base, "state": state, **extra}, STAGE_DEADLINE[state])


def _clock_queries(
    base: Mapping[str, Any], states: Sequence[str], window: dict[str, datetime]
) -> tuple[QueueQuery, ...]:
    # A paused clock is neither due soon nor late: its deadlines move when it resumes.
    return tuple(
        _stage_query(base, s, **{STAGE_DEADLINE[s]: window, "paused_since": None}) for s in states
    )


# ---------------------------------------------------------------------------- scope


def _unit_in_scope(staff: Staff, unit: str, city: City) -> bool:
    scope = read_scope(staff)
    found = city.units.get(unit)
    district_of_center = {d.dispatch_center: d.code for d in city.jurisdiction.districts}
    unit_district = found[0].code if found else district_of_center.get(unit)
    unit_street = found[1].code if found and found[1] else None
    if scope.level == "city":
        return found is not None or unit in district_of_center
    if scope.level == "district":
        return unit_district == scope.code
    if scope.level == "street":
        return unit_street is not None and unit_street == scope.code
    if scope.level == "unit":
        return unit == scope.code
    return False


def _narrow(staff: Staff, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with the caller's visible filter merged in, without a top-level ``$and``/``$or``.

    The unit-level visible filter is an ``$or`` (lead unit or co-handler); plans for unit staff
    pin ``unit``/``holder``/``co_handlers`` to the caller's own unit instead, and every row is
    checked with ``can_read`` after the query.
    """
    visible = visible_filter(staff)
    if "$or" in visible:
        return base
    for key, value in visible.items():
        if key in base and base[key] != value:
            raise QueueForbidden(f"{key} {base[key]} is outside your scope")
        base = {**base, key: value}
    return base


def unit_plan(
    queue: UnitQueue,
    unit: str,
    staff: Staff,
    city: City,
    *,
    now: datetime,
    due_soon_minutes: int,
) -> QueuePlan:
    """The plan of one unit's queue; QueueForbidden when the unit is outside the caller's scope."""
    if not _unit_in_scope(staff, unit, city):
        raise QueueForbidden(f"unit {unit}'s queues are outside your scope")
    holder = _narrow(staff, {"holder": unit})
    soon = now + timedelta(minutes=due_soon_minutes)
    if queue == "new":
        return QueuePlan(queue, (_stage_query(holder, "dispatched"),))
    if queue == "in_progress":
        running = {"paused_since": None, "extension_pending": None}
        return QueuePlan(queue, tuple(_stage_query(holder, s, **running) for s in _WORKING))
    if queue == "waiting":
        # Two disjoint halves: paused (whatever else), and running with an extension pending.
        paused = {"paused_since": {"$ne": None}}
        pending = {"paused_since": None, "extension_pending": {"$ne": None}}
        return QueuePlan(
            queue,
            tuple(_stage_query(holder, s, **paused) for s in _WORKING)
            + tuple(_stage_query(holder, s, **pending) for s in _WORKING),
        )
    if queue == "due_soon":
        return QueuePlan(queue, _clock_queries(holder, _CLOCKED, {"$gt": now, "$lte": soon}))
    if queue == "overdue":
        return QueuePlan(queue, _clock_queries(holder, _CLOCKED, {"$lte": now}))
    if queue == "co_handling":
        helper = _narrow(staff, {"co_handlers": unit})
        return QueuePlan(queue, tuple(_stage_query(helper, s) for s in _CLOCKED))
    raise ValueError(f"unknown unit queue {queue!r}")


def _street_in_scope(staff: Staff, street: str, city: City) -> bool:
    scope = read_scope(staff)
    found = city.streets.get(street)
    if found is None:
        return False
    if scope.level == "city":
        return True
    if scope.level == "district":
        return found[0].code == scope.code
    if scope.level == "street":
        return street == scope.code
    return False


def street_plan(
    section: StreetSection,
    street: str,
    staff: Staff,
    city: City,
    *,
    now: datetime,
    due_soon_minutes: int,
) -> QueuePlan:
    """The plan of one section of a street coordinator's view."""
    if not _street_in_scope(staff, street, city):
        raise QueueForbidden(f"street {street}'s view is outside your scope")
    base = _narrow(staff, {"street": street})
    coordinator = city.streets[street][1].coordinator
    ops = coordinator.code if coordinator else None
    if section == "open":
        return QueuePlan(
            section,
            tuple(
                _stage_query(base, s)
                if s in STAGE_DEADLINE
                else QueueQuery({**base, "state": s}, "received_at")
                for s in _OPEN
            ),
        )
    if section == "returns":
        return QueuePlan(section, (QueueQuery({**base, "state": "returned"}, "received_at"),))
    if section == "extensions":
        # The coordinator may not approve its own unit's request: the district decides those.
        pending: dict[str, Any] = {"extension_pending": {"$ne": None}}
        if ops is not None:
            pending["unit"] = {"$ne": ops}
        return QueuePlan(section, tuple(_stage_query(base, s, **pending) for s in _WORKING))
    if section == "comprehensive":
        if ops is None:
            return QueuePlan(section, ())
        led = {**base, "unit": ops}
        return QueuePlan(section, tuple(_stage_query(led, s) for s in _CLOCKED))
    if section == "due_soon":
        soon = now + timedelta(minutes=due_soon_minutes)
        return QueuePlan(section, _clock_queries(base, _CLOCKED, {"$gt": now, "$lte": soon}))
    if section == "overdue":
        return QueuePlan(section, _clock_queries(base, _CLOCKED, {"$lte": now}))
    raise ValueError(f"unknown street section {section!r}")


def district_plan(section: DistrictSection, district: str, staff: Staff, city: City) -> QueuePlan:
    """The plan of one section of a district dispatch centre's view."""
    scope = read_scope(staff)
    if district not in city.districts or not (
        scope.level == "city" or (scope.level == "district" and scope.code == district)
    ):
        raise QueueForbidden(f"district {district}'s dispatch queues are outside your scope")
    center = city.districts[district].dispatch_center
    if section == "triage":
        base = _narrow(staff, {"holder": center})
        return QueuePlan(section, (QueueQuery({**base, "state": "triage"}, "received_at"),))
    if section == "extensions":
        base = _narrow(staff, {"district": district})
        # Street coordinators decide their units' requests; the district decides the rest
        # (a request by a coordinator's own unit, or by a district department).
        coordinators = [
            s.coordinator.code
            for s in city.districts[district].streets
            if s.coordinator is not None
        ]
        departments = [d.code for d in city.districts[district].departments]
        pending = {"extension_pending": {"$ne": None}, "unit": {"$in": coordinators + departments}}
        return QueuePlan(section, tuple(_stage_query(base, s, **pending) for s in _WORKING))
    raise ValueError(f"unknown district section {section!r}")


def sort_key(doc: Mapping[str, Any], field: str) -> tuple[bool, Any, str]:
    """The merge key of a document for a dotted ``field`` (missing values sort last)."""
    value: Any = doc
    for part in field.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return (value is None, value, str(doc.get("_id")))


# ---------------------------------------------------------------------------- masking

_MOBILE = re.compile(r"(?<!\d)(1\d{2})\d{4}(\d{4})(?!\d)")


def mask_phone(phone: str | None) -> str | None:
    """138****0000: the first three and the last four digits stay, the rest is hidden."""
    if not phone:
        return phone
    digits = re.sub(r"\D", "", phone)
    if len(digits) >= 8:
        return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"
    return "*" * max(len(digits) - 2, 0) + digits[-2:]


def mask_name(name: str | None) -> str | None:
    """张*: the first character stays (enough to greet the resident on a callback)."""
    if not name:
        return name
    return name[0] + "*" * max(len(name) - 1, 1)


def mask_email(email: str | None) -> str | None:
    """a***@example.org."""
    if not email or "@" not in email:
        return email
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_text(text: str) -> str:
    """Mobile numbers a caller dictated into the text, masked like contacts."""
    return _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)


# ---------------------------------------------------------------------------- list items

_TEXT_IN_LISTS = 140


def _stage_due(doc: Mapping[str, Any]) -> datetime | None:
    field = STAGE_DEADLINE.get(str(doc.get("state")))
    deadlines = doc.get("deadlines") or {}
    return deadlines.get(field.split(".")[1]) if field else None


def _triage_view(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The router's candidates and reasons (or, after a second return, why it came back)."""
    if doc.get("state") != "triage":
        return None
    routing = doc.get("routing") or {}
    last = next(
        (
            e.get("data") or {}
            for e in reversed(doc.get("events") or [])
            if e.get("type") == "appeal.triaged"
        ),
        {},
    )
    return {
        "matter": routing.get("matter"),
        "confidence": last.get("confidence", routing.get("confidence")),
        "reasons": last.get("reasons") or routing.get("reasons") or [],
        "candidates": last.get("candidates") or routing.get("candidates") or [],
    }


def _suggestion_view(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    suggestion = doc.get("routing_suggestion")
    if doc.get("state") != "returned" or not suggestion:
        return None
    return {
        key: suggestion.get(key)
        for key in ("unit", "co_handlers", "matter", "confidence", "reasons", "candidates")
    }


def _co_handler_progress(doc: Mapping[str, Any], city: City) -> list[dict[str, Any]]:
    """Per co-handler: its notes on the appeal (how many, the latest) — its reported progress."""
    notes = doc.get("notes") or []
    progress = []
    for unit in doc.get("co_handlers") or []:
        own = [n for n in notes if n.get("unit") == unit]
        latest = own[-1] if own else None
        progress.append(
            {
                "unit": unit,
                "unit_name": city.unit_name(unit),
                "notes": len(own),
                "last_note_at": latest.get("at") if latest else None,
                "last_note": mask_text(str(latest.get("text"))) if latest else None,
            }
        )
    return progress


def queue_item(doc: Mapping[str, Any], city: City, now: datetime) -> dict[str, Any]:
    """One row of a work queue: what a desk needs to pick the next appeal, masked."""
    contact = doc.get("contact") or {}
    due = _stage_due(doc)
    pending = doc.get("extension_pending")
    text = mask_text(str(doc.get("text") or ""))
    return {
        "id": doc["_id"],
        "tracking_no": doc.get("tracking_no"),
        "version": doc.get("version"),
        "state": doc.get("state"),
        "channel": doc.get("channel"),
        "text": text if len(text) <= _TEXT_IN_LISTS else text[: _TEXT_IN_LISTS - 1] + "…",
        "address": doc.get("address"),
        "matter": doc.get("matter"),
        "urgency": doc.get("urgency"),
        "district": doc.get("district"),
        "street": doc.get("street"),
        "community": doc.get("community"),
        "unit": doc.get("unit"),
        "unit_name": city.unit_name(doc.get("unit")),
        "co_handlers": list(doc.get("co_handlers") or []),
        "holder": doc.get("holder"),
        "received_at": doc.get("received_at"),
        "deadlines": doc.get("deadlines"),
        "due_at": due,
        "overdue": due is not None and doc.get("paused_since") is None and due <= now,
        "overdue_flags": list(doc.get("overdue_flags") or []),
        "paused_since": doc.get("paused_since"),
        "pause_reason": doc.get("pause_reason"),
        "extension_pending": dict(pending) if pending else None,
        "supervision_pending": len(doc.get("supervision_pending") or []),
        "return_count": doc.get("return_count", 0),
        "reopen_count": doc.get("reopen_count", 0),
        "suspected_duplicate_of": doc.get("suspected_duplicate_of"),
        "contact": {
            "name": mask_name(contact.get("name")),
            "phone": mask_phone(contact.get("phone")),
            "email": mask_email(contact.get("email")),
        },
        "routing_suggestion": _suggestion_view(doc),
        "triage": _triage_view(doc),
        "co_handler_progress": _co_handler_progress(doc, city) if doc.get("co_handlers") else [],
    }


def readable(staff: Staff, docs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The documents ``staff`` may read (a second check behind the query's own scope)."""
    return [doc for doc in docs if can_read(staff, doc)]
