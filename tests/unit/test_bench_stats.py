"""The benchmark's arithmetic: percentiles, summaries and per-second rates."""

from __future__ import annotations

import math

import pytest

from services.bench.stats import per_second, percentile, rate, summarize


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [15.0, 20.0, 35.0, 40.0, 50.0]
    # numpy.percentile(values, q) with the default "linear" method gives these.
    assert percentile(values, 0) == 15.0
    assert percentile(values, 50) == 35.0
    assert percentile(values, 100) == 50.0
    assert percentile(values, 40) == pytest.approx(29.0)
    assert percentile(values, 95) == pytest.approx(48.0)


def test_percentile_ignores_input_order() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0


def test_percentile_of_nothing_is_not_a_number() -> None:
    assert math.isnan(percentile([], 99))


@pytest.mark.parametrize("q", [-1, 100.5])
def test_percentile_outside_0_100_is_refused(q: float) -> None:
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile([1.0], q)


def test_summary_is_in_milliseconds() -> None:
    summary = summarize([i / 1000 for i in range(1, 101)])  # 1 ms .. 100 ms
    assert summary["count"] == 100
    assert summary["p50"] == pytest.approx(50.5)
    assert summary["p99"] == pytest.approx(99.0, abs=0.1)
    assert summary["max"] == 100.0
    assert summary["mean"] == pytest.approx(50.5)


def test_summary_of_nothing_has_no_figures() -> None:
    summary = summarize([])
    assert summary["count"] == 0
    assert math.isnan(summary["p95"])


def test_per_second_buckets_drop_what_is_outside_the_window() -> None:
    assert per_second([10.0, 10.5, 11.2, 12.9, 13.0, 9.9], 10.0, 13.0) == [2, 1, 1]


def test_rate_of_an_empty_window_is_zero() -> None:
    assert rate(10, 0) == 0.0
    assert rate(10, 4) == 2.5
