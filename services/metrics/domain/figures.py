"""Figures per (level, key, period): counts, rates, percentiles, composite score, rankings.

``aggregate(facts, level, period)`` turns folded ``AppealFacts`` into one ``LevelFigures`` per
bucket; the reports API calls it on the live facts and ``appeals metrics rebuild`` on facts
replayed from the MongoDB event log, so both give the same numbers. docs/metrics.md states each
definition; the short form:

============ ============================================ =========================================
rate         numerator / denominator                      an appeal counts in the period of
============ ============================================ =========================================
on_time_sign signed by sign_by / sign deadlines due       its sign deadline (current assignment)
response     first response by respond_by / respond due   its respond deadline (current assignment)
resolution   solved=true reviews / valid callbacks        its latest review (回访)
satisfaction (satisfied + 0.9 × basically) / callbacks    its latest review
closure      closed by resolve_by / resolve deadlines due its resolve deadline (after extensions)
return       returned assignments / assignments           the assignment's dispatch
reopen       reopened appeals / appeals first resolved    its first resolution
============ ============================================ =========================================

With ``as_of`` given, a deadline that has not passed and is not met yet is left out of its
denominator (it is still undecided); without it, every deadline due in the period counts. An
appeal merged into another or transferred to 110/119/120 is in no deadline rate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, NamedTuple

from services.metrics.domain.facts import NONE, OPEN_STATES, AppealFacts, Place
from services.metrics.domain.formulas import (
    Period,
    Ranked,
    RankEntry,
    Weights,
    composite_score,
    percentile,
    period_key,
    rank,
    ratio,
    wilson_interval,
)

__all__ = [
    "BASICALLY_SATISFIED_WEIGHT",
    "LEVELS",
    "MIN_SAMPLE",
    "RANKABLE",
    "RATES",
    "Bucket",
    "Counters",
    "Level",
    "LevelFigures",
    "aggregate",
    "current_figures",
    "ranking",
    "street_ranking",
    "unit_ranking",
]

Level = Literal["city", "district", "street", "community", "unit"]
LEVELS: tuple[Level, ...] = ("city", "district", "street", "community", "unit")
RATES = ("on_time_sign", "response", "resolution", "satisfaction", "closure", "return", "reopen")
# Rates where higher is better; a ranking by return or reopen rate would need the upper bound.
RANKABLE = ("composite", "on_time_sign", "response", "resolution", "satisfaction", "closure")
BASICALLY_SATISFIED_WEIGHT = 0.9
# Below this many cases a unit is shown but not ranked ("insufficient data").
MIN_SAMPLE = 20
CITY_KEY = "city"


class Bucket(NamedTuple):
    """The key of one figure set: the entity's code at its level and the period key."""

    key: str
    period: str


@dataclass
class Counters:
    """Raw tallies of one bucket, filled by ``aggregate``; every rate is a ratio of two."""

    received: int = 0
    dispatched: int = 0
    returned: int = 0
    backlog: Counter[str] = field(default_factory=Counter)
    sign_seconds: list[float] = field(default_factory=list)
    response_seconds: list[float] = field(default_factory=list)
    resolution_seconds: list[float] = field(default_factory=list)
    sign_due: int = 0
    signed_on_time: int = 0
    respond_due: int = 0
    responded_on_time: int = 0
    resolve_due: int = 0
    closed_on_time: int = 0
    callbacks: int = 0
    satisfied: int = 0
    basically_satisfied: int = 0
    unsatisfied: int = 0
    solved: int = 0
    first_resolved: int = 0
    reopened: int = 0
    overdue: Counter[str] = field(default_factory=Counter)
    districts: set[str] = field(default_factory=set)
    streets: set[str] = field(default_factory=set)

    def proportions(self) -> dict[str, tuple[float, int]]:
        """Each rate as (numerator, denominator)."""
        satisfied = self.satisfied + BASICALLY_SATISFIED_WEIGHT * self.basically_satisfied
        return {
            "on_time_sign": (self.signed_on_time, self.sign_due),
            "response": (self.responded_on_time, self.respond_due),
            "resolution": (self.solved, self.callbacks),
            "satisfaction": (satisfied, self.callbacks),
            "closure": (self.closed_on_time, self.resolve_due),
            "return": (self.returned, self.dispatched),
            "reopen": (self.reopened, self.first_resolved),
        }


