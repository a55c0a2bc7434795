"""A generated month of appeals: the plan of each appeal (the known answer) and its events.

The plan says what happens to every appeal (who gets it, when it is signed, returned, reviewed
...); the events are written from the plan. Tests compute the expected figures from the plans
with their own code and compare them with what ``fold`` + ``aggregate`` make of the events, so
the two paths share nothing but the definitions in docs/metrics.md.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.events import (
    Actor,
    AppealClosed,
    AppealDispatched,
    AppealExtended,
    AppealExtensionRequested,
    AppealMerged,
    AppealOverdue,
    AppealReceived,
    AppealReopened,
    AppealResolved,
    AppealResponded,
    AppealReturned,
    AppealReviewed,
    AppealSigned,
    AppealTransferred,
    EventEnvelope,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
DISTRICTS = {"D1": ["D1-S1", "D1-S2"], "D2": ["D2-S1"]}
STAFF = Actor(kind="staff", id="tester")


def district_map() -> dict[str, str]:
    """Street and unit codes -> district code, as ``districts_of(city)`` would give."""
    mapping: dict[str, str] = {}
    for district, streets in DISTRICTS.items():
        for street in streets:
            mapping[street] = district
            for n in (1, 2, 3):
                mapping[f"{street}-U{n}"] = district
    return mapping


@dataclass
class Dispatch:
    """One planned assignment."""

    unit: str
    at: datetime
    sign_by: datetime
    respond_by: datetime
    resolve_by: datetime
    sign_at: datetime | None = None
    respond_at: datetime | None = None
    returned_at: datetime | None = None
    overdue: list[tuple[str, datetime]] = field(default_factory=list)


@dataclass
class Review:
    """One planned callback."""

    at: datetime
    satisfaction: str
    solved: bool


@dataclass
class Plan:
    """What happens to one appeal; the known answer of the figures."""

    appeal_id: str
    channel: str
    district: str
    street: str
    community: str
    received_at: datetime
    outcome: str = "normal"  # normal | transferred | merged
    dispatches: list[Dispatch] = field(default_factory=list)
    resolve_by: datetime | None = None  # after an extension
    resolved_at: datetime | None = None  # first resolution
    reviews: list[Review] = field(default_factory=list)
    reopened: bool = False
    closed_at: datetime | None = None
    state: str = "received"


@dataclass
class Month:
    """The generated month: plans (answers) and events (input), duplicates included."""

    plans: list[Plan]
    events: list[EventEnvelope]


def _pick(rng: random.Random, weighted: dict[str, float]) -> str:
    return rng.choices(list(weighted), weights=list(weighted.values()))[0]


def generate_month(seed: int = 12345, appeals: int = 600) -> Month:
    """Plan ``appeals`` appeals received in March 2024 (Shanghai time) and write their events."""
    rng = random.Random(seed)
    start = datetime(2024, 3, 1, tzinfo=SHANGHAI)
    plans: list[Plan] = []
    events: list[EventEnvelope] = []
    for n in range(appeals):
        district = rng.choice(sorted(DISTRICTS))
        street = rng.choice(DISTRICTS[district])
        # Small units exist on purpose: U3 gets few appeals, like a real office would.
        units = [f"{street}-U1", f"{street}-U2", f"{street}-U3"]
        plan = Plan(
            appeal_id=f"A{n:04d}",
            channel=rng.choice(["web", "hotline", "open311"]),
            district=district,
            street=street,
            community=f"{street}-C{rng.randint(1, 2)}",
            received_at=start + timedelta(seconds=rng.randint(0, 31 * 86400 - 1)),
        )
        writer = _Writer(plan, events)
        writer.emit(
            "appeal.received",
            plan.received_at,
            AppealReceived(channel=plan.channel, tracking_no=plan.appeal_id, text="路灯不亮"),
            placed=False,
        )
        roll = rng.random()
        if roll < 0.04:
            plan.outcome = plan.state = "transferred"
            writer.emit(
                "appeal.transferred",
                plan.received_at + timedelta(minutes=3),
                AppealTransferred(to="110"),
                placed=False,
            )
        elif roll < 0.07:
            plan.outcome = plan.state = "merged"
            writer.emit(
                "appeal.merged",
                plan.received_at + timedelta(minutes=5),
                AppealMerged(master_id="A0000"),
                placed=False,
            )
        else:
            _play(rng, plan, writer, units)
        plans.append(plan)
    # Redeliveries: at-least-once delivery repeats some events later in the stream.
    for event in rng.sample(events, len(events) // 10):
        events.append(event)
    events.sort(key=lambda e: e.occurred_at)
    return Month(plans=plans, events=events)


def _play(rng: random.Random, plan: Plan, writer: _Writer, units: list[str]) -> None:
    at = plan.received_at + timedelta(minutes=rng.randint(1, 180))
    unit = _pick(rng, {units[0]: 0.6, units[1]: 0.37, units[2]: 0.03})
    first = writer.dispatch(unit, at)
    plan.state = "dispatched"
    if rng.random() < 0.02:
        # Never signed: the sign deadline passes and the appeal waits, overdue.
        writer.overdue(first, "sign", first.sign_by)
        return
    signed = writer.sign(rng, first)
    if rng.random() < 0.1:
        writer.emit(
            "appeal.returned",
            signed + timedelta(minutes=10),
            AppealReturned(reason="不属于本单位", returned_by=unit, return_count=1),
        )
        first.returned_at = signed + timedelta(minutes=10)
        plan.state = "returned"
        other = next(u for u in units if u != unit)
        current = writer.dispatch(other, first.returned_at + timedelta(minutes=30))
        plan.state = "dispatched"
        signed = writer.sign(rng, current)
    else:
        current = first
    plan.state = "signed"
    respond_at = signed + timedelta(minutes=rng.randint(10, 36 * 60))
    if respond_at > current.respond_by:
        writer.overdue(current, "respond", current.respond_by)
    writer.emit("appeal.responded", respond_at, AppealResponded(message="已联系"))
    current.respond_at = respond_at
    plan.state = "responded"
    if rng.random() < 0.05:
        return  # still being worked on
    plan.resolve_by = current.resolve_by
    last = respond_at
    if rng.random() < 0.05:
        writer.emit(
            "appeal.extension_requested",
            last + timedelta(minutes=5),
            AppealExtensionRequested(reason="需协调", workdays=3),
        )
        plan.resolve_by = current.resolve_by + timedelta(days=3)
        last = last + timedelta(minutes=10)
        writer.emit(
            "appeal.extended",
            last,
            AppealExtended(
                workdays=3, approved_by="D1-S1-U1", deadlines={"resolve_by": plan.resolve_by}
            ),
        )
    resolved = last + timedelta(minutes=rng.randint(60, 7 * 86400 // 60))
    if resolved > plan.resolve_by:
        writer.overdue(current, "resolve", plan.resolve_by)
    writer.emit("appeal.resolved", resolved, AppealResolved(result="已修复"))
    plan.resolved_at = resolved
    plan.state = "resolved"
    if rng.random() < 0.1:
        return  # the resident could not be reached: no valid callback
    review = writer.review(rng, resolved + timedelta(minutes=rng.randint(60, 2 * 1440)))
    if review.satisfaction == "unsatisfied" and rng.random() < 0.5:
        plan.reopened = True
        writer.emit("appeal.reopened", review.at + timedelta(minutes=30), AppealReopened())
        again = review.at + timedelta(days=1)
        writer.emit("appeal.resolved", again, AppealResolved(result="再次处理"))
        review = writer.review(rng, again + timedelta(days=1))
    if rng.random() < 0.95:
        plan.closed_at = review.at + timedelta(hours=1)
        writer.emit("appeal.closed", plan.closed_at, AppealClosed())
        plan.state = "closed"


class _Writer:
    """Writes one plan's events in order, with the envelope the appeals service would stamp."""

    def __init__(self, plan: Plan, events: list[EventEnvelope]) -> None:
        self.plan = plan
        self.events = events
        self.unit: str | None = None

    def emit(self, type_: str, at: datetime, data: Any, *, placed: bool = True) -> None:
        plan = self.plan
        self.events.append(
            EventEnvelope(
                event_id=f"{plan.appeal_id}-{len(self.events)}",
                type=type_,
                schema_version=1,
                appeal_id=plan.appeal_id,
                occurred_at=at,
                actor=STAFF,
                street=plan.street if placed else None,
                community=plan.community if placed else None,
                unit=self.unit if placed else None,
                data=data.model_dump(mode="json"),
            )
        )

    def dispatch(self, unit: str, at: datetime) -> Dispatch:
        planned = Dispatch(
            unit=unit,
            at=at,
            sign_by=at + timedelta(hours=2),
            respond_by=at + timedelta(hours=24),
            resolve_by=at + timedelta(days=5),
        )
        self.unit = unit
        self.emit(
            "appeal.dispatched",
            at,
            AppealDispatched(
                matter="road.lamp",
                urgency="normal",
                lead_unit=unit,
                by="router",
                deadlines={
                    "sign_by": planned.sign_by,
                    "respond_by": planned.respond_by,
                    "resolve_by": planned.resolve_by,
                },
            ),
        )
        self.plan.dispatches.append(planned)
        return planned

    def overdue(self, dispatch: Dispatch, deadline: str, due: datetime) -> None:
        dispatch.overdue.append((deadline, due))
        self.emit(
            "appeal.overdue",
            due + timedelta(seconds=1),
            AppealOverdue(deadline=deadline, due_at=due),
        )

    def sign(self, rng: random.Random, dispatch: Dispatch) -> datetime:
        signed = dispatch.at + timedelta(minutes=rng.randint(1, 240))
        if signed > dispatch.sign_by:
            self.overdue(dispatch, "sign", dispatch.sign_by)
        self.emit("appeal.signed", signed, AppealSigned())
        dispatch.sign_at = signed
        return signed

    def review(self, rng: random.Random, at: datetime) -> Review:
        satisfaction = _pick(
            rng, {"satisfied": 0.7, "basically_satisfied": 0.2, "unsatisfied": 0.1}
        )
        solved = satisfaction != "unsatisfied" and rng.random() < 0.95
        review = Review(at=at, satisfaction=satisfaction, solved=solved)
        self.emit("appeal.reviewed", at, AppealReviewed(satisfaction=satisfaction, solved=solved))
        self.plan.reviews.append(review)
        self.plan.state = "reviewed"
        return review
