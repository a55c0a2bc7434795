"""Pure logic of the judge's figures: choosing a threshold from routed outcomes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.routing.domain.evaluation import best_threshold, threshold_curve
from services.routing.domain.router import RouteOutcome, RouteRequest


@dataclass(frozen=True)
class _Case:
    id: str
    request: RouteRequest
    expected: Mapping[str, Any] = field(default_factory=dict)


def _outcome(unit: str | None, confidence: float) -> RouteOutcome:
    return RouteOutcome(
        street="S", community="S-C01", district="D", matter="m", unit=unit, co_handlers=(),
        urgency="normal", triage=unit is None, transfer=None, dispatch_center=None,
        confidence=confidence, reasons=(),
    )  # fmt: skip


def _cases(
    rows: list[tuple[str | None, str | None, float]],
) -> tuple[list[_Case], list[RouteOutcome]]:
    """(expected unit, routed unit, confidence) -> cases and outcomes."""
    cases = [_Case(f"A{i}", RouteRequest("x"), {"unit": e}) for i, (e, _, _) in enumerate(rows)]
    outcomes = [_outcome(u, c) for _, u, c in rows]
    return cases, outcomes


def test_widest_coverage_above_the_precision_floor() -> None:
    # Right at 0.9, 0.8, 0.6; wrong at 0.5; right at 0.3; wrong at 0.2.
    rows = [("U1", "U1", 0.9), ("U1", "U1", 0.8), ("U2", "U2", 0.6), ("U1", "U2", 0.5),
            ("U3", "U3", 0.3), ("U1", "U3", 0.2)]  # fmt: skip
    cases, outcomes = _cases(rows)
    best = best_threshold(cases, outcomes, 0.99)
    assert best is not None
    # Everything above the first wrong one: 3 of 6 appeals, at the highest such threshold.
    assert best["dispatched"] == 3 and best["wrong"] == 0
    assert best["coverage"] == 0.5 and best["threshold"] == 0.6
    # A looser floor lets the first wrong one and the right one below it through: 4/5 = 0.8.
    loose = best_threshold(cases, outcomes, 0.8)
    assert loose is not None and loose["dispatched"] == 5 and loose["threshold"] == 0.3


def test_no_threshold_when_the_most_confident_is_wrong() -> None:
    cases, outcomes = _cases([("U1", "U2", 0.95), ("U1", "U1", 0.5)])
    assert best_threshold(cases, outcomes, 0.99) is None


def test_triaged_outcomes_and_missing_units_count_for_coverage_only() -> None:
    # The second appeal was triaged (no unit): it lowers coverage, never precision.
    cases, outcomes = _cases([("U1", "U1", 0.7), ("U2", None, 0.0), (None, None, 0.0)])
    curve = threshold_curve(cases, outcomes, [0.0, 0.5])
    assert [r["precision"] for r in curve] == [1.0, 1.0]
    assert [r["coverage"] for r in curve] == [0.5, 0.5]
    best = best_threshold(cases, outcomes)
    assert best is not None and best["threshold"] == 0.7 and best["coverage"] == 0.5