@dataclass(frozen=True)
class LevelFigures:
    """The figures of one entity (unit, community, street, district or the city) in one period.

    ``rates`` maps each name of ``RATES`` to its value (None without a denominator);
    ``samples`` to its denominator; ``intervals`` to its 95 % Wilson interval. ``district`` and
    ``street`` name the entity's parents (``"none"`` where not applicable or not unique).
    ``composite_lower`` is the composite score computed from the three rates' lower bounds,
    and ``composite_sample`` the smallest of their denominators: what a fair ranking uses.
    """

    level: Level
    key: str
    period: Period
    period_key: str
    district: str
    street: str
    counters: Counters
    rates: dict[str, float | None]
    samples: dict[str, int]
    intervals: dict[str, tuple[float, float]]
    percentiles: dict[str, float | None]
    composite: float | None
    composite_lower: float | None
    composite_sample: int

    @property
    def backlog(self) -> dict[str, int]:
        """Open appeals of this bucket's intake by current state (a snapshot of now)."""
        return {state: self.counters.backlog[state] for state in OPEN_STATES}


def aggregate(
    facts: Iterable[AppealFacts],
    level: Level,
    period: Period,
    *,
    as_of: datetime | None = None,
    weights: Weights = Weights(),
    district: str | None = None,
    street: str | None = None,
) -> dict[Bucket, LevelFigures]:
    """Figures per (entity at ``level``, period) from folded facts.

    ``district``/``street`` keep only what happened in that district/street (for rankings of
    the streets of a district, or of the units of a street).
    """
    buckets: dict[Bucket, Counters] = {}

    def counters(place: Place, at: datetime) -> Counters | None:
        if district is not None and place.district != district:
            return None
        if street is not None and place.street != street:
            return None
        bucket = Bucket(_key(place, level), period_key(at, period))
        found = buckets.get(bucket)
        if found is None:
            found = buckets[bucket] = Counters()
        found.districts.add(place.district)
        found.streets.add(place.street)
        return found

    for appeal in facts:
        _tally(appeal, counters, as_of)
    return {
        bucket: _figures(level, period, bucket, tallies, weights)
        for bucket, tallies in sorted(buckets.items())
    }


def current_figures(
    facts: Iterable[AppealFacts],
    period: Period,
    *,
    at: datetime,
    weights: Weights = Weights(),
) -> list[LevelFigures]:
    """The figures of every level for the day or month containing ``at``, judged as of ``at``."""
    facts = list(facts)
    wanted = period_key(at, period)
    return [
        figures
        for level in LEVELS
        for bucket, figures in aggregate(facts, level, period, as_of=at, weights=weights).items()
        if bucket.period == wanted
    ]


def _key(place: Place, level: Level) -> str:
    if level == "city":
        return CITY_KEY
    code: str = getattr(place, level)
    return code


# The bucket look-up ``aggregate`` hands to ``_tally``: None when a filter leaves the place out.
_CountersAt = Callable[[Place, datetime], Counters | None]


def _tally(appeal: AppealFacts, counters: _CountersAt, as_of: datetime | None) -> None:
    place = appeal.place
    if appeal.received_at is not None and (c := counters(place, appeal.received_at)):
        c.received += 1
        if appeal.is_open:
            c.backlog[appeal.state] += 1
    for assignment in appeal.assignments:
        if c := counters(assignment.place, assignment.dispatched_at):
            c.dispatched += 1
            c.returned += assignment.returned_at is not None
        for missed in assignment.overdue:
            if c := counters(assignment.place, missed.due_at):
                c.overdue[missed.deadline] += 1
    start = appeal.dispatched_at
    if start is not None:
        for done, seconds_of in (
            (appeal.signed_at, "sign_seconds"),
            (appeal.responded_at, "response_seconds"),
            (appeal.resolved_at, "resolution_seconds"),
        ):
            if done is not None and (c := counters(place, done)):
                getattr(c, seconds_of).append((done - start).total_seconds())
    if appeal.state not in ("merged", "transferred"):
        for due, done, due_field, met_field in (
            (appeal.sign_by, appeal.signed_at, "sign_due", "signed_on_time"),
            (appeal.respond_by, appeal.responded_at, "respond_due", "responded_on_time"),
            (appeal.resolve_by, appeal.closed_at, "resolve_due", "closed_on_time"),
        ):
            if due is None or (as_of is not None and done is None and due > as_of):
                continue
            if c := counters(place, due):
                setattr(c, due_field, getattr(c, due_field) + 1)
                met = done is not None and done <= due
                setattr(c, met_field, getattr(c, met_field) + met)
    if appeal.reviewed_at is not None and (c := counters(place, appeal.reviewed_at)):
        c.callbacks += 1
        c.solved += bool(appeal.solved)
        if appeal.satisfaction == "satisfied":
            c.satisfied += 1
        elif appeal.satisfaction == "basically_satisfied":
            c.basically_satisfied += 1
        else:
            c.unsatisfied += 1
    if appeal.resolved_at is not None and (c := counters(place, appeal.resolved_at)):
        c.first_resolved += 1
        c.reopened += appeal.reopened_count > 0


