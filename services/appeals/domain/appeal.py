"""The appeal aggregate (诉求) and ``evolve``, the one function that applies an event to it.

The appeals service stores an ``Appeal`` as one document and its events beside it; the state
is always what ``evolve`` makes of the events, so ``rebuild(events)`` from the event log gives
the stored document back (replays, audits, repairs). ``evolve`` is pure and trusts the event:
checking whether an event may happen is ``lifecycle.decide``'s job, before the event exists.

``version`` counts the events applied; the repository saves with "where version == read
version" (optimistic concurrency), so two staff acting at once cannot both win.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.events import (
    AppealClosed,
    AppealDispatched,
    AppealExtended,
    AppealExtensionRequested,
    AppealMerged,
    AppealNoteAdded,
    AppealOverdue,
    AppealPaused,
    AppealReceived,
    AppealReopened,
    AppealResolved,
    AppealResumed,
    AppealReturned,
    AppealReviewed,
    AppealSupervised,
    AppealTransferred,
    AppealTriaged,
    EventEnvelope,
)

from .lifecycle import State
from .sla import Deadlines

__all__ = [
    "Appeal",
    "ExtensionRequest",
    "Note",
    "Supervision",
    "evolve",
    "rebuild",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExtensionRequest(_Frozen):
    """A pending 延期申请."""

    reason: str
    workdays: int
    requested_at: datetime
    requested_by: str


class Supervision(_Frozen):
    """A 督办 note awaiting the unit's acknowledgement."""

    level: Literal["street", "district"]
    note: str
    at: datetime
    by: str


class Note(_Frozen):
    """An internal note or a message to the resident."""

    text: str
    internal: bool
    at: datetime
    by: str
    unit: str | None = None


class Appeal(_Frozen):
    """One resident's appeal as it stands now."""

    id: str
    tracking_no: str
    state: State
    version: int = 0

    channel: Literal["web", "hotline", "open311"]
    text: str
    address: str | None = None
    location: dict[str, float] | None = None
    matter_hint: str | None = None  # the caller's or operator's own choice at intake

    # where it is and who has it
    matter: str | None = None
    urgency: Literal["urgent", "normal", "advice"] | None = None
    district: str | None = None
    street: str | None = None
    community: str | None = None
    dispatch_center: str | None = None  # set while (or after) it waits in triage
    lead_unit: str | None = None
    co_handlers: tuple[str, ...] = ()
    last_decision_id: str | None = None
    transferred_to: str | None = None
    master_id: str | None = None

    # how it went for the units: both counts are held against them
    return_count: int = 0
    returned_by: tuple[str, ...] = ()
    reopen_count: int = 0

    # the clock
    deadlines: Deadlines | None = None
    overdue_flags: frozenset[str] = frozenset()
    paused_since: datetime | None = None
    pause_reason: str | None = None
    pause_count: int = 0
    paused_total: timedelta = timedelta()
    extension_pending: ExtensionRequest | None = None
    extension_count: int = 0
    extended_workdays: int = 0

    # supervision and notes
    supervision_pending: tuple[Supervision, ...] = ()
    supervision_count: int = 0
    notes: tuple[Note, ...] = ()

    # milestones of the current round (a reassignment or reopening starts a new round)
    received_at: datetime
    dispatched_at: datetime | None = None
    signed_at: datetime | None = None
    responded_at: datetime | None = None
    resolved_at: datetime | None = None
    reviewed_at: datetime | None = None
    closed_at: datetime | None = None

    # outcome
    result: str | None = None
    solved: bool | None = None  # the unit's claim on resolving, replaced by the resident's
    satisfaction: Literal["satisfied", "basically_satisfied", "unsatisfied"] | None = None
    review_comment: str | None = None
    close_reason: str | None = None

    @property
    def handlers(self) -> set[str | None]:
        """The lead unit and the co-handlers."""
        return {self.lead_unit, *self.co_handlers}

    @property
    def is_open(self) -> bool:
        """Not closed, transferred or merged."""
        return self.state not in ("closed", "transferred", "merged")


def _who(event: EventEnvelope) -> str:
    return event.actor.unit or event.actor.id


