"""The pure formulas behind the figures: periods, proportions, Wilson intervals, score, ranking.

Periods are calendar days and months in the city's time zone (Asia/Shanghai), so "March" means
what the district's assessment means by it, not a UTC month.

Ranking is fair to small units: a unit is ranked by the lower bound of the Wilson score
interval of its rate (or of its composite score), never by the point estimate, and a unit with
fewer cases than ``min_sample`` is listed as "insufficient data" without a position. So two
cases out of two (100 %, lower bound 34 %) do not outrank 190 out of 200 (95 %, lower bound
91 %).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = [
    "CITY_TZ",
    "Period",
    "RankEntry",
    "Ranked",
    "Weights",
    "composite_score",
    "percentile",
    "period_key",
    "ratio",
    "wilson_interval",
]

CITY_TZ = ZoneInfo("Asia/Shanghai")
Period = Literal["day", "month"]


def period_key(at: datetime, period: Period) -> str:
    """The day (``2024-03-05``) or month (``2024-03``) of an instant, in Asia/Shanghai."""
    if at.tzinfo is None:
        raise ValueError("period_key needs an aware datetime")
    local = at.astimezone(CITY_TZ)
    return local.strftime("%Y-%m-%d" if period == "day" else "%Y-%m")


def ratio(numerator: float, denominator: int) -> float | None:
    """``numerator / denominator``, or None when there is nothing to divide by."""
    return numerator / denominator if denominator else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q``-quantile (0 < q <= 1) of ``values``; None for no values.

    Nearest rank (the smallest value with at least ``q`` of the values at or below it) is used
    because it is always an observed duration, which is what a report reader expects.
    """
    if not 0 < q <= 1:
        raise ValueError("q must be in (0, 1]")
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def wilson_interval(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``successes / n`` (95 % for z = 1.96).

    ``successes`` may be fractional (the satisfaction rate counts a basically-satisfied review
    as 0.9). With ``n == 0`` nothing is known and the interval is (0, 1).
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Weights:
    """Weights of the composite score (综合得分); they sum to 1 so the score runs 0..100."""

    response: float = 0.1
    resolution: float = 0.5
    satisfaction: float = 0.4

    def __post_init__(self) -> None:
        parts = (self.response, self.resolution, self.satisfaction)
        if min(parts) < 0 or not math.isclose(sum(parts), 1.0, abs_tol=1e-9):
            raise ValueError(f"composite weights must be >= 0 and sum to 1, got {parts}")


def composite_score(
    response_rate: float | None,
    resolution_rate: float | None,
    satisfaction_rate: float | None,
    weights: Weights = Weights(),
) -> float | None:
    """100 × (w_r × response + w_res × resolution + w_s × satisfaction); None if a rate is.

    A missing rate is not read as zero (that would punish a unit with no reviews yet) nor
    dropped (that would rank it on its easy parts): the score is simply not given.
    """
    if response_rate is None or resolution_rate is None or satisfaction_rate is None:
        return None
    return 100 * (
        weights.response * response_rate
        + weights.resolution * resolution_rate
        + weights.satisfaction * satisfaction_rate
    )


@dataclass(frozen=True)
class RankEntry:
    """One candidate of a ranking: its score, its lower bound and how many cases it rests on."""

    key: str
    score: float | None
    lower: float | None
    sample: int


@dataclass(frozen=True)
class Ranked:
    """A ranking row; ``position`` is None for a row with insufficient data."""

    position: int | None
    entry: RankEntry
    status: Literal["ranked", "insufficient_data"]


def rank(entries: Iterable[RankEntry], min_sample: int) -> list[Ranked]:
    """Order entries by lower bound (then score, then key); small samples go last, unranked.

    Entries with the same lower bound and score share a position (competition ranking: 1, 1, 3).
    """
    eligible: list[RankEntry] = []
    insufficient: list[RankEntry] = []
    for entry in entries:
        ok = entry.sample >= min_sample and entry.lower is not None and entry.score is not None
        (eligible if ok else insufficient).append(entry)
    eligible.sort(key=lambda e: (-(e.lower or 0.0), -(e.score or 0.0), e.key))
    rows: list[Ranked] = []
    for index, entry in enumerate(eligible):
        previous = rows[-1] if rows else None
        tied = previous is not None and (previous.entry.lower, previous.entry.score) == (
            entry.lower,
            entry.score,
        )
        position = previous.position if tied and previous else index + 1
        rows.append(Ranked(position=position, entry=entry, status="ranked"))
    insufficient.sort(key=lambda e: (-e.sample, e.key))
    rows.extend(Ranked(position=None, entry=e, status="insufficient_data") for e in insufficient)
    return rows