def _figures(
    level: Level, period: Period, bucket: Bucket, c: Counters, weights: Weights
) -> LevelFigures:
    proportions = c.proportions()
    rates = {name: ratio(num, den) for name, (num, den) in proportions.items()}
    intervals = {name: wilson_interval(num, den) for name, (num, den) in proportions.items()}
    lowers = (intervals[name][0] if proportions[name][1] else None for name in _COMPOSITE)
    response_lower, resolution_lower, satisfaction_lower = lowers
    return LevelFigures(
        level=level,
        key=bucket.key,
        period=period,
        period_key=bucket.period,
        district=_only(c.districts) if level != "city" else NONE,
        street=_only(c.streets) if level in ("community", "unit") else NONE,
        counters=c,
        rates=rates,
        samples={name: den for name, (_num, den) in proportions.items()},
        intervals=intervals,
        percentiles={
            f"{name}_p{int(q * 100)}": percentile(getattr(c, f"{name}_seconds"), q)
            for name in ("sign", "response", "resolution")
            for q in (0.5, 0.9)
        },
        composite=composite_score(
            rates["response"], rates["resolution"], rates["satisfaction"], weights
        ),
        composite_lower=composite_score(
            response_lower, resolution_lower, satisfaction_lower, weights
        ),
        composite_sample=min(proportions[name][1] for name in _COMPOSITE),
    )


_COMPOSITE = ("response", "resolution", "satisfaction")


def _only(values: set[str]) -> str:
    return next(iter(values)) if len(values) == 1 else NONE


# ------------------------------------------------------------------------------ rankings


def ranking(
    figures: Iterable[LevelFigures], *, by: str = "composite", min_sample: int = MIN_SAMPLE
) -> list[Ranked]:
    """Rank entities by the lower bound of ``by`` (a rate of ``RANKABLE`` or "composite")."""
    if by not in RANKABLE:
        raise ValueError(f"cannot rank by {by!r}; choose one of {RANKABLE}")
    entries = []
    for f in figures:
        if by == "composite":
            entries.append(RankEntry(f.key, f.composite, f.composite_lower, f.composite_sample))
        else:
            sample = f.samples[by]
            lower = f.intervals[by][0] if sample else None
            entries.append(RankEntry(f.key, f.rates[by], lower, sample))
    return rank(entries, min_sample)


def street_ranking(
    facts: Iterable[AppealFacts],
    *,
    district: str,
    month: str,
    by: str = "composite",
    min_sample: int = MIN_SAMPLE,
    weights: Weights = Weights(),
    as_of: datetime | None = None,
) -> list[Ranked]:
    """The monthly ranking of a district's streets (``month`` like ``2024-03``)."""
    figures = aggregate(facts, "street", "month", as_of=as_of, weights=weights, district=district)
    return ranking(
        (f for b, f in figures.items() if b.period == month), by=by, min_sample=min_sample
    )


def unit_ranking(
    facts: Iterable[AppealFacts],
    *,
    street: str,
    month: str,
    by: str = "composite",
    min_sample: int = MIN_SAMPLE,
    weights: Weights = Weights(),
    as_of: datetime | None = None,
) -> list[Ranked]:
    """The monthly ranking of the units that handled a street's appeals."""
    figures = aggregate(facts, "unit", "month", as_of=as_of, weights=weights, street=street)
    return ranking(
        (f for b, f in figures.items() if b.period == month), by=by, min_sample=min_sample
    )