# A reassignment or reopening hands the unit a fresh round: clocks and milestones restart.
_NEW_ROUND: dict[str, Any] = {
    "signed_at": None,
    "responded_at": None,
    "resolved_at": None,
    "reviewed_at": None,
    "result": None,
    "solved": None,
    "satisfaction": None,
    "review_comment": None,
    "overdue_flags": frozenset(),
    "extension_pending": None,
    "paused_since": None,
    "pause_reason": None,
}


def _received(appeal: Appeal | None, e: EventEnvelope) -> Appeal:
    if appeal is not None:
        raise ValueError(f"appeal {e.appeal_id} was already received")
    d = AppealReceived.model_validate(e.data)
    return Appeal(
        id=e.appeal_id,
        tracking_no=d.tracking_no,
        state="received",
        channel=d.channel,
        text=d.text,
        address=d.address,
        location=d.location,
        matter_hint=d.matter,
        street=e.street,
        community=e.community,
        received_at=e.occurred_at,
    )


def _dispatched(a: Appeal, e: EventEnvelope) -> dict[str, Any]:
    d = AppealDispatched.model_validate(e.data)
    return {
        **_NEW_ROUND,
        "state": "dispatched",
        "matter": d.matter,
        "urgency": d.urgency,
        "lead_unit": d.lead_unit,
        "co_handlers": tuple(d.co_handlers),
        "district": d.district or a.district,
        "street": e.street or a.street,
        "community": e.community if e.street else a.community,
        "deadlines": Deadlines.from_event_data(d.deadlines),
        "dispatched_at": e.occurred_at,
        "last_decision_id": d.decision_id or a.last_decision_id,
    }


def _triaged(a: Appeal, e: EventEnvelope) -> dict[str, Any]:
    d = AppealTriaged.model_validate(e.data)
    return {
        **_NEW_ROUND,
        "state": "triage",
        "dispatch_center": d.dispatch_center,
        "district": d.district or a.district,
        "street": e.street or a.street,
        "community": e.community or a.community,
        "lead_unit": None,
        "co_handlers": (),
        "deadlines": None,
        "last_decision_id": d.decision_id or a.last_decision_id,
    }


def _transferred(a: Appeal, e: EventEnvelope) -> dict[str, Any]:
    d = AppealTransferred.model_validate(e.data)
    return {
        "state": "transferred",
        "transferred_to": d.to,
        "matter": d.matter,
        "street": e.street or a.street,
        "community": e.community or a.community,
        "last_decision_id": d.decision_id or a.last_decision_id,
    }


def _returned(a: Appeal, e: EventEnvelope) -> dict[str, Any]:
    d = AppealReturned.model_validate(e.data)
    return {
        **_NEW_ROUND,
        "state": "returned",
        "return_count": d.return_count,
        "returned_by": (*a.returned_by, d.returned_by),
        "lead_unit": None,
        "co_handlers": (),
        "deadlines": None,
    }


def _extension_requested(a: Appeal, e: EventEnvelope) -> dict[str, Any]:
    d = AppealExtensionRequested.model_validate(e.data)
    request = ExtensionRequest(
        reason=d.reason, workdays=d.workdays, requested_at=e.occurred_at, requested_by=_who(e)
    )
    return {"extension_pending": request}


def _extended(a: Appeal, e: EventEnvelope) -> dict[str, Any]:
    d = AppealExtended.model_validate(e.data)
    return {
        "extension_pending": None,
        "extension_count": a.extension_count + 1,
        "extended_workdays": a.extended_workdays + d.workdays,
        "deadlines": Deadlines.from_event_data(d.deadlines) or a.deadlines,
    }


def _resolved(a: Appeal, e: EventEnvelope) -> dict[str, Any]:
    d = AppealResolved.model_validate(e.data)
    return {
        "state": "resolved",
        "resolved_at": e.occurred_at,
        "result": d.result,
        "solved": d.solved,
        "extension_pending": None,
    }


def _reviewed(a: Appeal, e: EventEnvelope) -> dict[str, Any]:
    d = AppealReviewed.model_validate(e.data)
    return {
        "state": "reviewed",
        "reviewed_at": e.occurred_at,
        "satisfaction": d.satisfaction,
        "solved": d.solved,
        "review_comment": d.comment,
    }


def _reopened(a: Appeal, e: EventEnvelope) -> dict[str, Any]:
    d = AppealReopened.model_validate(e.data)
    return {
        **_NEW_ROUND,
        "state": "dispatched",
        "reopen_count": a.reopen_count + 1,
        "deadlines": Deadlines.from_event_data(d.deadlines),
        "dispatched_at": e.occurred_at,
    }


