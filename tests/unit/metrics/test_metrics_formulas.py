"""Wilson intervals, composite score, fair ranking, periods and percentiles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.metrics.domain import (
    RankEntry,
    Weights,
    composite_score,
    percentile,
    period_key,
    rank,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        # Newcombe (1998), Statistics in Medicine 17:857-872, table II, method 3 (Wilson).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_published_values(
    successes: int, n: int, low: float, high: float
) -> None:
    got = wilson_interval(successes, n)
    assert got == pytest.approx((low, high), abs=5e-5)


def test_wilson_interval_edges() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(10, 10)[1] == 1.0
    low, high = wilson_interval(9.9, 12)  # fractional successes (basically satisfied x 0.9)
    assert 0 < low < 9.9 / 12 < high < 1
    z1 = wilson_interval(50, 100, z=1.0)
    z2 = wilson_interval(50, 100, z=2.58)
    assert z2[0] < z1[0] < 0.5 < z1[1] < z2[1]
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_composite_score_uses_the_weights() -> None:
    assert composite_score(1.0, 0.8, 0.9) == pytest.approx(100 * (0.1 + 0.4 + 0.36))
    heavy_response = Weights(response=0.5, resolution=0.25, satisfaction=0.25)
    assert composite_score(1.0, 0.0, 0.0, heavy_response) == pytest.approx(50)
    assert composite_score(None, 0.8, 0.9) is None
    with pytest.raises(ValueError):
        Weights(response=0.5, resolution=0.5, satisfaction=0.5)
    with pytest.raises(ValueError):
        Weights(response=-0.1, resolution=0.7, satisfaction=0.4)


def entry(key: str, successes: int, n: int) -> RankEntry:
    return RankEntry(key, successes / n, wilson_interval(successes, n)[0], n)


def test_two_perfect_cases_do_not_outrank_two_hundred_at_95_percent() -> None:
    small, big = entry("small", 2, 2), entry("big", 190, 200)
    assert small.score is not None and big.score is not None and small.score > big.score
    # Even with no minimum sample, the lower bound puts the big unit first.
    rows = rank([small, big], min_sample=1)
    assert [(r.entry.key, r.position) for r in rows] == [("big", 1), ("small", 2)]
    # With the usual minimum, the small unit is shown but not ranked.
    rows = rank([small, big], min_sample=20)
    assert [(r.entry.key, r.position, r.status) for r in rows] == [
        ("big", 1, "ranked"),
        ("small", None, "insufficient_data"),
    ]
    assert rows[1].entry.sample == 2


def test_rank_ties_share_a_position_and_missing_scores_are_unranked() -> None:
    rows = rank(
        [
            entry("b", 90, 100),
            entry("a", 90, 100),
            entry("c", 50, 100),
            RankEntry("d", None, None, 0),
        ],
        min_sample=10,
    )
    assert [(r.entry.key, r.position) for r in rows] == [("a", 1), ("b", 1), ("c", 3), ("d", None)]


def test_period_keys_are_shanghai_days_and_months() -> None:
    late_utc = datetime(2024, 3, 31, 16, 30, tzinfo=UTC)  # 00:30 on 1 April in Shanghai
    assert period_key(late_utc, "day") == "2024-04-01"
    assert period_key(late_utc, "month") == "2024-04"
    assert period_key(datetime(2024, 3, 31, 15, 59, tzinfo=UTC), "month") == "2024-03"
    with pytest.raises(ValueError):
        period_key(datetime(2024, 3, 31), "day")


def test_percentile_is_nearest_rank() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 0.5) == 3.0
    assert percentile(values, 0.9) == 5.0
    assert percentile(values, 0.2) == 1.0
    assert percentile([], 0.5) is None
