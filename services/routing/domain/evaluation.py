"""Judging the router on labelled appeals: cross-validated figures and curves.

The judge's questions (issue 8): of the appeals dispatched automatically, how many went to the
right unit (*precision*); of the appeals that have a unit, how many were dispatched at all
(*coverage*); was every emergency transferred; was anything dispatched that should not be.
The labelled set is never scored on itself: ``cross_validate`` trains on the catalog plus the
other folds and routes each fold once. Routing happens at threshold 0 so that every threshold's
precision and coverage can be read from the same run (``threshold_curve``).
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shared.city import MatterCatalog

from .router import LabelledAppeal, RouteOutcome, Router, RouteRequest

__all__ = [
    "Case",
    "CrossValidation",
    "best_threshold",
    "cross_validate",
    "held_out",
    "learning_curve",
    "score",
    "threshold_curve",
]

DEFAULT_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(20))
FINE_THRESHOLDS = tuple(round(0.01 * i, 2) for i in range(100))
RouterFactory = Callable[[Sequence[LabelledAppeal]], Router]


class Case(Protocol):
    """A labelled appeal: what the router sees and what was right."""

    @property
    def id(self) -> str: ...
    @property
    def request(self) -> RouteRequest: ...
    @property
    def expected(self) -> Mapping[str, Any]: ...


def _example(case: Case) -> LabelledAppeal | None:
    matter = case.expected.get("matter")
    if not matter:
        return None
    return LabelledAppeal(
        case.request.text,
        matter,
        case.request.address,
        case.request.location,
        case.expected.get("unit"),
    )


def _dispatched_at(outcome: RouteOutcome, threshold: float) -> bool:
    return outcome.dispatched and outcome.confidence >= threshold


def score(
    cases: Sequence[Case],
    outcomes: Sequence[RouteOutcome],
    catalog: MatterCatalog,
    threshold: float,
) -> dict[str, Any]:
    """The judge's figures for outcomes routed at threshold 0, read at ``threshold``."""
    if len(cases) != len(outcomes):
        raise ValueError("one outcome per case")
    n = len(cases)
    if n == 0:
        raise ValueError("no cases to score")
    transfer_of = {m.code: m.transfer_number for m in catalog.matters}
    right = Counter[str]()
    dispatched = wrong_unit = dispatched_without_unit = have_unit = 0
    emergencies = emergencies_transferred = false_transfers = 0
    for case, outcome in zip(cases, outcomes, strict=True):
        exp = case.expected
        is_dispatched = _dispatched_at(outcome, threshold)
        unit = outcome.unit if is_dispatched else None
        for key, got in (
            ("street", outcome.street),
            ("community", outcome.community),
            ("matter", outcome.matter),
            ("unit", unit),
            ("urgency", outcome.urgency),
        ):
            right[key] += got == exp.get(key)
        if exp.get("unit") is not None:
            have_unit += 1
        if is_dispatched:
            dispatched += 1
            if exp.get("unit") is None:
                dispatched_without_unit += 1
            elif unit != exp.get("unit"):
                wrong_unit += 1
            elif tuple(outcome.co_handlers) == tuple(exp.get("co_handlers") or ()):
                right["co_handlers_when_right"] += 1
        number = transfer_of.get(exp.get("matter") or "")
        if number:
            emergencies += 1
            emergencies_transferred += outcome.transfer == number
        elif outcome.transfer is not None:
            false_transfers += 1
    correct = dispatched - wrong_unit - dispatched_without_unit
    triaged = sum(1 for o in outcomes if o.transfer is None and not _dispatched_at(o, threshold))
    return {
        "cases": n,
        "threshold": threshold,
        "street_accuracy": round(right["street"] / n, 4),
        "community_accuracy": round(right["community"] / n, 4),
        "matter_accuracy": round(right["matter"] / n, 4),
        "unit_accuracy": round(right["unit"] / n, 4),
        "urgency_accuracy": round(right["urgency"] / n, 4),
        "triage_rate": round(triaged / n, 4),
        "dispatched": dispatched,
        "dispatched_right": correct,
        "dispatched_wrong_unit": wrong_unit,
        "dispatched_without_unit": dispatched_without_unit,
        "appeals_with_unit": have_unit,
        "precision": round(correct / dispatched, 4) if dispatched else 1.0,
        "coverage": round(dispatched / have_unit, 4) if have_unit else 0.0,
        "co_handlers_right_when_unit_right": (
            round(right["co_handlers_when_right"] / correct, 4) if correct else 1.0
        ),
        "emergencies": emergencies,
        "emergencies_transferred": emergencies_transferred,
        "false_transfers": false_transfers,
    }


def threshold_curve(
    cases: Sequence[Case],
    outcomes: Sequence[RouteOutcome],
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
) -> list[dict[str, Any]]:
    """Precision and coverage of auto-dispatch at each threshold."""
    have_unit = sum(1 for c in cases if c.expected.get("unit") is not None)
    curve = []
    for t in thresholds:
        sent = [(c, o) for c, o in zip(cases, outcomes, strict=True) if _dispatched_at(o, t)]
        good = sum(1 for c, o in sent if o.unit == c.expected.get("unit"))
        curve.append(
            {
                "threshold": t,
                "dispatched": len(sent),
                "wrong": len(sent) - good,
                "precision": round(good / len(sent), 4) if sent else 1.0,
                "coverage": round(len(sent) / have_unit, 4) if have_unit else 0.0,
            }
        )
    return curve


