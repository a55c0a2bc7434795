"""What the metrics service knows about one appeal, folded from its lifecycle events.

``AppealFacts`` is the per-appeal state every figure is computed from: where the appeal is and
who holds it, the timestamps of its milestones, its deadlines, its returns, reopenings, overdue
events and its latest review. ``fold(facts, event)`` applies one event and is idempotent on
``event_id`` (delivery is at least once, and a rebuild replays the whole MongoDB event log), so
the live faust table and ``appeals metrics rebuild`` reach the same facts.

Attribution, in one place so every figure agrees:

- an *assignment* (派单) is one dispatch of the appeal to a unit. Dispatch volume, returns (退单)
  and overdue events belong to the assignment that was current when they happened, so a unit
  that returns an appeal is charged with the return and not with what the next unit does;
- sign (签收), first response and their deadlines belong to the current assignment: a
  re-dispatch after a return starts them afresh;
- resolution, review, reopening and closure belong to the appeal and are attributed to the
  appeal's current place and unit.

The street, community and unit come from the event envelope (the appeals service stamps its
current view on every event) and the lead unit of ``appeal.dispatched``; the envelope carries no
district, so ``fold`` looks it up in a street/unit -> district mapping (``districts_of``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from shared.city import City
from shared.events import (
    AppealDispatched,
    AppealExtended,
    AppealOverdue,
    AppealReceived,
    AppealResolved,
    AppealReviewed,
    EventEnvelope,
)

__all__ = [
    "NONE",
    "OPEN_STATES",
    "AppealFacts",
    "Assignment",
    "Deadline",
    "Overdue",
    "Place",
    "districts_of",
    "fold",
]

Deadline = Literal["sign", "respond", "resolve"]
Satisfaction = Literal["satisfied", "basically_satisfied", "unsatisfied"]

# The label value for a place or unit not known yet (an appeal still waiting for placement).
NONE = "none"

# The state an event leads to; overdue and supervised are notes on any state, not states.
_STATE_AFTER: dict[str, str] = {
    "appeal.received": "received",
    "appeal.triaged": "triage",
    "appeal.dispatched": "dispatched",
    "appeal.signed": "signed",
    "appeal.responded": "responded",
    "appeal.returned": "returned",
    "appeal.extension_requested": "extension_requested",
    "appeal.extended": "extended",
    "appeal.resolved": "resolved",
    "appeal.reviewed": "reviewed",
    "appeal.reopened": "reopened",
    "appeal.closed": "closed",
    "appeal.merged": "merged",
    "appeal.transferred": "transferred",
}
_TERMINAL_STATES = frozenset({"closed", "merged", "transferred"})
# Every state an appeal can wait in: the backlog (积压) is counted over these.
OPEN_STATES: tuple[str, ...] = tuple(
    s for s in dict.fromkeys(_STATE_AFTER.values()) if s not in _TERMINAL_STATES
)
_DEADLINE_KEYS: dict[str, Deadline] = {
    "sign_by": "sign",
    "respond_by": "respond",
    "resolve_by": "resolve",
}


@dataclass(frozen=True)
class Place:
    """Where an appeal (or one assignment of it) is counted: district, street, community, unit."""

    district: str = NONE
    street: str = NONE
    community: str = NONE
    unit: str = NONE


@dataclass(frozen=True)
class Overdue:
    """One ``appeal.overdue`` event: which deadline was missed and when it fell due."""

    deadline: Deadline
    due_at: datetime


@dataclass(frozen=True)
class Assignment:
    """One dispatch (派单) of the appeal to a unit, and what that unit did with it."""

    place: Place
    dispatched_at: datetime
    returned_at: datetime | None = None
    overdue: tuple[Overdue, ...] = ()


@dataclass(frozen=True)
class AppealFacts:
    """Everything the figures need about one appeal; immutable, replaced by ``fold``.

    ``signed_at``/``responded_at`` and the sign/respond deadlines belong to the current
    assignment; ``resolved_at`` is the first resolution (办结) and is kept across reopenings;
    ``closed_at`` is the closure (结案) and is cleared by a reopening. ``satisfaction`` and
    ``solved`` come from the latest review (回访); "closed" and "solved" are different things.
    """

    appeal_id: str
    place: Place = Place()
    state: str = "received"
    channel: str = NONE
    received_at: datetime | None = None
    dispatched_at: datetime | None = None
    signed_at: datetime | None = None
    responded_at: datetime | None = None
    resolved_at: datetime | None = None
    reviewed_at: datetime | None = None
    closed_at: datetime | None = None
    sign_by: datetime | None = None
    respond_by: datetime | None = None
    resolve_by: datetime | None = None
    assignments: tuple[Assignment, ...] = ()
    returned_count: int = 0
    reopened_count: int = 0
    satisfaction: Satisfaction | None = None
    solved: bool | None = None
    seen: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def is_open(self) -> bool:
        """Still waiting for someone: not closed, merged or transferred."""
        return self.state not in _TERMINAL_STATES

    @property
    def current(self) -> Assignment | None:
        """The assignment that holds the appeal now, if it was ever dispatched."""
        return self.assignments[-1] if self.assignments else None

    @property
    def overdue(self) -> frozenset[Deadline]:
        """The deadlines the current assignment has missed (one flag per deadline kind)."""
        current = self.current
        return frozenset(o.deadline for o in current.overdue) if current else frozenset()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, for a faust table or a MongoDB document."""
        return _encode(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> AppealFacts:
        """The inverse of ``to_dict``."""
        return _decode_facts(raw)


def districts_of(city: City) -> dict[str, str]:
    """Map every street and unit code of the city to its district code (for ``fold``)."""
    mapping = {code: district.code for code, (district, _street) in city.streets.items()}
    mapping.update({code: district.code for code, (district, _s, _u) in city.units.items()})
    return mapping


def fold(
    facts: AppealFacts | None,
    event: EventEnvelope,
    districts: Mapping[str, str] | None = None,
) -> AppealFacts:
    """Apply one event to an appeal's facts; an event already applied returns ``facts`` as is.

    ``districts`` maps street and unit codes to district codes (see ``districts_of``); without
    it the district stays ``"none"``.
    """
    if facts is None:
        facts = AppealFacts(appeal_id=event.appeal_id)
    elif facts.appeal_id != event.appeal_id:
        raise ValueError(f"event {event.event_id} is for {event.appeal_id}, not {facts.appeal_id}")
    if event.event_id in facts.seen:
        return facts
    at = event.occurred_at
    place = _place(facts.place, event, districts or {})
    changes: dict[str, Any] = {"seen": facts.seen | {event.event_id}, "place": place}
    if event.type in _STATE_AFTER:
        changes["state"] = _STATE_AFTER[event.type]
    payload = event.payload()

    if isinstance(payload, AppealReceived):
        changes.update(received_at=facts.received_at or at, channel=payload.channel)
    elif isinstance(payload, AppealDispatched):
        deadlines = _deadlines(payload.deadlines)
        changes.update(
            dispatched_at=at,
            signed_at=None,
            responded_at=None,
            sign_by=deadlines.get("sign"),
            respond_by=deadlines.get("respond"),
            resolve_by=deadlines.get("resolve", facts.resolve_by),
            assignments=(*facts.assignments, Assignment(place=place, dispatched_at=at)),
        )
    elif event.type == "appeal.signed":
        changes["signed_at"] = facts.signed_at or at
    elif event.type == "appeal.responded":
        changes["responded_at"] = facts.responded_at or at
    elif event.type == "appeal.returned":
        changes["returned_count"] = facts.returned_count + 1
        changes["assignments"] = _update_current(facts, returned_at=at)
    elif isinstance(payload, AppealExtended):
        deadlines = _deadlines(payload.deadlines)
        changes.update(
            sign_by=deadlines.get("sign", facts.sign_by),
            respond_by=deadlines.get("respond", facts.respond_by),
            resolve_by=deadlines.get("resolve", facts.resolve_by),
        )
    elif isinstance(payload, AppealResolved):
        changes["resolved_at"] = facts.resolved_at or at
    elif isinstance(payload, AppealReviewed):
        changes.update(reviewed_at=at, satisfaction=payload.satisfaction, solved=payload.solved)
    elif event.type == "appeal.reopened":
        changes.update(reopened_count=facts.reopened_count + 1, closed_at=None)
    elif event.type == "appeal.closed":
        changes["closed_at"] = at
    elif isinstance(payload, AppealOverdue):
        current = facts.current
        if current is not None:
            missed = Overdue(deadline=payload.deadline, due_at=payload.due_at)
            changes["assignments"] = _update_current(facts, overdue=(*current.overdue, missed))
    return replace(facts, **changes)


def _place(before: Place, event: EventEnvelope, districts: Mapping[str, str]) -> Place:
    unit = event.unit
    if event.type == "appeal.dispatched":
        unit = str(event.data.get("lead_unit") or unit or before.unit)
    street = event.street or before.street
    unit = unit or before.unit
    district = districts.get(street) or districts.get(unit) or before.district
    return Place(
        district=district,
        street=street,
        community=event.community or before.community,
        unit=unit,
    )


def _deadlines(raw: Mapping[str, datetime]) -> dict[Deadline, datetime]:
    return {_DEADLINE_KEYS[k]: v for k, v in raw.items() if k in _DEADLINE_KEYS}


def _update_current(facts: AppealFacts, **changes: Any) -> tuple[Assignment, ...]:
    if not facts.assignments:
        return facts.assignments
    return (*facts.assignments[:-1], replace(facts.assignments[-1], **changes))


# ------------------------------------------------------------------------ serialisation

_TIMES = (
    "received_at",
    "dispatched_at",
    "signed_at",
    "responded_at",
    "resolved_at",
    "reviewed_at",
    "closed_at",
    "sign_by",
    "respond_by",
    "resolve_by",
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def _encode(facts: AppealFacts) -> dict[str, Any]:
    return {
        "appeal_id": facts.appeal_id,
        "place": vars(facts.place).copy(),
        "state": facts.state,
        "channel": facts.channel,
        **{name: _iso(getattr(facts, name)) for name in _TIMES},
        "assignments": [
            {
                "place": vars(a.place).copy(),
                "dispatched_at": a.dispatched_at.isoformat(),
                "returned_at": _iso(a.returned_at),
                "overdue": [
                    {"deadline": o.deadline, "due_at": o.due_at.isoformat()} for o in a.overdue
                ],
            }
            for a in facts.assignments
        ],
        "returned_count": facts.returned_count,
        "reopened_count": facts.reopened_count,
        "satisfaction": facts.satisfaction,
        "solved": facts.solved,
        "seen": sorted(facts.seen),
    }


def _decode_facts(raw: Mapping[str, Any]) -> AppealFacts:
    assignments = tuple(
        Assignment(
            place=Place(**a["place"]),
            dispatched_at=datetime.fromisoformat(a["dispatched_at"]),
            returned_at=_time(a["returned_at"]),
            overdue=tuple(
                Overdue(deadline=o["deadline"], due_at=datetime.fromisoformat(o["due_at"]))
                for o in a["overdue"]
            ),
        )
        for a in raw["assignments"]
    )
    return AppealFacts(
        appeal_id=raw["appeal_id"],
        place=Place(**raw["place"]),
        state=raw["state"],
        channel=raw["channel"],
        **{name: _time(raw[name]) for name in _TIMES},
        assignments=assignments,
        returned_count=raw["returned_count"],
        reopened_count=raw["reopened_count"],
        satisfaction=raw["satisfaction"],
        solved=raw["solved"],
        seen=frozenset(raw["seen"]),
    )