def _closed(a: Appeal, e: EventEnvelope) -> dict[str, Any]:
    return {
        "state": "closed",
        "closed_at": e.occurred_at,
        "close_reason": AppealClosed.model_validate(e.data).reason,
    }


def _merged(a: Appeal, e: EventEnvelope) -> dict[str, Any]:
    d = AppealMerged.model_validate(e.data)
    return {"state": "merged", "master_id": d.master_id}


def _supervised(a: Appeal, e: EventEnvelope) -> dict[str, Any]:
    d = AppealSupervised.model_validate(e.data)
    note = Supervision(level=d.level, note=d.note, at=e.occurred_at, by=_who(e))
    return {
        "supervision_pending": (*a.supervision_pending, note),
        "supervision_count": a.supervision_count + 1,
    }


def _overdue(a: Appeal, e: EventEnvelope) -> dict[str, Any]:
    d = AppealOverdue.model_validate(e.data)
    return {"overdue_flags": a.overdue_flags | {d.deadline}}


def _note_added(a: Appeal, e: EventEnvelope) -> dict[str, Any]:
    d = AppealNoteAdded.model_validate(e.data)
    note = Note(
        text=d.text, internal=d.internal, at=e.occurred_at, by=e.actor.id, unit=e.actor.unit
    )
    return {"notes": (*a.notes, note)}


def _paused(a: Appeal, e: EventEnvelope) -> dict[str, Any]:
    d = AppealPaused.model_validate(e.data)
    return {
        "paused_since": e.occurred_at,
        "pause_reason": d.reason,
        "pause_count": a.pause_count + 1,
    }


def _resumed(a: Appeal, e: EventEnvelope) -> dict[str, Any]:
    d = AppealResumed.model_validate(e.data)
    return {
        "paused_since": None,
        "pause_reason": None,
        "paused_total": a.paused_total + timedelta(seconds=d.paused_seconds),
        "deadlines": Deadlines.from_event_data(d.deadlines) or a.deadlines,
    }


_APPLY: dict[str, Callable[[Appeal, EventEnvelope], dict[str, Any]]] = {
    "appeal.dispatched": _dispatched,
    "appeal.triaged": _triaged,
    "appeal.transferred": _transferred,
    "appeal.signed": lambda a, e: {"state": "signed", "signed_at": e.occurred_at},
    "appeal.responded": lambda a, e: {"state": "responded", "responded_at": e.occurred_at},
    "appeal.returned": _returned,
    "appeal.extension_requested": _extension_requested,
    "appeal.extended": _extended,
    "appeal.extension_rejected": lambda a, e: {"extension_pending": None},
    "appeal.resolved": _resolved,
    "appeal.reviewed": _reviewed,
    "appeal.reopened": _reopened,
    "appeal.closed": _closed,
    "appeal.merged": _merged,
    "appeal.supervised": _supervised,
    "appeal.supervision_acknowledged": lambda a, e: {"supervision_pending": ()},
    "appeal.overdue": _overdue,
    "appeal.note_added": _note_added,
    "appeal.paused": _paused,
    "appeal.resumed": _resumed,
}


def evolve(appeal: Appeal | None, event: EventEnvelope) -> Appeal:
    """The appeal after ``event`` (``appeal`` is None only for appeal.received)."""
    if event.type == "appeal.received":
        return _received(appeal, event).model_copy(update={"version": 1})
    if appeal is None:
        raise ValueError(f"{event.type} for appeal {event.appeal_id} before appeal.received")
    if event.appeal_id != appeal.id:
        raise ValueError(f"event for appeal {event.appeal_id} applied to appeal {appeal.id}")
    apply = _APPLY.get(event.type)
    if apply is None:
        raise ValueError(f"the appeal aggregate does not know event type {event.type}")
    return appeal.model_copy(update={**apply(appeal, event), "version": appeal.version + 1})


def rebuild(events: Iterable[EventEnvelope]) -> Appeal:
    """An appeal from its whole event log, oldest first."""
    appeal: Appeal | None = None
    for event in events:
        appeal = evolve(appeal, event)
    if appeal is None:
        raise ValueError("no events to rebuild an appeal from")
    return appeal