def best_threshold(
    cases: Sequence[Case],
    outcomes: Sequence[RouteOutcome],
    min_precision: float = 0.99,
    thresholds: Sequence[float] = FINE_THRESHOLDS,
) -> dict[str, Any] | None:
    """The row of ``threshold_curve`` with the widest coverage at ``min_precision`` or better.

    Of thresholds with equal coverage the highest wins (the same appeals are dispatched, with a
    wider margin below them). None when no threshold dispatches anything that precisely.
    """
    rows = [
        r
        for r in threshold_curve(cases, outcomes, thresholds)
        if r["dispatched"] and r["precision"] >= min_precision
    ]
    if not rows:
        return None
    return max(rows, key=lambda r: (r["coverage"], r["threshold"]))


def confusion(
    cases: Sequence[Case], outcomes: Sequence[RouteOutcome], worst: int = 10
) -> list[dict[str, Any]]:
    """The matters most often misclassified, with what they were taken for."""
    errors: dict[str, Counter[str]] = defaultdict(Counter)
    totals = Counter[str]()
    for case, outcome in zip(cases, outcomes, strict=True):
        expected = case.expected.get("matter") or "(none)"
        totals[expected] += 1
        if outcome.matter != case.expected.get("matter"):
            errors[expected][outcome.matter or "(none)"] += 1
    ranked = sorted(errors.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    rows: list[dict[str, Any]] = [
        {
            "expected": code,
            "count": totals[code],
            "errors": sum(counter.values()),
            "taken_for": dict(counter.most_common()),
        }
        for code, counter in ranked
    ]
    return rows[:worst]


@dataclass(frozen=True)
class CrossValidation:
    """Out-of-fold outcomes (each case routed by a router that never saw it)."""

    cases: tuple[Case, ...]
    outcomes: tuple[RouteOutcome, ...]
    route_ms: float  # average wall-clock time to route one appeal
    route_cpu_ms: float  # average CPU time of this process to route one appeal
    train_s: float  # average time to build one router


def folds_of(n: int, k: int, seed: int = 8) -> list[int]:
    """A fold number for each of n cases (shuffled with a fixed seed, sizes differ by <= 1)."""
    if k < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    if n < k:
        raise ValueError(f"{n} cases cannot fill {k} folds")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    fold = [0] * n
    for rank, index in enumerate(order):
        fold[index] = rank % k
    return fold


def cross_validate(
    cases: Sequence[Case],
    factory: RouterFactory,
    folds: int = 5,
    *,
    fraction: float = 1.0,
    seed: int = 8,
) -> CrossValidation:
    """Route each fold with a router trained on the catalog plus ``fraction`` of the rest."""
    fold = folds_of(len(cases), folds, seed)
    outcomes: list[RouteOutcome | None] = [None] * len(cases)
    route_time = route_cpu = train_time = 0.0
    rng = random.Random(seed + 1)
    for f in range(folds):
        pool = [c for c, g in zip(cases, fold, strict=True) if g != f]
        rng.shuffle(pool)
        keep = pool[: round(len(pool) * fraction)]
        examples = [e for e in (_example(c) for c in keep) if e is not None]
        started = time.perf_counter()
        router = factory(examples)
        train_time += time.perf_counter() - started
        started, cpu = time.perf_counter(), time.process_time()
        for i, case in enumerate(cases):
            if fold[i] == f:
                outcomes[i] = router.route(case.request)
        route_time += time.perf_counter() - started
        route_cpu += time.process_time() - cpu
    done = tuple(o for o in outcomes if o is not None)
    return CrossValidation(
        cases=tuple(cases),
        outcomes=done,
        route_ms=round(route_time / len(cases) * 1000, 3),
        route_cpu_ms=round(route_cpu / len(cases) * 1000, 3),
        train_s=round(train_time / folds, 3),
    )


def learning_curve(
    cases: Sequence[Case],
    factory: RouterFactory,
    catalog: MatterCatalog,
    threshold: float,
    folds: int = 5,
    fractions: Sequence[float] = (0.0, 0.25, 0.5, 1.0),
) -> list[dict[str, Any]]:
    """How precision and coverage move as the labelled history grows."""
    rows = []
    for fraction in fractions:
        cv = cross_validate(cases, factory, folds, fraction=fraction)
        figures = score(cv.cases, cv.outcomes, catalog, threshold)
        rows.append(
            {
                "fraction": fraction,
                "training_appeals": round(len(cases) * (folds - 1) / folds * fraction),
                "precision": figures["precision"],
                "coverage": figures["coverage"],
                "matter_accuracy": figures["matter_accuracy"],
                "unit_accuracy": figures["unit_accuracy"],
            }
        )
    return rows


def held_out(
    cases: Sequence[Case],
    outcomes: Sequence[RouteOutcome],
    catalog: MatterCatalog,
    threshold: float,
) -> dict[str, Any]:
    """The judge's figures on appeals the router never saw (a probe file), for one router.

    The issue's target is read here: precision and coverage at ``threshold``, every emergency
    transferred, nothing dispatched that should not be, and the widest coverage at precision
    >= 0.99 (None when no threshold reaches it).
    """
    figures = score(cases, outcomes, catalog, threshold)
    best = best_threshold(cases, outcomes)
    return {
        "cases": figures["cases"],
        "precision": figures["precision"],
        "coverage": figures["coverage"],
        "matter_accuracy": figures["matter_accuracy"],
        "emergencies": figures["emergencies"],
        "emergencies_transferred": figures["emergencies_transferred"],
        "false_transfers": figures["false_transfers"],
        "dispatched_without_unit": figures["dispatched_without_unit"],
        "best_coverage_at_0_99": best["coverage"] if best else None,
        "best_threshold_at_0_99": best["threshold"] if best else None,
    }
