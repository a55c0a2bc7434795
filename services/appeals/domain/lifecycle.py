"""The appeal's state machine: who may do what, in which state, and which events it makes.

One table, ``TRANSITIONS``, is the only place the lifecycle is written down: for every
command it names the states it may start from, the event types it may produce and, per role,
the scope that role must have on the appeal. ``decide`` checks a command against the table and
then against the appeal's own conditions, and returns the new events or raises
``CommandRefused``::

    CommandRefused(status=403)   role not allowed, or outside the role's scope
    CommandRefused(status=409)   the appeal's state (or a pending flag) does not allow it
    CommandRefused(status=422)   the command itself is invalid (empty reason, unknown unit...)

Checks run in that order of questions — may this role ever do it, is the appeal in a state
for it, is this person's unit/street/district the right one, is the command well formed — so
the reason names the first thing that is wrong.

States (``State``)::

    received -> dispatched | triage | transferred (110/119/120) | merged
    triage -> dispatched (district dispatcher)          triage -> merged | closed
    dispatched -> signed -> responded -> resolved -> reviewed -> closed
    signed/responded -> returned -> dispatched (street coordinator, 综合管理权)
    signed/responded -> returned + triage (second return, or no one above in the street)
    reviewed (unsatisfied) -> dispatched again (reopened, counted against the unit)

Being paused (waiting for the resident), an extension request (延期申请) and a supervision
note awaiting acknowledgement (督办) are flags on an open appeal, not states: the appeal keeps
its place in the lifecycle. Overdue is an event the sweeper records, never a state.

Events this module needs that ``shared.events`` does not define yet live here, in the same
style, and are registered into ``shared.events.DATA_MODELS`` on import so envelopes of these
types validate. They belong in ``shared/events.py``; once moved, delete them here.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args

from shared.city import City, Matter
from shared.events import (
    Actor,
    AppealClosed,
    AppealDispatched,
    AppealExtended,
    AppealExtensionRejected,
    AppealExtensionRequested,
    AppealMerged,
    AppealNoteAdded,
    AppealOverdue,
    AppealPaused,
    AppealReopened,
    AppealResolved,
    AppealResponded,
    AppealResumed,
    AppealReturned,
    AppealReviewed,
    AppealSigned,
    AppealSupervised,
    AppealSupervisionAcknowledged,
    AppealTransferred,
    AppealTriaged,
    EventEnvelope,
    RoutingDecision,
    _Data,
    new_event,
)

from .sla import (
    DEADLINE_NAMES,
    Deadlines,
    WorkCalendar,
    deadlines_for,
    extend,
    missed,
    shift_for_pause,
    working_minutes_between,
)

if TYPE_CHECKING:
    from .appeal import Appeal

__all__ = [
    "ALL_STATES",
    "MAX_EXTENSION_WORKDAYS",
    "MAX_NOTE_LENGTH",
    "MAX_RETURNS",
    "OPEN_STATES",
    "ROLES",
    "STATES",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "AcknowledgeSupervision",
    "AddNote",
    "AppealExtensionRejected",
    "AppealNoteAdded",
    "AppealPaused",
    "AppealResumed",
    "AppealSupervisionAcknowledged",
    "ApplyRoutingDecision",
    "ApproveExtension",
    "Close",
    "Command",
    "CommandRefused",
    "Dispatch",
    "Merge",
    "Pause",
    "Reassign",
    "RecordOverdue",
    "RejectExtension",
    "Reopen",
    "RequestExtension",
    "Resolve",
    "Respond",
    "Resume",
    "Return",
    "Review",
    "Role",
    "Scope",
    "Sign",
    "Staff",
    "State",
    "Supervise",
    "Transition",
    "decide",
    "district_of",
]

# ---------------------------------------------------------------------------- vocabulary

State = Literal[
    "received",
    "triage",
    "dispatched",
    "signed",
    "responded",
    "returned",
    "resolved",
    "reviewed",
    "closed",
    "transferred",
    "merged",
]
STATES: tuple[State, ...] = get_args(State)
TERMINAL_STATES: frozenset[State] = frozenset({"closed", "transferred", "merged"})
OPEN_STATES: frozenset[State] = frozenset(STATES) - TERMINAL_STATES
ALL_STATES: frozenset[State] = frozenset(STATES)

Role = Literal[
    "operator",
    "unit_staff",
    "coordinator",
    "dispatcher",
    "district_admin",
    "viewer",
    "system",
    "resident",
]
ROLES: tuple[Role, ...] = get_args(Role)

# Two returns at most: the first goes to the street's coordinator, the second to the district
# dispatch centre, whose assignment then stands — no endless ping-pong between units.
MAX_RETURNS = 2
MAX_EXTENSION_WORKDAYS = 30
MAX_NOTE_LENGTH = 2000


class CommandRefused(Exception):
    """A command the appeal's lifecycle does not allow; ``status`` maps to HTTP (403/409/422)."""

    def __init__(self, status: Literal[403, 409, 422], reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def __repr__(self) -> str:
        return f"CommandRefused({self.status}, {self.reason!r})"


@dataclass(frozen=True)
class Staff:
    """Whoever issues a command: a staff member, a resident or a system component.

    ``unit`` / ``street`` / ``district`` are the person's posts and decide their scope: a
    unit's staff act on appeals their unit leads, a coordinator (the street's 城市运行管理中心)
    on the street's appeals, a dispatcher (区12345调度中心) on the district's.
    """

    id: str
    role: Role
    unit: str | None = None
    street: str | None = None
    district: str | None = None

    def as_actor(self) -> Actor:
        """The ``actor`` recorded on events."""
        kind: Literal["resident", "staff", "system"] = (
            "system"
            if self.role == "system"
            else "resident"
            if self.role == "resident"
            else "staff"
        )
        return Actor(kind=kind, id=self.id, role=self.role, unit=self.unit)


# ---------------------------------------------------------------------------- commands


@dataclass(frozen=True)
class Command:
    """An order about one appeal. ``name`` is what reasons and the API call it."""

    name: ClassVar[str]


@dataclass(frozen=True)
class ApplyRoutingDecision(Command):
    """The router's decision: dispatch, triage or transfer (system only)."""

    name: ClassVar[str] = "apply routing decision"
    decision: RoutingDecision


@dataclass(frozen=True)
class Dispatch(Command):
    """派单 by hand from the district dispatch centre's triage queue."""

    name: ClassVar[str] = "dispatch"
    unit: str
    matter: str
    co_handlers: tuple[str, ...] = ()
    community: str | None = None


@dataclass(frozen=True)
class Sign(Command):
    """签收: the lead unit accepts the work."""

    name: ClassVar[str] = "sign"


@dataclass(frozen=True)
class Respond(Command):
    """First contact with the resident."""

    name: ClassVar[str] = "respond"
    message: str = ""


@dataclass(frozen=True)
class Return(Command):
    """退单: the lead unit says the appeal is not theirs."""

    name: ClassVar[str] = "return"
    reason: str


@dataclass(frozen=True)
class Reassign(Command):
    """改派 by the street's coordinator; final under the comprehensive-management authority."""

    name: ClassVar[str] = "reassign"
    unit: str
    co_handlers: tuple[str, ...] = ()
    matter: str | None = None


@dataclass(frozen=True)
class RequestExtension(Command):
    """延期申请 by the lead unit."""

    name: ClassVar[str] = "request extension"
    reason: str
    workdays: int


@dataclass(frozen=True)
class ApproveExtension(Command):
    """Grant the pending extension (``workdays`` None: as requested)."""

    name: ClassVar[str] = "approve extension"
    workdays: int | None = None


@dataclass(frozen=True)
class RejectExtension(Command):
    """Refuse the pending extension."""

    name: ClassVar[str] = "reject extension"
    reason: str


@dataclass(frozen=True)
class Pause(Command):
    """Stop the clock while waiting for the resident."""

    name: ClassVar[str] = "pause"
    reason: str


@dataclass(frozen=True)
class Resume(Command):
    """Start the clock again."""

    name: ClassVar[str] = "resume"


@dataclass(frozen=True)
class Resolve(Command):
    """办结: the lead unit reports its result."""

    name: ClassVar[str] = "resolve"
    result: str
    solved: bool = True


@dataclass(frozen=True)
class Review(Command):
    """回访: the resident's verdict (by callback, SMS or the web)."""

    name: ClassVar[str] = "review"
    satisfaction: Literal["satisfied", "basically_satisfied", "unsatisfied"]
    solved: bool
    comment: str = ""


@dataclass(frozen=True)
class Reopen(Command):
    """重办: an unsatisfied review sends the appeal back to its unit."""

    name: ClassVar[str] = "reopen"
    reason: str = ""


@dataclass(frozen=True)
class Close(Command):
    """结案."""

    name: ClassVar[str] = "close"
    reason: str = ""


@dataclass(frozen=True)
class Merge(Command):
    """Merge a duplicate into its master appeal."""

    name: ClassVar[str] = "merge"
    master_id: str


@dataclass(frozen=True)
class Supervise(Command):
    """督办: a note from a higher level that the unit must acknowledge."""

    name: ClassVar[str] = "supervise"
    level: Literal["street", "district"]
    note: str


@dataclass(frozen=True)
class AcknowledgeSupervision(Command):
    """Acknowledge every pending supervision note."""

    name: ClassVar[str] = "acknowledge supervision"
    note: str = ""


@dataclass(frozen=True)
class AddNote(Command):
    """An internal note, or (``internal=False``) a message to the resident."""

    name: ClassVar[str] = "add note"
    text: str
    internal: bool = True


@dataclass(frozen=True)
class RecordOverdue(Command):
    """The sweeper's check: record each newly missed deadline once (system only)."""

    name: ClassVar[str] = "record overdue"


# ---------------------------------------------------------------------------- the table


class Scope(enum.Enum):
    """Which appeals a role may act on."""

    ANY = "any appeal"
    LEAD_UNIT = "appeals its unit leads"
    HANDLERS = "appeals its unit leads or co-handles"
    STREET = "appeals of its street"
    DISTRICT = "appeals of its district"


@dataclass(frozen=True)
class Transition:
    """One row of the lifecycle: a command, where it may start, what it yields, who may."""

    command: type[Command]
    from_states: frozenset[State]
    events: tuple[str, ...]
    roles: Mapping[Role, Scope] = field(default_factory=dict)


_WORKING: frozenset[State] = frozenset({"signed", "responded"})
_DISTRICT_STAFF: dict[Role, Scope] = {
    "dispatcher": Scope.DISTRICT,
    "district_admin": Scope.DISTRICT,
}
_EXTENSION_DECIDERS: dict[Role, Scope] = {"coordinator": Scope.STREET, **_DISTRICT_STAFF}

TRANSITIONS: Mapping[type[Command], Transition] = {
    row.command: row
    for row in (
        Transition(
            ApplyRoutingDecision,
            frozenset({"received"}),
            ("appeal.dispatched", "appeal.triaged", "appeal.transferred"),
            {"system": Scope.ANY},
        ),
        Transition(Dispatch, frozenset({"triage"}), ("appeal.dispatched",), _DISTRICT_STAFF),
        Transition(
            Sign, frozenset({"dispatched"}), ("appeal.signed",), {"unit_staff": Scope.LEAD_UNIT}
        ),
        Transition(
            Respond, frozenset({"signed"}), ("appeal.responded",), {"unit_staff": Scope.LEAD_UNIT}
        ),
        Transition(
            Return,
            _WORKING,
            ("appeal.returned", "appeal.triaged"),
            {"unit_staff": Scope.LEAD_UNIT},
        ),
        Transition(
            Reassign,
            frozenset({"returned", "dispatched", "signed", "responded"}),
            ("appeal.dispatched",),
            {"coordinator": Scope.STREET},
        ),
        Transition(
            RequestExtension,
            _WORKING,
            ("appeal.extension_requested",),
            {"unit_staff": Scope.LEAD_UNIT},
        ),
        Transition(ApproveExtension, _WORKING, ("appeal.extended",), _EXTENSION_DECIDERS),
        Transition(RejectExtension, _WORKING, ("appeal.extension_rejected",), _EXTENSION_DECIDERS),
        Transition(Pause, _WORKING, ("appeal.paused",), {"unit_staff": Scope.LEAD_UNIT}),
        Transition(
            Resume,
            _WORKING,
            ("appeal.resumed",),
            {"unit_staff": Scope.LEAD_UNIT, "system": Scope.ANY},
        ),
        Transition(
            Resolve,
            frozenset({"responded"}),
            ("appeal.resolved",),
            {"unit_staff": Scope.LEAD_UNIT},
        ),
        Transition(
            Review,
            frozenset({"resolved"}),
            ("appeal.reviewed",),
            {"resident": Scope.ANY, "operator": Scope.ANY, "system": Scope.ANY},
        ),
        Transition(
            Reopen,
            frozenset({"reviewed"}),
            ("appeal.reopened",),
            {
                "operator": Scope.ANY,
                "coordinator": Scope.STREET,
                **_DISTRICT_STAFF,
                "system": Scope.ANY,
            },
        ),
        Transition(
            Close,
            frozenset({"resolved", "reviewed", "triage"}),
            ("appeal.closed",),
            {"operator": Scope.ANY, **_DISTRICT_STAFF, "system": Scope.ANY},
        ),
        Transition(
            Merge,
            # A duplicate the router dispatched confidently can still be merged before any
            # unit has started on it.
            frozenset({"received", "triage", "dispatched"}),
            ("appeal.merged",),
            {"operator": Scope.ANY, **_DISTRICT_STAFF},
        ),
        Transition(
            Supervise,
            OPEN_STATES - {"received"},
            ("appeal.supervised",),
            # system: the SLA sweeper escalates overdue appeals to the street, then the district.
            {"coordinator": Scope.STREET, **_DISTRICT_STAFF, "system": Scope.ANY},
        ),
        Transition(
            AcknowledgeSupervision,
            OPEN_STATES - {"received"},
            ("appeal.supervision_acknowledged",),
            {
                "unit_staff": Scope.LEAD_UNIT,
                "coordinator": Scope.STREET,
                "dispatcher": Scope.DISTRICT,
            },
        ),
        Transition(
            AddNote,
            ALL_STATES,
            ("appeal.note_added",),
            {
                "operator": Scope.ANY,
                "unit_staff": Scope.HANDLERS,
                "coordinator": Scope.STREET,
                **_DISTRICT_STAFF,
            },
        ),
        Transition(
            RecordOverdue,
            frozenset({"dispatched", "signed", "responded"}),
            ("appeal.overdue",),
            {"system": Scope.ANY},
        ),
    )
}


# ---------------------------------------------------------------------------- decide


class _Keep(enum.Enum):
    """Envelope placement as the appeal has it now (the default for most events)."""

    KEEP = "keep"


@dataclass(frozen=True)
class _Context:
    appeal: Appeal
    actor: Staff
    now: datetime
    city: City
    calendar: WorkCalendar

    @property
    def label(self) -> str:
        return f"appeal {self.appeal.id}"

    def event(
        self,
        type_: str,
        data: _Data,
        *,
        street: str | _Keep | None = _Keep.KEEP,
        community: str | _Keep | None = _Keep.KEEP,
        unit: str | _Keep | None = _Keep.KEEP,
    ) -> EventEnvelope:
        return new_event(
            type_,
            appeal_id=self.appeal.id,
            actor=self.actor.as_actor(),
            data=data,
            street=self.appeal.street if isinstance(street, _Keep) else street,
            community=self.appeal.community if isinstance(community, _Keep) else community,
            unit=self.appeal.lead_unit if isinstance(unit, _Keep) else unit,
            occurred_at=self.now,
        )

    def deadlines(self, urgency: Literal["urgent", "normal", "advice"]) -> Deadlines:
        limits = self.city.catalog.limits(urgency)
        return deadlines_for(self.now, limits, self.calendar, urgency=urgency)


def decide(
    appeal: Appeal,
    command: Command,
    actor: Staff,
    now: datetime,
    *,
    city: City,
    calendar: WorkCalendar,
) -> list[EventEnvelope]:
    """The events ``command`` by ``actor`` produces on ``appeal`` at ``now``, or CommandRefused."""
    if now.tzinfo is None:
        raise ValueError("now must be time-zone aware (UTC)")
    row = TRANSITIONS.get(type(command))
    if row is None:
        raise TypeError(f"{type(command).__name__} is not a lifecycle command")
    scope = row.roles.get(actor.role)
    if scope is None:
        allowed = ", ".join(row.roles) or "nobody"
        raise CommandRefused(403, f"role {actor.role} may not {command.name} (allowed: {allowed})")
    # A routing decision is delivered at least once; its second delivery changes nothing.
    if (
        isinstance(command, ApplyRoutingDecision)
        and appeal.last_decision_id is not None
        and command.decision.decision_id == appeal.last_decision_id
    ):
        return []
    # Someone whose post lies outside where the appeal is placed learns nothing about it, not
    # even its state: refuse before the state check.
    _check_placement(appeal, actor, scope, city)
    if appeal.state not in row.from_states:
        needs = " or ".join(s for s in STATES if s in row.from_states)
        raise CommandRefused(
            409, f"appeal {appeal.id} is {appeal.state}; {command.name} needs {needs}"
        )
    _check_scope(appeal, actor, scope, city)
    ctx = _Context(appeal=appeal, actor=actor, now=now, city=city, calendar=calendar)
    handler = _HANDLERS[type(command)]
    produced = handler(ctx, command)
    unexpected = [e.type for e in produced if e.type not in row.events]
    if unexpected:  # pragma: no cover - guards the table against a handler drifting from it
        raise AssertionError(f"{command.name} produced {unexpected}, table says {row.events}")
    return produced


def _check_placement(appeal: Appeal, actor: Staff, scope: Scope, city: City) -> None:
    """403 when the appeal is placed where this actor's post does not reach, or not yet placed.

    An appeal not yet placed (no lead unit, street or district) is outside every post but
    ``Scope.ANY``; ``_check_scope`` would refuse it anyway, but only after the state check,
    and a 409 naming the state would tell an outsider where the appeal stands.
    """
    if scope is Scope.ANY:
        return
    if scope in (Scope.LEAD_UNIT, Scope.HANDLERS):
        if appeal.lead_unit is None or actor.unit not in appeal.handlers:
            raise CommandRefused(403, f"{actor.role} of {actor.unit} may not act on this appeal")
    elif scope is Scope.STREET:
        if appeal.street is None or appeal.street != actor.street:
            raise CommandRefused(403, f"{actor.role} of {actor.street} may not act on this appeal")
    elif scope is Scope.DISTRICT:
        district = district_of(appeal, city)
        if district is None or district != actor.district:
            raise CommandRefused(
                403, f"{actor.role} of {actor.district} may not act on this appeal"
            )


def district_of(appeal: Appeal, city: City) -> str | None:
    """The appeal's district: recorded on it, else found from its street or lead unit."""
    if appeal.district:
        return appeal.district
    if appeal.street and appeal.street in city.streets:
        return city.streets[appeal.street][0].code
    if appeal.lead_unit and appeal.lead_unit in city.units:
        return city.units[appeal.lead_unit][0].code
    if appeal.dispatch_center:
        return _district_of_dispatch_center(city, appeal.dispatch_center)
    return None


def _district_of_dispatch_center(city: City, code: str) -> str | None:
    return next((d.code for d in city.jurisdiction.districts if d.dispatch_center == code), None)


def _check_scope(appeal: Appeal, actor: Staff, scope: Scope, city: City) -> None:
    if scope is Scope.ANY:
        return
    if scope is Scope.LEAD_UNIT or scope is Scope.HANDLERS:
        handlers = {appeal.lead_unit} if scope is Scope.LEAD_UNIT else appeal.handlers
        if appeal.lead_unit is None:
            raise CommandRefused(
                403,
                f"appeal {appeal.id} has no lead unit; unit {actor.unit} may not act on it",
            )
        if actor.unit is None or actor.unit not in handlers:
            also = "" if scope is Scope.LEAD_UNIT else " or co-handled by others"
            raise CommandRefused(
                403,
                f"unit {actor.unit} may not act on an appeal led by {appeal.lead_unit}{also}",
            )
        return
    if scope is Scope.STREET:
        if actor.street is None or actor.street != appeal.street:
            raise CommandRefused(
                403,
                f"{actor.role} of street {actor.street} may not act on appeal {appeal.id} "
                f"of street {appeal.street}",
            )
        return
    district = district_of(appeal, city)
    if actor.district is None or actor.district != district:
        raise CommandRefused(
            403,
            f"{actor.role} of district {actor.district} may not act on appeal {appeal.id} "
            f"of district {district}",
        )


def _require_text(value: str, what: str) -> str:
    text = value.strip()
    if not text:
        raise CommandRefused(422, f"{what} must not be empty")
    return text


def _require_running(ctx: _Context, command: Command) -> None:
    if ctx.appeal.paused_since is not None:
        raise CommandRefused(
            409,
            f"{ctx.label} is paused since {ctx.appeal.paused_since.isoformat()} "
            f"({ctx.appeal.pause_reason}); resume before you {command.name}",
        )


def _matter(ctx: _Context, code: str) -> Matter:
    matter = ctx.city.catalog.get(code)
    if matter is None:
        raise CommandRefused(422, f"matter {code} is not in the catalog")
    if matter.out_of_scope:
        raise CommandRefused(
            422, f"matter {code} is out of scope; transfer the caller to {matter.transfer_number}"
        )
    return matter


def _unit_home(ctx: _Context, code: str, what: str = "unit") -> tuple[str, str | None]:
    """(district, street or None) of a unit or district department."""
    found = ctx.city.units.get(code)
    if found is None:
        raise CommandRefused(422, f"{what} {code} does not exist")
    district, street, _ = found
    return district.code, street.code if street else None


def _co_handlers(ctx: _Context, codes: tuple[str, ...], lead: str) -> list[str]:
    for code in codes:
        _unit_home(ctx, code, "co-handler")
    if lead in codes:
        raise CommandRefused(422, f"unit {lead} cannot lead and co-handle the same appeal")
    return list(dict.fromkeys(codes))


# ---------------------------------------------------------------------------- handlers


def _apply_routing_decision(ctx: _Context, cmd: ApplyRoutingDecision) -> list[EventEnvelope]:
    decision = cmd.decision
    if decision.appeal_id != ctx.appeal.id:
        raise CommandRefused(
            422, f"decision {decision.decision_id} is for appeal {decision.appeal_id}"
        )
    street = decision.street or ctx.appeal.street
    community = decision.community or ctx.appeal.community
    if decision.transfer is not None:
        data_t = AppealTransferred(
            to=decision.transfer,
            matter=decision.matter,
            reasons=decision.reasons,
            decision_id=decision.decision_id,
        )
        return [
            ctx.event("appeal.transferred", data_t, street=street, community=community, unit=None)
        ]
    if decision.triage or decision.unit is None:
        center = decision.dispatch_center
        if center is None and decision.district in ctx.city.districts:
            center = ctx.city.districts[decision.district].dispatch_center
        if center is None:
            raise CommandRefused(
                422, f"decision {decision.decision_id} sends to triage but names no dispatch centre"
            )
        data_tr = AppealTriaged(
            dispatch_center=center,
            reasons=decision.reasons,
            candidates=decision.candidates,
            confidence=decision.confidence,
            decision_id=decision.decision_id,
            district=decision.district or _district_of_dispatch_center(ctx.city, center),
        )
        return [ctx.event("appeal.triaged", data_tr, street=street, community=community, unit=None)]
    district, unit_street = _unit_home(ctx, decision.unit)
    data = AppealDispatched(
        matter=decision.matter,
        urgency=decision.urgency,
        lead_unit=decision.unit,
        co_handlers=_co_handlers(ctx, tuple(decision.co_handlers), decision.unit),
        by="router",
        confidence=decision.confidence,
        reasons=decision.reasons,
        deadlines=ctx.deadlines(decision.urgency).as_event_data(),
        decision_id=decision.decision_id,
        district=decision.district or district,
    )
    return [
        ctx.event(
            "appeal.dispatched",
            data,
            street=street or unit_street,
            community=community,
            unit=decision.unit,
        )
    ]


def _dispatch(ctx: _Context, cmd: Dispatch) -> list[EventEnvelope]:
    district, unit_street = _unit_home(ctx, cmd.unit)
    if district != ctx.actor.district:
        raise CommandRefused(
            403,
            f"{ctx.actor.role} of district {ctx.actor.district} may not dispatch to unit "
            f"{cmd.unit} of district {district}",
        )
    matter = _matter(ctx, cmd.matter)
    street = unit_street or ctx.appeal.street
    community = cmd.community or (ctx.appeal.community if street == ctx.appeal.street else None)
    data = AppealDispatched(
        matter=matter.code,
        urgency=matter.urgency,
        lead_unit=cmd.unit,
        co_handlers=_co_handlers(ctx, cmd.co_handlers, cmd.unit),
        by="dispatcher",
        deadlines=ctx.deadlines(matter.urgency).as_event_data(),
        district=district,
    )
    return [ctx.event("appeal.dispatched", data, street=street, community=community, unit=cmd.unit)]


def _sign(ctx: _Context, cmd: Sign) -> list[EventEnvelope]:
    return [ctx.event("appeal.signed", AppealSigned())]


def _respond(ctx: _Context, cmd: Respond) -> list[EventEnvelope]:
    _require_running(ctx, cmd)
    return [ctx.event("appeal.responded", AppealResponded(message=cmd.message.strip()))]


def _return(ctx: _Context, cmd: Return) -> list[EventEnvelope]:
    _require_running(ctx, cmd)
    reason = _require_text(cmd.reason, "a return's reason")
    appeal = ctx.appeal
    if appeal.return_count >= MAX_RETURNS:
        raise CommandRefused(
            409,
            f"{ctx.label} has been returned {appeal.return_count} times; the district dispatch "
            "centre's assignment stands",
        )
    assert appeal.lead_unit is not None  # the LEAD_UNIT scope check guarantees it
    count = appeal.return_count + 1
    returned = ctx.event(
        "appeal.returned",
        AppealReturned(reason=reason, returned_by=appeal.lead_unit, return_count=count),
    )
    coordinator = _coordinator_of(ctx.city, appeal.street)
    if count < MAX_RETURNS and coordinator is not None and coordinator != appeal.lead_unit:
        return [returned]
    # Second return, or nobody in the street above the unit (the coordinator returned it
    # itself, or the street has none): the district dispatch centre decides.
    district = district_of(appeal, ctx.city)
    center = (
        ctx.city.districts[district].dispatch_center if district in ctx.city.districts else None
    )
    if center is None:
        raise CommandRefused(422, f"{ctx.label} has no district dispatch centre to go to")
    why = (
        f"returned {count} times (last by {appeal.lead_unit}: {reason})"
        if count >= MAX_RETURNS
        else f"returned by {appeal.lead_unit}, which coordinates street {appeal.street}: {reason}"
    )
    triaged = ctx.event(
        "appeal.triaged",
        AppealTriaged(dispatch_center=center, reasons=[why], district=district),
        unit=None,
    )
    return [returned, triaged]


def _coordinator_of(city: City, street: str | None) -> str | None:
    if street is None or street not in city.streets:
        return None
    unit = city.streets[street][1].coordinator
    return unit.code if unit else None


def _reassign(ctx: _Context, cmd: Reassign) -> list[EventEnvelope]:
    _require_running(ctx, cmd)
    appeal = ctx.appeal
    district, unit_street = _unit_home(ctx, cmd.unit)
    if unit_street != ctx.actor.street:
        raise CommandRefused(
            403,
            f"coordinator of street {ctx.actor.street} may reassign only to its street's units; "
            f"{cmd.unit} is not one",
        )
    if cmd.unit == appeal.lead_unit:
        raise CommandRefused(422, f"{ctx.label} is already led by {cmd.unit}")
    if cmd.matter is not None:
        matter = _matter(ctx, cmd.matter)
        matter_code: str | None = matter.code
        urgency = matter.urgency
    else:
        matter_code, urgency = appeal.matter, appeal.urgency or "normal"
    data = AppealDispatched(
        matter=matter_code,
        urgency=urgency,
        lead_unit=cmd.unit,
        co_handlers=_co_handlers(ctx, cmd.co_handlers, cmd.unit),
        by="coordinator",
        deadlines=ctx.deadlines(urgency).as_event_data(),
        district=district,
    )
    return [ctx.event("appeal.dispatched", data, street=unit_street, unit=cmd.unit)]


def _request_extension(ctx: _Context, cmd: RequestExtension) -> list[EventEnvelope]:
    _require_running(ctx, cmd)
    if ctx.appeal.extension_pending is not None:
        raise CommandRefused(409, f"{ctx.label} already has an extension request pending")
    reason = _require_text(cmd.reason, "an extension's reason")
    _check_workdays(cmd.workdays)
    data = AppealExtensionRequested(reason=reason, workdays=cmd.workdays)
    return [ctx.event("appeal.extension_requested", data)]


def _check_workdays(workdays: int) -> None:
    if not 1 <= workdays <= MAX_EXTENSION_WORKDAYS:
        raise CommandRefused(
            422, f"an extension is 1 to {MAX_EXTENSION_WORKDAYS} working days, not {workdays}"
        )


def _check_extension_decider(ctx: _Context, command: Command) -> None:
    if ctx.appeal.extension_pending is None:
        raise CommandRefused(409, f"{ctx.label} has no extension request pending")
    if ctx.actor.unit is not None and ctx.actor.unit == ctx.appeal.lead_unit:
        raise CommandRefused(
            403,
            f"unit {ctx.actor.unit} leads {ctx.label} and may not {command.name} for itself; "
            "the district decides",
        )


def _approve_extension(ctx: _Context, cmd: ApproveExtension) -> list[EventEnvelope]:
    _check_extension_decider(ctx, cmd)
    pending = ctx.appeal.extension_pending
    deadlines = ctx.appeal.deadlines
    assert pending is not None and deadlines is not None  # working states always have both
    workdays = pending.workdays if cmd.workdays is None else cmd.workdays
    _check_workdays(workdays)
    moved = extend(deadlines, workdays, ctx.calendar)
    data = AppealExtended(
        workdays=workdays,
        approved_by=ctx.actor.unit or ctx.actor.id,
        deadlines=moved.as_event_data(),
    )
    return [ctx.event("appeal.extended", data)]


def _reject_extension(ctx: _Context, cmd: RejectExtension) -> list[EventEnvelope]:
    _check_extension_decider(ctx, cmd)
    reason = _require_text(cmd.reason, "a rejection's reason")
    data = AppealExtensionRejected(reason=reason, rejected_by=ctx.actor.unit or ctx.actor.id)
    return [ctx.event("appeal.extension_rejected", data)]


def _pause(ctx: _Context, cmd: Pause) -> list[EventEnvelope]:
    _require_running(ctx, cmd)
    reason = _require_text(cmd.reason, "a pause's reason")
    return [ctx.event("appeal.paused", AppealPaused(reason=reason))]


def _resume(ctx: _Context, cmd: Resume) -> list[EventEnvelope]:
    appeal = ctx.appeal
    if appeal.paused_since is None:
        raise CommandRefused(409, f"{ctx.label} is not paused")
    since = appeal.paused_since
    deadlines = appeal.deadlines
    shifted = (
        shift_for_pause(deadlines, since, ctx.now, ctx.calendar, urgency=appeal.urgency)
        if deadlines is not None
        else None
    )
    data = AppealResumed(
        paused_seconds=max(0, int((ctx.now - since).total_seconds())),
        paused_working_minutes=working_minutes_between(since, ctx.now, ctx.calendar),
        deadlines=shifted.as_event_data() if shifted else {},
    )
    return [ctx.event("appeal.resumed", data)]


def _resolve(ctx: _Context, cmd: Resolve) -> list[EventEnvelope]:
    _require_running(ctx, cmd)
    result = _require_text(cmd.result, "a resolution's result")
    return [ctx.event("appeal.resolved", AppealResolved(result=result, solved=cmd.solved))]


_SATISFACTION = ("satisfied", "basically_satisfied", "unsatisfied")


def _review(ctx: _Context, cmd: Review) -> list[EventEnvelope]:
    if cmd.satisfaction not in _SATISFACTION:
        raise CommandRefused(
            422, f"satisfaction is one of {', '.join(_SATISFACTION)}, not {cmd.satisfaction!r}"
        )
    data = AppealReviewed(satisfaction=cmd.satisfaction, solved=cmd.solved, comment=cmd.comment)
    return [ctx.event("appeal.reviewed", data)]


def _reopen(ctx: _Context, cmd: Reopen) -> list[EventEnvelope]:
    appeal = ctx.appeal
    if appeal.satisfaction != "unsatisfied" and appeal.solved is not False:
        raise CommandRefused(
            409,
            f"{ctx.label} was reviewed {appeal.satisfaction} and solved; only an unsatisfied or "
            "unsolved review is reopened",
        )
    urgency = appeal.urgency or "normal"
    data = AppealReopened(
        reason=cmd.reason.strip(), deadlines=ctx.deadlines(urgency).as_event_data()
    )
    return [ctx.event("appeal.reopened", data)]


def _close(ctx: _Context, cmd: Close) -> list[EventEnvelope]:
    return [ctx.event("appeal.closed", AppealClosed(reason=cmd.reason.strip()))]


def _merge(ctx: _Context, cmd: Merge) -> list[EventEnvelope]:
    master = _require_text(cmd.master_id, "the master appeal's id")
    if master == ctx.appeal.id:
        raise CommandRefused(422, f"{ctx.label} cannot be merged into itself")
    return [ctx.event("appeal.merged", AppealMerged(master_id=master))]


_SUPERVISION_LEVEL: dict[str, str] = {
    "coordinator": "street",
    "dispatcher": "district",
    "district_admin": "district",
}


def _supervise(ctx: _Context, cmd: Supervise) -> list[EventEnvelope]:
    level = cmd.level if ctx.actor.role == "system" else _SUPERVISION_LEVEL.get(ctx.actor.role)
    if cmd.level != level:
        raise CommandRefused(
            403, f"a {ctx.actor.role} supervises at {level} level, not {cmd.level}"
        )
    note = _require_text(cmd.note, "a supervision note")
    return [ctx.event("appeal.supervised", AppealSupervised(level=cmd.level, note=note))]


def _acknowledge_supervision(ctx: _Context, cmd: AcknowledgeSupervision) -> list[EventEnvelope]:
    if not ctx.appeal.supervision_pending:
        raise CommandRefused(409, f"{ctx.label} has no supervision note awaiting acknowledgement")
    data = AppealSupervisionAcknowledged(note=cmd.note.strip())
    return [ctx.event("appeal.supervision_acknowledged", data)]


def _add_note(ctx: _Context, cmd: AddNote) -> list[EventEnvelope]:
    text = _require_text(cmd.text, "a note")
    if len(text) > MAX_NOTE_LENGTH:
        raise CommandRefused(422, f"a note is at most {MAX_NOTE_LENGTH} characters")
    return [ctx.event("appeal.note_added", AppealNoteAdded(text=text, internal=cmd.internal))]


def _record_overdue(ctx: _Context, cmd: RecordOverdue) -> list[EventEnvelope]:
    appeal = ctx.appeal
    # A paused clock cannot run late; the deadlines move when it resumes.
    if appeal.deadlines is None or appeal.paused_since is not None:
        return []
    reached = {
        "sign": appeal.signed_at,
        "respond": appeal.responded_at,
        "resolve": appeal.resolved_at,
    }
    done = {name for name in DEADLINE_NAMES if reached[name] is not None}
    due = missed(appeal.deadlines, ctx.now, set(appeal.overdue_flags) | done)
    return [
        ctx.event(
            "appeal.overdue",
            AppealOverdue(deadline=name, due_at=appeal.deadlines.get(name)),
        )
        for name in due
    ]


_HANDLERS: dict[type[Command], Callable[[_Context, Any], list[EventEnvelope]]] = {
    ApplyRoutingDecision: _apply_routing_decision,
    Dispatch: _dispatch,
    Sign: _sign,
    Respond: _respond,
    Return: _return,
    Reassign: _reassign,
    RequestExtension: _request_extension,
    ApproveExtension: _approve_extension,
    RejectExtension: _reject_extension,
    Pause: _pause,
    Resume: _resume,
    Resolve: _resolve,
    Review: _review,
    Reopen: _reopen,
    Close: _close,
    Merge: _merge,
    Supervise: _supervise,
    AcknowledgeSupervision: _acknowledge_supervision,
    AddNote: _add_note,
    RecordOverdue: _record_overdue,
}
