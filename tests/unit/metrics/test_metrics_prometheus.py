"""build_metrics on a fresh registry: observe() after fold, backlog reload, figure gauges."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from metrics_month import SHANGHAI, Month, district_map
from prometheus_client import CollectorRegistry

from services.metrics.adapters.prometheus import build_metrics
from services.metrics.domain import AppealFacts, current_figures, fold


def replay(month: Month, registry: CollectorRegistry) -> dict[str, AppealFacts]:
    metrics = build_metrics(registry)
    table: dict[str, AppealFacts] = {}
    for event in month.events:
        before = table.get(event.appeal_id)
        table[event.appeal_id] = after = fold(before, event, district_map())
        metrics.observe(event, before, after)
    return table


def total(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """Sum of a family's samples named ``name`` whose labels include ``labels``."""
    return sum(
        s.value
        for family in registry.collect()
        for s in family.samples
        if s.name == name and labels.items() <= s.labels.items()
    )


def test_counters_count_each_event_once(month: Month) -> None:
    registry = CollectorRegistry()
    table = replay(month, registry)
    plans = month.plans
    assert len({e.event_id for e in month.events}) < len(month.events)
    assert total(registry, "appeals_received_total") == len(plans)
    assert total(registry, "appeals_received_total", channel="web") == sum(
        p.channel == "web" for p in plans
    )
    assert total(registry, "appeals_dispatched_total") == sum(len(p.dispatches) for p in plans)
    assert total(registry, "appeals_returned_total") == sum(
        d.returned_at is not None for p in plans for d in p.dispatches
    )
    overdue = Counter(k for p in plans for d in p.dispatches for k, _due in d.overdue)
    for deadline, count in overdue.items():
        assert total(registry, "appeals_overdue_total", deadline=deadline) == count
    assert total(registry, "appeals_reopened_total") == sum(p.reopened for p in plans)
    assert total(registry, "appeals_reviewed_total") == sum(len(p.reviews) for p in plans)
    assert total(registry, "appeals_reviewed_total", satisfaction="unsatisfied") == sum(
        r.satisfaction == "unsatisfied" for p in plans for r in p.reviews
    )
    # Every sign is observed, for the unit that signed, also one later returned.
    assert total(registry, "appeal_sign_seconds_count") == sum(
        d.sign_at is not None for p in plans for d in p.dispatches
    )
    assert total(registry, "appeal_resolution_seconds_count") == sum(
        p.resolved_at is not None for p in plans
    )
    # The 1-day bucket holds the signs made within a day: all of them here (4 h at most).
    assert total(registry, "appeal_sign_seconds_bucket", le="86400.0") == total(
        registry, "appeal_sign_seconds_count"
    )
    states = Counter(f.state for f in table.values() if f.is_open)
    for state, count in states.items():
        assert total(registry, "appeals_backlog", state=state) == count
    assert total(registry, "appeals_backlog", state="closed") == 0
    overdue_open = sum(1 for f in table.values() if f.is_open and f.overdue)
    assert total(registry, "appeals_overdue_backlog") == overdue_open > 0


def test_backlog_reload_matches_the_live_gauges(month: Month) -> None:
    live = CollectorRegistry()
    table = replay(month, live)
    restarted = CollectorRegistry()
    build_metrics(restarted).load_backlog(table.values())
    for name in ("appeals_backlog", "appeals_overdue_backlog"):
        live_samples = {
            tuple(sorted(s.labels.items())): s.value
            for f in live.collect()
            for s in f.samples
            if s.name == name and s.value
        }
        reloaded = {
            tuple(sorted(s.labels.items())): s.value
            for f in restarted.collect()
            for s in f.samples
            if s.name == name
        }
        assert live_samples == reloaded


def test_figure_gauges_follow_the_current_period(month: Month) -> None:
    registry = CollectorRegistry()
    metrics = build_metrics(registry, min_sample=20)
    table = replay(month, CollectorRegistry())
    march = datetime(2024, 3, 31, 23, 0, tzinfo=SHANGHAI)
    figures = current_figures(table.values(), "month", at=march)
    metrics.set_figures("month", figures)
    street = next(f for f in figures if f.level == "street" and f.key == "D1-S1")
    value = registry.get_sample_value(
        "appeals_rate",
        {
            "level": "street",
            "period": "month",
            "district": "D1",
            "street": "D1-S1",
            "community": "",
            "unit": "",
            "rate": "response",
        },
    )
    assert value == street.rates["response"]
    assert registry.get_sample_value(
        "appeals_composite_score",
        {
            "level": "city",
            "period": "month",
            "district": "",
            "street": "",
            "community": "",
            "unit": "",
        },
    ) == next(f.composite for f in figures if f.level == "city")
    ranks = {
        s.labels["unit"]: s.value
        for f in registry.collect()
        for s in f.samples
        if s.name == "appeals_rank"
        and s.labels["street"] == "D1-S1"
        and s.labels["level"] == "unit"
    }
    assert set(ranks.values()) == {1.0, 2.0} and "D1-S1-U3" not in ranks  # too few cases
    # Next month starts empty: last month's series disappear instead of lingering.
    metrics.set_figures(
        "month", current_figures(table.values(), "month", at=march + timedelta(days=45))
    )
    assert total(registry, "appeals_rate_denominator", street="D1-S1", rate="response") == 0
