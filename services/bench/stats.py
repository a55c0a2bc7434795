"""Latency percentiles and rates: the arithmetic behind every figure the benchmark prints."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

__all__ = ["LatencySummary", "per_second", "percentile", "rate", "summarize"]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks.

    The same definition as numpy's default ("linear"), so figures can be checked by hand:
    rank = q/100 * (n - 1), interpolated between the two neighbouring sorted values. NaN when
    there are no values (an empty run has no latency, not a latency of zero).
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = q / 100 * (len(ordered) - 1)
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class LatencySummary(dict[str, float]):
    """count, mean, p50, p90, p95, p99, max (milliseconds, from values in seconds)."""


def summarize(seconds: Sequence[float]) -> LatencySummary:
    """Percentiles in milliseconds, rounded to 0.1 ms."""
    ordered = sorted(seconds)
    summary = LatencySummary(count=float(len(ordered)))
    if not ordered:
        for key in ("mean", "p50", "p90", "p95", "p99", "max"):
            summary[key] = math.nan
        return summary
    summary["mean"] = round(sum(ordered) / len(ordered) * 1000, 1)
    for q in (50, 90, 95, 99):
        summary[f"p{q}"] = round(percentile(ordered, q) * 1000, 1)
    summary["max"] = round(ordered[-1] * 1000, 1)
    return summary


def rate(count: int | float, seconds: float) -> float:
    """Events per second, 0 for an empty window."""
    return float(count) / seconds if seconds > 0 else 0.0


def per_second(timestamps: Iterable[float], start: float, end: float) -> list[int]:
    """How many timestamps fall in each whole second of [start, end)."""
    buckets = [0] * max(0, math.ceil(end - start))
    for t in timestamps:
        index = math.floor(t - start)
        if 0 <= index < len(buckets):
            buckets[index] += 1
    return buckets
