"""fold: attribution, deadlines, idempotency; aggregate's as_of and place filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.metrics.domain import AppealFacts, Place, aggregate, fold, unit_ranking
from shared.events import Actor, EventEnvelope

T0 = datetime(2024, 3, 10, 2, 0, tzinfo=UTC)
DISTRICTS = {"S1": "D1", "S1-U1": "D1", "S1-U2": "D1"}


def ev(
    n: int, type_: str, hours: float, data: dict[str, Any] | None = None, **where: Any
) -> EventEnvelope:
    return EventEnvelope(
        event_id=f"e{n}",
        type=type_,
        schema_version=1,
        appeal_id="A1",
        occurred_at=T0 + timedelta(hours=hours),
        actor=Actor(kind="system", id="test"),
        data=data or {},
        **where,
    )


def dispatched(n: int, hours: float, unit: str) -> EventEnvelope:
    at = T0 + timedelta(hours=hours)
    deadlines = {
        "sign_by": (at + timedelta(hours=2)).isoformat(),
        "respond_by": (at + timedelta(hours=24)).isoformat(),
        "resolve_by": (at + timedelta(days=5)).isoformat(),
    }
    data = {
        "matter": "m.x",
        "urgency": "normal",
        "lead_unit": unit,
        "by": "router",
        "deadlines": deadlines,
    }
    return ev(n, "appeal.dispatched", hours, data, street="S1", community="S1-C1", unit=unit)


def play(events: list[EventEnvelope]) -> AppealFacts:
    facts: AppealFacts | None = None
    for event in events:
        facts = fold(facts, event, DISTRICTS)
    assert facts is not None
    return facts


RECEIVED = ev(1, "appeal.received", 0, {"channel": "web", "tracking_no": "T1", "text": "x"})


def test_a_redispatch_starts_sign_and_response_afresh_and_charges_the_return() -> None:
    facts = play(
        [
            RECEIVED,
            dispatched(2, 1, "S1-U1"),
            ev(3, "appeal.signed", 4, street="S1", unit="S1-U1"),
            ev(
                4,
                "appeal.overdue",
                3.1,
                {"deadline": "sign", "due_at": (T0 + timedelta(hours=3)).isoformat()},
            ),
            ev(
                5, "appeal.returned", 5, {"reason": "no", "returned_by": "S1-U1", "return_count": 1}
            ),
            dispatched(6, 6, "S1-U2"),
            ev(7, "appeal.signed", 6.5, street="S1", unit="S1-U2"),
        ]
    )
    assert facts.place == Place(district="D1", street="S1", community="S1-C1", unit="S1-U2")
    assert facts.signed_at == T0 + timedelta(hours=6.5)
    assert facts.sign_by == T0 + timedelta(hours=8)
    assert facts.overdue == frozenset()  # the sign overdue was the first unit's
    assert [a.place.unit for a in facts.assignments] == ["S1-U1", "S1-U2"]
    assert [a.returned_at is not None for a in facts.assignments] == [True, False]
    assert [len(a.overdue) for a in facts.assignments] == [1, 0]
    units = aggregate([facts], "unit", "month")
    first = next(f for b, f in units.items() if b.key == "S1-U1")
    second = next(f for b, f in units.items() if b.key == "S1-U2")
    assert (first.rates["return"], first.counters.overdue["sign"]) == (1.0, 1)
    assert (second.rates["return"], second.rates["on_time_sign"]) == (0.0, 1.0)
    assert first.samples["on_time_sign"] == 0  # sign timeliness belongs to the current unit


def test_extension_moves_the_resolve_deadline_and_reopening_undoes_closure() -> None:
    base = [RECEIVED, dispatched(2, 1, "S1-U1")]
    extended_to = T0 + timedelta(days=9)
    facts = play(
        [
            *base,
            ev(
                3,
                "appeal.extended",
                30,
                {
                    "workdays": 3,
                    "approved_by": "S1",
                    "deadlines": {"resolve_by": extended_to.isoformat()},
                },
            ),
            ev(4, "appeal.resolved", 24 * 7, {"result": "ok"}),
            ev(5, "appeal.reviewed", 24 * 7 + 1, {"satisfaction": "unsatisfied", "solved": False}),
            ev(6, "appeal.closed", 24 * 7 + 2),
        ]
    )
    assert facts.resolve_by == extended_to
    assert facts.closed_at is not None and facts.solved is False  # closed, yet not solved
    reopened = fold(facts, ev(7, "appeal.reopened", 24 * 7 + 3), DISTRICTS)
    assert reopened.closed_at is None and reopened.reopened_count == 1 and reopened.is_open
    (city,) = aggregate([facts], "city", "month").values()
    assert city.rates["closure"] == 1.0 and city.rates["resolution"] == 0.0


def test_fold_is_idempotent_and_refuses_another_appeal() -> None:
    facts = play([RECEIVED, dispatched(2, 1, "S1-U1")])
    assert fold(facts, RECEIVED) is facts
    other = RECEIVED.model_copy(update={"appeal_id": "A2", "event_id": "x"})
    with pytest.raises(ValueError):
        fold(facts, other)


def test_as_of_leaves_undecided_deadlines_out() -> None:
    facts = play([RECEIVED, dispatched(2, 1, "S1-U1")])  # sign_by = T0 + 3h, not signed
    before = aggregate([facts], "city", "day", as_of=T0 + timedelta(hours=2))
    after = aggregate([facts], "city", "day", as_of=T0 + timedelta(hours=4))
    ever = aggregate([facts], "city", "day")
    assert [f.samples["on_time_sign"] for f in before.values()] == [0]
    assert [f.rates["on_time_sign"] for f in after.values()] == [0.0]
    # Without as_of every deadline counts, in its own day: respond and resolve fall later.
    assert [(b.period, f.rates["on_time_sign"]) for b, f in ever.items()] == [
        ("2024-03-10", 0.0),
        ("2024-03-11", None),
        ("2024-03-15", None),
    ]


def test_merged_and_transferred_appeals_are_in_no_deadline_rate() -> None:
    facts = play(
        [RECEIVED, dispatched(2, 1, "S1-U1"), ev(3, "appeal.merged", 2, {"master_id": "A0"})]
    )
    (city,) = aggregate([facts], "city", "month").values()
    assert city.counters.received == 1 and city.samples["on_time_sign"] == 0
    assert sum(city.backlog.values()) == 0


def test_unit_ranking_keeps_only_the_street(month: Any) -> None:
    table: dict[str, AppealFacts] = {}
    from metrics_month import district_map

    for event in month.events:
        table[event.appeal_id] = fold(table.get(event.appeal_id), event, district_map())
    rows = unit_ranking(table.values(), street="D2-S1", month="2024-03")
    assert {r.entry.key for r in rows} == {"D2-S1-U1", "D2-S1-U2", "D2-S1-U3"}
    assert rows[-1].entry.key == "D2-S1-U3" and rows[-1].status == "insufficient_data"
