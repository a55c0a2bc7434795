"""Work-queue plans, masking, the sweeper's escalation policy and the status rate limit (pure).

The plans are checked two ways: their shape (what SecantusDB serves from an index: one state
equality, at most one range, no top-level $or/$and) and their meaning, by evaluating them
with a small matcher against documents of appeals driven through the real lifecycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.appeals.adapters.documents import appeal_fields
from services.appeals.domain.lifecycle import (
    OPEN_STATES,
    STATES,
    Pause,
    RequestExtension,
    Staff,
    State,
    Supervise,
)
from services.appeals.domain.queues import (
    DISTRICT_SECTIONS,
    STREET_SECTIONS,
    UNIT_QUEUES,
    QueueForbidden,
    QueuePlan,
    StreetSection,
    UnitQueue,
    district_plan,
    mask_email,
    mask_name,
    mask_phone,
    mask_text,
    queue_item,
    sort_key,
    street_plan,
    unit_plan,
)
from services.appeals.entrypoints.resident_api import RateLimiter, public_history
from services.appeals.service_layer.sweeper import SWEEPER, escalation_due
from tests.unit.appeals.appeals_world import (
    CALENDAR,
    CITY,
    COORDINATOR,
    DISPATCHER,
    LEAD,
    LEAD_STAFF,
    OPERATOR,
    START,
    STREET,
    Story,
    local,
    story_in,
)

NOW = START + timedelta(minutes=5)


def doc_of(story: Story) -> dict[str, Any]:
    return {
        **appeal_fields(story.appeal, CITY),
        "_id": story.appeal.id,
        "events": [e.model_dump() for e in story.events],
        "contact": {"name": "张三", "phone": "13812340000", "email": "zhang@example.org"},
    }


def _get(doc: Mapping[str, Any], dotted: str) -> Any:
    value: Any = doc
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _holds(op: str, arg: Any, value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    if op == "$ne":
        return arg not in values
    if op == "$in":
        return any(v in arg for v in values)
    if value is None:
        return False
    return bool({"$gt": value > arg, "$lt": value < arg, "$lte": value <= arg}[op])


def matches(doc: Mapping[str, Any], filt: Mapping[str, Any]) -> bool:
    """MongoDB semantics for the operators the plans use."""
    for key, cond in filt.items():
        value = _get(doc, key)
        if isinstance(cond, dict):
            if not all(_holds(op, arg, value) for op, arg in cond.items()):
                return False
        elif cond not in (value if isinstance(value, list) else [value]):
            return False
    return True


def in_plan(plan: QueuePlan, doc: Mapping[str, Any]) -> int:
    return sum(matches(doc, q.filter) for q in plan.queries)


def all_plans(now: datetime) -> list[QueuePlan]:
    plans = [unit_plan(q, LEAD, OPERATOR, CITY, now=now, due_soon_minutes=60) for q in UNIT_QUEUES]
    plans += [
        street_plan(s, STREET, COORDINATOR, CITY, now=now, due_soon_minutes=60)
        for s in STREET_SECTIONS
    ]
    plans += [district_plan(s, "JA", DISPATCHER, CITY) for s in DISTRICT_SECTIONS]
    return plans


def test_every_query_is_one_state_equality_plus_at_most_one_range_and_no_top_level_or() -> None:
    for plan in all_plans(NOW):
        for query in plan.queries:
            assert not {"$or", "$and", "$nor", "$expr"} & set(query.filter), plan.name
            assert isinstance(query.filter["state"], str), plan.name
            ranges = [
                k
                for k, v in query.filter.items()
                if isinstance(v, dict) and {"$gt", "$lt", "$lte", "$gte"} & set(v)
            ]
            assert len(ranges) <= 1, (plan.name, ranges)
            # the first key pins a desk: holder, street, district or co_handlers
            assert {"holder", "street", "district", "co_handlers"} & set(query.filter)


@pytest.mark.parametrize("state", [s for s in STATES if s in OPEN_STATES])
def test_unit_queues_are_disjoint_and_place_each_working_appeal_once(state: State) -> None:
    doc = doc_of(story_in(state))
    hits = {
        q: in_plan(unit_plan(q, LEAD, LEAD_STAFF, CITY, now=NOW, due_soon_minutes=30), doc)
        for q in ("new", "in_progress", "waiting")
    }
    expected = {"dispatched": "new", "signed": "in_progress", "responded": "in_progress"}
    if state in expected:
        assert hits == {q: int(q == expected[state]) for q in hits}
    else:
        assert sum(hits.values()) == 0


def test_paused_and_extension_pending_appeals_wait_and_leave_the_clock_queues() -> None:
    paused = story_in("signed")
    paused.do(Pause("居民出差，下周回来"), LEAD_STAFF)
    pending = story_in("responded")
    pending.do(RequestExtension("需要协调物业", 5), LEAD_STAFF)
    late = pending.appeal.deadlines.resolve_by + timedelta(hours=1)  # type: ignore[union-attr]
    for story, overdue in ((paused, 0), (pending, 1)):
        doc = doc_of(story)

        def plan(queue: UnitQueue, now: datetime = late) -> QueuePlan:
            return unit_plan(queue, LEAD, LEAD_STAFF, CITY, now=now, due_soon_minutes=30)

        assert in_plan(plan("waiting"), doc) == 1
        assert in_plan(plan("in_progress"), doc) == 0
        # a paused clock is never late; a pending extension does not stop it
        assert in_plan(plan("overdue"), doc) == overdue


def test_due_soon_and_overdue_follow_the_current_stage_deadline() -> None:
    story = story_in("dispatched")
    doc = doc_of(story)
    sign_by = story.appeal.deadlines.sign_by  # type: ignore[union-attr]

    def where(now: datetime) -> tuple[int, int]:
        soon = unit_plan("due_soon", LEAD, LEAD_STAFF, CITY, now=now, due_soon_minutes=30)
        late = unit_plan("overdue", LEAD, LEAD_STAFF, CITY, now=now, due_soon_minutes=30)
        return in_plan(soon, doc), in_plan(late, doc)

    assert where(sign_by - timedelta(minutes=31)) == (0, 0)
    assert where(sign_by - timedelta(minutes=29)) == (1, 0)
    assert where(sign_by + timedelta(seconds=1)) == (0, 1)
    # once signed, the respond deadline is the one that counts
    story_signed = story_in("signed")
    respond_by = story_signed.appeal.deadlines.respond_by  # type: ignore[union-attr]
    doc = doc_of(story_signed)
    assert where(sign_by + timedelta(seconds=1)) == (0, 0)
    assert where(respond_by + timedelta(seconds=1)) == (0, 1)


def test_coordinator_sees_returns_and_extensions_of_its_street() -> None:
    returned = doc_of(story_in("returned"))
    pending = story_in("signed")
    pending.do(RequestExtension("需要协调物业", 3), LEAD_STAFF)

    def plan(section: StreetSection) -> QueuePlan:
        return street_plan(section, STREET, COORDINATOR, CITY, now=NOW, due_soon_minutes=30)

    assert in_plan(plan("returns"), returned) == 1
    assert in_plan(plan("extensions"), doc_of(pending)) == 1
    assert in_plan(plan("open"), returned) == 1
    assert in_plan(plan("open"), doc_of(story_in("closed"))) == 0
    triage = doc_of(story_in("triage"))
    assert in_plan(district_plan("triage", "JA", DISPATCHER, CITY), triage) == 1


@pytest.mark.parametrize(
    ("staff", "unit", "allowed"),
    [
        (LEAD_STAFF, LEAD, True),
        (LEAD_STAFF, "JA-JAS-RM", False),
        (COORDINATOR, "JA-JAS-RM", True),
        (COORDINATOR, "JA-NJX-RM", False),
        (DISPATCHER, "JA-NJX-RM", True),
        (DISPATCHER, "PT-X-RM", False),
        (OPERATOR, "PT-X-RM", True),
        (Staff("v", "viewer", street="JA-NJX", district="JA"), LEAD, False),
        (Staff("r", "resident"), LEAD, False),
    ],
)
def test_unit_queues_respect_the_read_scope(staff: Staff, unit: str, allowed: bool) -> None:
    if allowed:
        unit_plan("new", unit, staff, CITY, now=NOW, due_soon_minutes=30)
    else:
        with pytest.raises(QueueForbidden):
            unit_plan("new", unit, staff, CITY, now=NOW, due_soon_minutes=30)


def test_street_and_district_views_respect_the_read_scope() -> None:
    with pytest.raises(QueueForbidden):
        street_plan("open", "JA-NJX", COORDINATOR, CITY, now=NOW, due_soon_minutes=30)
    with pytest.raises(QueueForbidden):
        street_plan("open", STREET, LEAD_STAFF, CITY, now=NOW, due_soon_minutes=30)
    with pytest.raises(QueueForbidden):
        district_plan("triage", "PT", DISPATCHER, CITY)
    with pytest.raises(QueueForbidden):
        district_plan("triage", "JA", COORDINATOR, CITY)
    # a district's staff get the district pinned into street queries too
    plan = street_plan("open", STREET, DISPATCHER, CITY, now=NOW, due_soon_minutes=30)
    assert all(q.filter["district"] == "JA" for q in plan.queries)


def test_masking() -> None:
    assert mask_phone("13800000000") == "138****0000"
    assert mask_phone("+86 138-1234-5678") == "861******5678"
    assert mask_phone("12345") == "***45"
    assert mask_name("张三丰") == "张**"
    assert mask_name("李") == "李*"
    assert mask_email("zhang@example.org") == "z***@example.org"
    assert mask_text("请回电13912345678，谢谢") == "请回电139****5678，谢谢"
    assert mask_text("门牌号120号") == "门牌号120号"


def test_queue_item_masks_personal_data_and_flags_lateness() -> None:
    story = story_in("dispatched")
    doc = doc_of(story)
    doc["text"] = "路灯坏了，回电13812340000"
    late = story.appeal.deadlines.sign_by + timedelta(minutes=1)  # type: ignore[union-attr]
    item = queue_item(doc, CITY, late)
    assert item["contact"] == {"name": "张*", "phone": "138****0000", "email": "z***@example.org"}
    assert "13812340000" not in str(item)
    assert item["overdue"] is True and item["due_at"] == story.appeal.deadlines.sign_by  # type: ignore[union-attr]
    assert queue_item(doc, CITY, NOW)["overdue"] is False


def test_sort_key_puts_missing_values_last() -> None:
    docs: list[dict[str, Any]] = [
        {"_id": "b", "x": None},
        {"_id": "a", "x": NOW},
        {"_id": "c", "x": START},
    ]
    assert [d["_id"] for d in sorted(docs, key=lambda d: sort_key(d, "x"))] == ["c", "a", "b"]


# ---------------------------------------------------------------------------- escalation


def test_escalation_is_street_then_district_after_n_working_days_once_each() -> None:
    resolve_by = local(2025, 11, 7, 17, 30)  # Friday
    events: list[dict[str, Any]] = []

    def due(now: datetime) -> str | None:
        return escalation_due(
            events,
            resolve_by=resolve_by,
            round_started=START,
            now=now,
            calendar=CALENDAR,
            district_after_workdays=2,
        )

    assert due(resolve_by) is None
    assert due(resolve_by + timedelta(minutes=1)) == "street"
    events.append(supervised("street", resolve_by + timedelta(minutes=1)))
    assert due(resolve_by + timedelta(days=2)) is None  # Sunday: no working day has passed
    assert due(local(2025, 11, 11, 17, 29)) is None  # Tuesday, not yet 2 working days
    assert due(local(2025, 11, 11, 17, 31)) == "district"
    events.append(supervised("district", local(2025, 11, 11, 17, 31)))
    assert due(local(2025, 12, 1)) is None


def test_escalation_of_an_earlier_round_or_by_a_person_does_not_count() -> None:
    resolve_by = local(2025, 11, 7, 17, 30)
    earlier = supervised("street", START - timedelta(days=1))
    by_person = {**supervised("street", START + timedelta(days=5)), "actor": {"id": "c-1"}}
    assert (
        escalation_due(
            [earlier, by_person],
            resolve_by=resolve_by,
            round_started=START,
            now=resolve_by + timedelta(hours=1),
            calendar=CALENDAR,
            district_after_workdays=2,
        )
        == "street"
    )


def supervised(level: str, at: datetime) -> dict[str, Any]:
    return {
        "type": "appeal.supervised",
        "actor": {"id": SWEEPER.id, "kind": "system"},
        "data": {"level": level, "note": "x"},
        "occurred_at": at,
    }


# ---------------------------------------------------------------------------- status page


def test_rate_limiter_allows_n_per_minute_per_client() -> None:
    limiter = RateLimiter(limit=3, period=60)
    assert [limiter.check("a", now=t) for t in (0, 1, 2)] == [None, None, None]
    wait = limiter.check("a", now=3)
    assert wait == pytest.approx(57)
    assert limiter.check("b", now=3) is None
    assert limiter.check("a", now=60.5) is None


def test_public_history_hides_internal_events_and_staff() -> None:
    story = story_in("signed")
    story.do(Supervise("street", "抓紧"), COORDINATOR)
    history = public_history([e.model_dump() for e in story.events], CITY)
    assert [h["type"] for h in history] == ["appeal.received", "appeal.dispatched", "appeal.signed"]
    assert history[1]["unit"] == LEAD
    assert "u-lead" not in str(history) and "op-1" not in str(history)
