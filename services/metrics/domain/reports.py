"""The reports' content, as plain data: figure rows, ranking rows, CSV, follow-up lists.

Pure functions over ``AppealFacts`` and ``LevelFigures``; the HTTP views (entrypoints/reports.py)
only pick the facts, call these and render the result as JSON, CSV or a printable page.

- ``scopes(facts)`` / ``scope(month, ...)``: the months and places an appeal touches, stored
  beside its facts in MongoDB so a report reads only the appeals that can count in it;
- ``figures_row`` / ``ranking_rows``: JSON-ready rows with every rate's sample size and 95 %
  Wilson interval; an entity below the minimum sample is listed as "insufficient data";
- ``flatten`` / ``to_csv``: the same rows as one CSV table;
- ``street_report`` / ``district_report``: the monthly assessment of a street's units (the
  bottom of the ranking and their overdue cases, listed for follow-up: 问责问效) and of a
  district's streets.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.metrics.domain.facts import AppealFacts
from services.metrics.domain.figures import (
    MIN_SAMPLE,
    RATES,
    LevelFigures,
    aggregate,
    ranking,
)
from services.metrics.domain.formulas import Ranked, Weights, period_key

__all__ = [
    "FollowUp",
    "figures_row",
    "flatten",
    "month_figures",
    "overdue_follow_up",
    "ranking_rows",
    "scope",
    "scopes",
    "to_csv",
]

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


def scope(month: str, *, district: str | None = None, street: str | None = None) -> str:
    """The key of one report scope: a month (``m:2024-03``), or a month in one district
    (``m:2024-03|d:<code>``) or one street (``m:2024-03|s:<code>``). Give at most one place."""
    if district is not None and street is not None:
        raise ValueError("a scope names a district or a street, not both")
    if district is not None:
        return f"m:{month}|d:{district}"
    if street is not None:
        return f"m:{month}|s:{street}"
    return f"m:{month}"


def scopes(facts: AppealFacts) -> list[str]:
    """Every report scope any figure of this appeal can count in (see ``scope``).

    Stored as one multikey array so a report finds its appeals through one index. Why one
    array and not indexed ``months``/``districts``/``streets`` fields: SecantusDB's insert cost
    grows with every index on the collection (10,000 facts: 1.7 s of server CPU with no
    secondary index, 4.8 s with three, 2.8 s with this one; BENCHMARKS.md, session 7), and
    the rebuild writes every appeal's facts.
    """
    times: list[datetime] = [t for name in _TIMES if (t := getattr(facts, name)) is not None]
    places = [facts.place]
    for assignment in facts.assignments:
        times.append(assignment.dispatched_at)
        times.extend(o.due_at for o in assignment.overdue)
        places.append(assignment.place)
    districts = sorted({p.district for p in places})
    streets = sorted({p.street for p in places})
    keys: list[str] = []
    for month in sorted({period_key(t, "month") for t in times}):
        keys.append(scope(month))
        keys.extend(scope(month, district=d) for d in districts)
        keys.extend(scope(month, street=s) for s in streets)
    return keys


def _number(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def figures_row(f: LevelFigures) -> dict[str, Any]:
    """One entity's figures of one period, JSON-ready."""
    c = f.counters
    return {
        "level": f.level,
        "key": f.key,
        "period": f.period,
        "period_key": f.period_key,
        "district": f.district,
        "street": f.street,
        "received": c.received,
        "dispatched": c.dispatched,
        "returned": c.returned,
        "backlog": f.backlog,
        "backlog_total": sum(f.backlog.values()),
        "overdue": {d: c.overdue[d] for d in ("sign", "respond", "resolve")},
        "callbacks": c.callbacks,
        "rates": {
            name: {
                "value": _number(f.rates[name]),
                "sample": f.samples[name],
                "ci_low": _number(f.intervals[name][0]) if f.samples[name] else None,
                "ci_high": _number(f.intervals[name][1]) if f.samples[name] else None,
            }
            for name in RATES
        },
        "percentiles_seconds": dict(f.percentiles),
        "composite": _number(f.composite, 4),
        "composite_lower": _number(f.composite_lower, 4),
        "composite_sample": f.composite_sample,
    }


def month_figures(
    facts: Iterable[AppealFacts],
    level: str,
    month: str,
    *,
    as_of: datetime | None,
    weights: Weights = Weights(),
    district: str | None = None,
    street: str | None = None,
) -> dict[str, LevelFigures]:
    """Figures of ``month`` per entity at ``level`` (units or streets), keyed by code."""
    found = aggregate(
        facts,
        level,  # type: ignore[arg-type]
        "month",
        as_of=as_of,
        weights=weights,
        district=district,
        street=street,
    )
    return {b.key: f for b, f in found.items() if b.period == month}


def ranking_rows(
    figures: Mapping[str, LevelFigures],
    *,
    by: str = "composite",
    min_sample: int = MIN_SAMPLE,
) -> list[dict[str, Any]]:
    """A ranking as rows: position (None for insufficient data), status, score and rates."""
    rows = []
    for ranked in ranking(figures.values(), by=by, min_sample=min_sample):
        rows.append(_ranking_row(ranked, figures[ranked.entry.key], by))
    return rows


def _ranking_row(ranked: Ranked, f: LevelFigures, by: str) -> dict[str, Any]:
    return {
        "position": ranked.position,
        "status": ranked.status,
        "key": ranked.entry.key,
        "by": by,
        "score": _number(ranked.entry.score, 4),
        "score_lower": _number(ranked.entry.lower, 4),
        "sample": ranked.entry.sample,
        **{k: v for k, v in figures_row(f).items() if k not in ("level", "key", "period")},
    }


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts become ``a.b`` columns (for CSV)."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows as CSV with a header; columns in first-seen order, empty cells for None."""
    flat = [flatten(r) for r in rows]
    columns: dict[str, None] = {}
    for r in flat:
        columns.update(dict.fromkeys(r))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for r in flat:
        writer.writerow({k: "" if v is None else v for k, v in r.items()})
    return out.getvalue()


@dataclass(frozen=True)
class FollowUp:
    """One missed deadline of a unit, listed for follow-up (问责问效)."""

    appeal_id: str
    unit: str
    deadline: str
    due_at: datetime
    state: str
    still_open: bool


def overdue_follow_up(
    facts: Iterable[AppealFacts], *, street: str, month: str, units: Iterable[str]
) -> list[FollowUp]:
    """The deadlines ``units`` missed in ``street`` that fell due in ``month``, by unit and time.

    A missed deadline is charged to the assignment that held the appeal then (docs/metrics.md),
    so a unit that later returned the appeal still answers for it.
    """
    wanted = set(units)
    found = []
    for appeal in facts:
        for assignment in appeal.assignments:
            place = assignment.place
            if place.street != street or place.unit not in wanted:
                continue
            for missed in assignment.overdue:
                if period_key(missed.due_at, "month") == month:
                    found.append(
                        FollowUp(
                            appeal_id=appeal.appeal_id,
                            unit=place.unit,
                            deadline=missed.deadline,
                            due_at=missed.due_at,
                            state=appeal.state,
                            still_open=appeal.is_open,
                        )
                    )
    found.sort(key=lambda f: (f.unit, f.due_at, f.appeal_id, f.deadline))
    return found
