"""A small city, staff in and out of scope, and appeals driven into any lifecycle state.

The city is built in code (two districts, three streets) so these tests depend on no data
file. Appeals reach a state through ``decide`` and ``evolve`` exactly as the service will
drive them, starting on Monday 2025-11-03 09:00 Shanghai, a plain working week.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.appeals.domain.appeal import Appeal, evolve
from services.appeals.domain.lifecycle import (
    AcknowledgeSupervision,
    AddNote,
    ApplyRoutingDecision,
    ApproveExtension,
    Close,
    Command,
    Dispatch,
    Merge,
    Pause,
    Reassign,
    RecordOverdue,
    RejectExtension,
    Reopen,
    RequestExtension,
    Resolve,
    Respond,
    Resume,
    Return,
    Review,
    Role,
    Scope,
    Sign,
    Staff,
    State,
    Supervise,
    decide,
    district_of,
)
from services.appeals.domain.sla import WorkCalendar
from shared.city import (
    City,
    CityInfo,
    Department,
    District,
    Jurisdiction,
    Matter,
    MatterCatalog,
    Street,
    TimeLimits,
    Unit,
)
from shared.events import (
    AppealReceived,
    EventEnvelope,
    RoutingDecision,
    new_event,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = WorkCalendar()
APPEAL_ID = "A1"
LEAD = "JA-JAS-UE"
CO_HANDLER = "JA-JAS-CM"
OTHER_UNIT = "JA-JAS-RM"
COORDINATOR_UNIT = "JA-JAS-OPS"
STREET = "JA-JAS"
OTHER_STREET = "JA-NJX"
DISTRICT = "JA"
OTHER_DISTRICT = "PT"


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A Shanghai wall-clock time as an aware UTC instant."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


START = local(2025, 11, 3, 9, 0)


def _street(code: str, kinds: dict[str, str]) -> Street:
    return Street(
        code=code,
        name=f"{code}街道",
        units=tuple(
            Unit(code=f"{code}-{suffix}", name=f"{code}-{suffix}", kind=kind)
            for suffix, kind in kinds.items()
        ),
    )


def build_city() -> City:
    """Districts JA (streets JA-JAS, JA-NJX) and PT (street PT-X), and five matters."""
    kinds = {
        "OPS": "city_ops",
        "UE": "urban_enforcement",
        "CM": "community_mgmt",
        "RM": "road_maintenance",
    }
    jurisdiction = Jurisdiction(
        city=CityInfo(code="XX", name="XX市"),
        districts=(
            District(
                code="JA",
                name="静安区",
                dispatch_center="JA-DC",
                departments=(Department(code="JA-RMD", name="建管委", kind="road_maintenance"),),
                streets=(_street("JA-JAS", kinds), _street("JA-NJX", kinds)),
            ),
            District(
                code="PT",
                name="普陀区",
                dispatch_center="PT-DC",
                streets=(_street("PT-X", kinds),),
            ),
        ),
    )
    catalog = MatterCatalog(
        urgency={
            "urgent": TimeLimits(sign_minutes=30, respond_hours=2, resolve_workdays=1),
            "normal": TimeLimits(sign_minutes=120, respond_hours=24, resolve_workdays=5),
            "advice": TimeLimits(sign_minutes=240, respond_hours=48, resolve_workdays=15),
        },
        matters=(
            Matter(
                code="road.manhole_cover", name="井盖", urgency="urgent", owner="road_maintenance"
            ),
            Matter(
                code="noise.construction_night",
                name="夜间施工噪声",
                urgency="normal",
                owner="urban_enforcement",
            ),
            Matter(
                code="housing.group_rental",
                name="群租",
                urgency="normal",
                owner="city_ops",
                comprehensive=True,
            ),
            Matter(
                code="advice.greening", name="绿化建议", urgency="advice", owner="community_mgmt"
            ),
            Matter(
                code="emergency.fire",
                name="火灾（转119）",
                urgency="urgent",
                owner=None,
                out_of_scope=True,
            ),
        ),
    )
    return City.build(jurisdiction, catalog)


CITY = build_city()


# ---------------------------------------------------------------------------- people


def in_scope(role: Role, appeal: Appeal) -> Staff | None:
    """Someone of ``role`` whose post covers ``appeal``; None when no post can."""
    if role == "unit_staff":
        if appeal.lead_unit is None:
            return None
        return Staff("u-lead", "unit_staff", unit=appeal.lead_unit, street=appeal.street)
    if role == "coordinator":
        if appeal.street is None:
            return None
        return Staff("c-street", "coordinator", unit=f"{appeal.street}-OPS", street=appeal.street)
    if role in ("dispatcher", "district_admin"):
        district = district_of(appeal, CITY)
        if district is None:
            return None
        return Staff(f"{role}-{district}", role, unit=f"{district}-DC", district=district)
    return any_of(role)


def out_of_scope(role: Role, scope: Scope) -> Staff:
    """Someone of ``role`` whose post does not cover the world's appeal."""
    if scope in (Scope.LEAD_UNIT, Scope.HANDLERS):
        return Staff("u-other", role, unit=OTHER_UNIT, street=STREET, district=DISTRICT)
    if scope is Scope.STREET:
        return Staff(
            "c-other", role, unit=f"{OTHER_STREET}-OPS", street=OTHER_STREET, district=DISTRICT
        )
    if scope is Scope.DISTRICT:
        return Staff("d-other", role, unit="PT-DC", district=OTHER_DISTRICT)
    raise ValueError(f"every {role} is in scope {scope}")


