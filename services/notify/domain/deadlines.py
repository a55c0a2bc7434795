"""Open deadlines and "deadline near" reminders (pure).

Notify keeps its own list of open deadlines per appeal, fed from the events: appeal.dispatched,
appeal.extended and appeal.reopened carry the current ``deadlines`` (sign, respond, resolve);
appeal.signed and appeal.responded meet one; appeal.resolved, closed, merged and transferred
end them all. A deadline is due for a reminder once ``fraction`` of its time has gone (counted
from the event that set it); the reminder goes to the lead unit once, and for the resolve
deadline to the co-handler units of a comprehensive matter too (their part must be done by
then; signing and responding are the lead's alone). When a deadline passes,
the appeals service's SLA sweeper emits appeal.overdue, which tells the unit and its
coordinator; notify does not double that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.notify.domain.recipients import DEADLINE_NEAR, Trigger

__all__ = ["DeadlineChanges", "OpenDeadline", "deadline_changes", "reminder_trigger"]

DEADLINE_NAMES = ("sign", "respond", "resolve")
_SETS_DEADLINES = {"appeal.dispatched", "appeal.extended", "appeal.reopened"}
_MEETS = {"appeal.signed": ("sign",), "appeal.responded": ("sign", "respond")}
_ENDS = {
    "appeal.resolved",
    "appeal.closed",
    "appeal.merged",
    "appeal.transferred",
    "appeal.triaged",
    "appeal.returned",
}


@dataclass(frozen=True)
class OpenDeadline:
    """One deadline of one appeal that a unit must meet."""

    appeal_id: str
    name: str  # sign, respond, resolve
    due_at: datetime
    remind_at: datetime
    unit: str | None
    street: str | None
    # units that co-handle the appeal: reminded of the resolve deadline with the lead
    co_handlers: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Its ``_id`` in the notify_deadlines collection."""
        return f"{self.appeal_id}:{self.name}"


@dataclass(frozen=True)
class DeadlineChanges:
    """What one event does to the appeal's open deadlines."""

    opened: tuple[OpenDeadline, ...] = ()
    closed: tuple[str, ...] = ()  # deadline names
    # An extension repeats all three deadlines but moves only what is still open: a met
    # sign deadline must not come back.
    only_open: bool = False


def remind_at(start: datetime, due: datetime, fraction: float) -> datetime:
    """When ``fraction`` of the time from ``start`` to ``due`` has gone."""
    if due <= start:
        return due
    return start + (due - start) * fraction


def deadline_changes(trigger: Trigger, *, fraction: float) -> DeadlineChanges:
    """The open deadlines an event sets, meets or ends."""
    if trigger.type in _SETS_DEADLINES:
        raw = trigger.data.get("deadlines") or {}
        unit = trigger.data.get("lead_unit") or trigger.unit
        co_handlers = tuple(trigger.data.get("co_handlers") or ())
        opened = []
        for name in DEADLINE_NAMES:
            if name not in raw:
                continue
            due = raw[name]
            due_at = datetime.fromisoformat(due) if isinstance(due, str) else due
            opened.append(
                OpenDeadline(
                    appeal_id=trigger.appeal_id,
                    name=name,
                    due_at=due_at,
                    remind_at=remind_at(trigger.occurred_at, due_at, fraction),
                    unit=unit,
                    street=trigger.street,
                    co_handlers=co_handlers if name == "resolve" else (),
                )
            )
        return DeadlineChanges(opened=tuple(opened), only_open=trigger.type == "appeal.extended")
    if trigger.type in _MEETS:
        return DeadlineChanges(closed=_MEETS[trigger.type])
    if trigger.type in _ENDS:
        return DeadlineChanges(closed=DEADLINE_NAMES)
    return DeadlineChanges()


def reminder_trigger(deadline: OpenDeadline) -> Trigger:
    """The trigger of a "deadline near" reminder; its id makes it once per deadline and time."""
    stamp = int(deadline.due_at.timestamp())
    return Trigger(
        id=f"remind-{deadline.appeal_id}-{deadline.name}-{stamp}",
        type=DEADLINE_NEAR,
        appeal_id=deadline.appeal_id,
        occurred_at=deadline.remind_at,
        street=deadline.street,
        unit=deadline.unit,
        data={
            "deadline": deadline.name,
            "due_at": deadline.due_at.isoformat(),
            "co_handlers": list(deadline.co_handlers),
        },
    )