def any_of(role: Role) -> Staff:
    """Someone of ``role`` with a post that would cover the world's appeal, were it allowed."""
    return Staff(f"{role}-1", role, unit=LEAD, street=STREET, district=DISTRICT)


ROUTER = Staff("routing", "system")
SWEEPER = Staff("sla-sweeper", "system")
RESIDENT = Staff("resident", "resident")
LEAD_STAFF = Staff("u-lead", "unit_staff", unit=LEAD, street=STREET, district=DISTRICT)
COORDINATOR = Staff(
    "c-street", "coordinator", unit=COORDINATOR_UNIT, street=STREET, district=DISTRICT
)
DISPATCHER = Staff("d-ja", "dispatcher", unit="JA-DC", district=DISTRICT)
OPERATOR = Staff("op-1", "operator")


# ---------------------------------------------------------------------------- a running appeal


@dataclass
class Story:
    """An appeal with its event log, advanced by commands one minute apart."""

    appeal: Appeal
    events: list[EventEnvelope] = field(default_factory=list)
    now: datetime = START

    def do(
        self, command: Command, actor: Staff, *, at: datetime | None = None
    ) -> list[EventEnvelope]:
        """Decide and apply; return the new events."""
        self.now = at or self.now + timedelta(minutes=1)
        produced = decide(self.appeal, command, actor, self.now, city=CITY, calendar=CALENDAR)
        for event in produced:
            self.appeal = evolve(self.appeal, event)
        self.events.extend(produced)
        return produced


def received(appeal_id: str = APPEAL_ID, at: datetime = START) -> Story:
    """A new hotline appeal."""
    event = new_event(
        "appeal.received",
        appeal_id=appeal_id,
        actor=Staff("op-1", "operator").as_actor(),
        data=AppealReceived(channel="hotline", tracking_no="T-0001", text="工地半夜打桩"),
        occurred_at=at,
    )
    return Story(appeal=evolve(None, event), events=[event], now=at)


def decision(
    *,
    unit: str | None = LEAD,
    triage: bool = False,
    transfer: str | None = None,
    urgency: str = "normal",
    decision_id: str = "dec-1",
) -> RoutingDecision:
    """A routing decision for the world's appeal."""
    return RoutingDecision.model_validate(
        {
            "decision_id": decision_id,
            "appeal_id": APPEAL_ID,
            "based_on_event_id": "ev-received",
            "decided_at": START,
            "street": STREET,
            "community": "JA-JAS-C01",
            "district": DISTRICT,
            "matter": "noise.construction_night" if transfer is None else "emergency.fire",
            "unit": None if triage or transfer else unit,
            "co_handlers": [CO_HANDLER] if unit == LEAD and not (triage or transfer) else [],
            "urgency": urgency,
            "triage": triage,
            "transfer": transfer,
            "dispatch_center": "JA-DC" if triage else None,
            "confidence": 0.4 if triage else 0.9,
        }
    )


def story_in(state: State) -> Story:
    """An appeal driven into ``state`` by the ordinary road there."""
    story = received()
    if state == "received":
        return story
    if state == "triage":
        story.do(ApplyRoutingDecision(decision(triage=True)), ROUTER)
        return story
    if state == "transferred":
        story.do(ApplyRoutingDecision(decision(transfer="119")), ROUTER)
        return story
    if state == "merged":
        story.do(Merge("A-MASTER"), OPERATOR)
        return story
    story.do(ApplyRoutingDecision(decision()), ROUTER)
    if state == "dispatched":
        return story
    story.do(Sign(), LEAD_STAFF)
    if state == "signed":
        return story
    if state == "returned":
        story.do(Return("不属于城管职责"), LEAD_STAFF)
        return story
    story.do(Respond("已电话联系"), LEAD_STAFF)
    if state == "responded":
        return story
    story.do(Resolve("已责令停工"), LEAD_STAFF)
    if state == "resolved":
        return story
    story.do(Review("unsatisfied", solved=False, comment="还在施工"), RESIDENT)
    if state == "reviewed":
        return story
    story.do(Close("区里决定结案"), DISPATCHER)
    assert state == "closed", state
    return story


# ---------------------------------------------------------------- one valid command each


def command_for(kind: type[Command], role: Role) -> Command:
    """A well-formed instance of every lifecycle command."""
    samples: dict[type[Command], Command] = {
        ApplyRoutingDecision: ApplyRoutingDecision(decision(decision_id="dec-new")),
        Dispatch: Dispatch(unit=LEAD, matter="noise.construction_night"),
        Sign: Sign(),
        Respond: Respond("已联系"),
        Return: Return("不是我们的"),
        Reassign: Reassign(unit=OTHER_UNIT),
        RequestExtension: RequestExtension("需要协调施工方", 3),
        ApproveExtension: ApproveExtension(),
        RejectExtension: RejectExtension("理由不足"),
        Pause: Pause("居民出差，无法入户"),
        Resume: Resume(),
        Resolve: Resolve("已处理"),
        Review: Review("satisfied", solved=True),
        Reopen: Reopen("居民不满意"),
        Close: Close("结案"),
        Merge: Merge("A-MASTER"),
        Supervise: Supervise(
            level="street" if role == "coordinator" else "district", note="请加快办理"
        ),
        AcknowledgeSupervision: AcknowledgeSupervision("收到"),
        AddNote: AddNote("现场核实中"),
        RecordOverdue: RecordOverdue(),
    }
    return samples[kind]


def prepare(kind: type[Command], story: Story) -> Story:
    """Raise the flag a command needs (a pending request, a pause, a supervision note)."""
    state = story.appeal.state
    if kind in (ApproveExtension, RejectExtension) and state in ("signed", "responded"):
        story.do(RequestExtension("需要协调施工方", 3), LEAD_STAFF)
    if kind is Resume and state in ("signed", "responded"):
        story.do(Pause("居民出差"), LEAD_STAFF)
    if kind is AcknowledgeSupervision and story.appeal.is_open and state != "received":
        story.do(Supervise(level="district", note="请加快"), DISPATCHER)
    return story
