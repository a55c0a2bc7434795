"""Every Prometheus series of the metrics service, built by one factory on a given registry.

``build_metrics(registry)`` creates all collectors (so a test uses a fresh
``CollectorRegistry`` and the dashboards' test can list every name that exists). The faust
entrypoint then calls:

- ``observe(event, before, after)`` after each ``fold``: counters, duration histograms and the
  backlog gauges move only when the event was new, so a redelivered event counts once;
- ``load_backlog(facts)`` at start-up, because gauges start at zero in a new process while the
  facts table survived;
- ``set_figures(period, figures)`` on a timer with ``current_figures(...)`` of the domain: the
  rate, Wilson lower bound, sample-size, composite-score, rank and period-count gauges (the
  counts are absolute numbers from the facts, so unlike the counters they survive a restart);
- ``consumed / invalid / dead_letter / set_lag`` for pipeline health.

The duration histograms observe every sign and first response, each for the unit that made it
(a unit that signs and then returns the appeal is observed too); the reports' percentiles keep
only the current assignment's (docs/metrics.md).

Labels are bounded by the city's jurisdiction: district, street and unit codes, plus a few
enumerations. Communities appear only on the per-level figure gauges (one series per community
and rate), never on counters or histograms, which would multiply the bucket series.
"""

from __future__ import annotations

import contextlib
from collections import Counter as Tally
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.metrics.domain import (
    MIN_SAMPLE,
    NONE,
    RATES,
    AppealFacts,
    LevelFigures,
    Place,
    ranking,
)
from shared.events import EventEnvelope
from shared.pipeline_metrics import PipelineMetrics

__all__ = ["DURATION_BUCKETS", "AppealMetrics", "build_metrics"]

PLACE = ("district", "street", "unit")
FIGURE_LABELS = ("level", "period", "district", "street", "community", "unit")
RANK_LABELS = ("level", "period", "district", "street", "unit")
# Seconds from one minute to a month: signing is counted in minutes, resolution in work weeks.
DURATION_BUCKETS = (
    60.0,
    300.0,
    900.0,
    1800.0,
    3600.0,
    2 * 3600.0,
    4 * 3600.0,
    8 * 3600.0,
    86400.0,
    2 * 86400.0,
    3 * 86400.0,
    5 * 86400.0,
    7 * 86400.0,
    14 * 86400.0,
    30 * 86400.0,
)

_Key = tuple[str, ...]


@dataclass
class AppealMetrics:
    """The collectors of the metrics service and the methods that move them."""

    received: Counter
    dispatched: Counter
    returned: Counter
    reopened: Counter
    resolved: Counter
    closed: Counter
    reviewed: Counter
    overdue: Counter
    backlog: Gauge
    overdue_backlog: Gauge
    sign_seconds: Histogram
    response_seconds: Histogram
    resolution_seconds: Histogram
    rate: Gauge
    rate_denominator: Gauge
    rate_lower_bound: Gauge
    composite_score: Gauge
    composite_score_lower_bound: Gauge
    rank: Gauge
    count: Gauge
    events_consumed: Counter
    events_invalid: Counter
    consumer_lag: Gauge
    dead_letters: Counter
    state_restored: Counter
    min_sample: int = MIN_SAMPLE
    # Label sets written by the last set_figures of each period, to drop stale ones next time.
    _figure_series: dict[str, dict[str, set[_Key]]] = field(default_factory=dict, repr=False)
    # The backlog gauges' values, so a label set that drops to zero is removed: the gauges then
    # read the same whether moved event by event or reloaded from the facts after a restart.
    _backlog_counts: Tally[_Key] = field(default_factory=Tally, repr=False)
    _overdue_counts: Tally[_Key] = field(default_factory=Tally, repr=False)

    # ---------------------------------------------------------------- appeal lifecycle

    def observe(self, event: EventEnvelope, before: AppealFacts | None, after: AppealFacts) -> None:
        """Move the series for one event just folded (``before`` -> ``after``); once per event."""
        if before is not None and event.event_id in before.seen:
            return
        here = _place(after.place)
        kind = event.type
        if _counted_as_received(after) and not _counted_as_received(before):
            self.received.labels(*here, after.channel).inc()
        if kind == "appeal.dispatched":
            self.dispatched.labels(*here).inc()
        elif kind == "appeal.returned" and after.current is not None:
            self.returned.labels(*_place(after.current.place)).inc()
        elif kind == "appeal.overdue" and after.current is not None:
            missed = after.current.overdue[-1].deadline if after.current.overdue else None
            if missed is not None:
                self.overdue.labels(*_place(after.current.place), missed).inc()
        elif kind == "appeal.resolved":
            self.resolved.labels(*here).inc()
        elif kind == "appeal.reviewed" and after.satisfaction is not None:
            solved = "true" if after.solved else "false"
            self.reviewed.labels(*here, after.satisfaction, solved).inc()
        elif kind == "appeal.reopened":
            self.reopened.labels(*here).inc()
        elif kind == "appeal.closed":
            self.closed.labels(*here).inc()
        self._observe_durations(before, after)
        _move(self.backlog, self._backlog_counts, _backlog_key(before), _backlog_key(after))
        _move(self.overdue_backlog, self._overdue_counts, _overdue_key(before), _overdue_key(after))

    def _observe_durations(self, before: AppealFacts | None, after: AppealFacts) -> None:
        start = after.dispatched_at
        if start is None:
            return
        for histogram, name in (
            (self.sign_seconds, "signed_at"),
            (self.response_seconds, "responded_at"),
            (self.resolution_seconds, "resolved_at"),
        ):
            done = getattr(after, name)
            if done is not None and (before is None or getattr(before, name) is None):
                histogram.labels(*_place(after.place)).observe((done - start).total_seconds())

    def load_backlog(self, facts: Iterable[AppealFacts]) -> None:
        """Set the backlog gauges from the whole facts table (at start-up, after a rebuild)."""
        self.backlog.clear()
        self.overdue_backlog.clear()
        self._backlog_counts.clear()
        self._overdue_counts.clear()
        for appeal in facts:
            _move(self.backlog, self._backlog_counts, None, _backlog_key(appeal))
            _move(self.overdue_backlog, self._overdue_counts, None, _overdue_key(appeal))

    # ---------------------------------------------------------------- figures per level

    def set_figures(self, period: str, figures: Iterable[LevelFigures]) -> None:
        """Replace the figure gauges of ``period`` ("day"/"month") with these figures.

        Pass the figures of every level for the current period only; series of entities no
        longer present (last month's, say) are removed.
        """
        written: dict[str, set[_Key]] = {}

        def put(gauge: Gauge, name: str, key: _Key, value: float | None) -> None:
            if value is None:
                return
            gauge.labels(*key).set(value)
            written.setdefault(name, set()).add(key)

        figures = list(figures)
        for f in figures:
            base = _figure_key(f, period)
            for rate in RATES:
                key = (*base, rate)
                put(self.rate, "rate", key, f.rates[rate])
                put(self.rate_denominator, "rate_denominator", key, f.samples[rate])
                lower = f.intervals[rate][0] if f.samples[rate] else None
                put(self.rate_lower_bound, "rate_lower_bound", key, lower)
            put(self.composite_score, "composite_score", base, f.composite)
            put(self.composite_score_lower_bound, "composite_lower", base, f.composite_lower)
            for figure, value in _counts(f).items():
                put(self.count, "count", (*base, figure), value)
        for level, parent in (("street", "district"), ("unit", "street")):
            groups: dict[str, list[LevelFigures]] = {}
            for f in figures:
                if f.level == level:
                    groups.setdefault(getattr(f, parent), []).append(f)
            for group in groups.values():
                by_key = {f.key: f for f in group}
                for row in ranking(group, min_sample=self.min_sample):
                    if row.position is not None:
                        key = _rank_key(by_key[row.entry.key], period)
                        put(self.rank, "rank", key, row.position)
        previous = self._figure_series.get(period, {})
        for name, gauge in self._figure_gauges().items():
            for stale in previous.get(name, set()) - written.get(name, set()):
                gauge.remove(*stale)
        self._figure_series[period] = written

    def _figure_gauges(self) -> dict[str, Gauge]:
        return {
            "rate": self.rate,
            "rate_denominator": self.rate_denominator,
            "rate_lower_bound": self.rate_lower_bound,
            "composite_score": self.composite_score,
            "composite_lower": self.composite_score_lower_bound,
            "rank": self.rank,
            "count": self.count,
        }

    # ---------------------------------------------------------------- pipeline health

    def consumed(self, service: str, event_type: str) -> None:
        """Count one event a service consumed."""
        self.events_consumed.labels(service, event_type).inc()

    def invalid(self, service: str) -> None:
        """Count one message a service could not decode."""
        self.events_invalid.labels(service).inc()

    def dead_letter(self, service: str, topic: str) -> None:
        """Count one message a service sent to a dead-letter topic."""
        self.dead_letters.labels(service, topic).inc()

    def restored(self, service: str) -> None:
        """Count one appeal whose lost facts were rebuilt from the event log."""
        self.state_restored.labels(service).inc()

    def set_lag(self, service: str, topic: str, partition: int, lag: int) -> None:
        """Record a consumer's lag (end offset - committed offset) on one partition."""
        self.consumer_lag.labels(service, topic, str(partition)).set(lag)


def build_metrics(registry: CollectorRegistry, *, min_sample: int = MIN_SAMPLE) -> AppealMetrics:
    """Create every collector of the metrics service on ``registry``."""

    def counter(name: str, doc: str, *extra: str) -> Counter:
        return Counter(name, doc, (*PLACE, *extra), registry=registry)

    def histogram(name: str, doc: str) -> Histogram:
        return Histogram(name, doc, PLACE, buckets=DURATION_BUCKETS, registry=registry)

    def gauge(name: str, doc: str, labels: tuple[str, ...]) -> Gauge:
        return Gauge(name, doc, labels, registry=registry)

    # The same pipeline-health series as routing and notify (shared/pipeline_metrics.py).
    pipeline = PipelineMetrics(registry)

    return AppealMetrics(
        received=counter("appeals_received", "Appeals received (诉求受理).", "channel"),
        dispatched=counter("appeals_dispatched", "Dispatches (派单) to a unit."),
        returned=counter("appeals_returned", "Returns (退单), charged to the returning unit."),
        reopened=counter("appeals_reopened", "Reopenings (重办) after an unsatisfied review."),
        resolved=counter("appeals_resolved", "Resolutions (办结) reported by units."),
        closed=counter("appeals_closed", "Closures (结案)."),
        reviewed=counter(
            "appeals_reviewed",
            "Valid callbacks (回访) by satisfaction and whether the resident says it is solved.",
            "satisfaction",
            "solved",
        ),
        overdue=counter("appeals_overdue", "Missed deadlines, one per deadline.", "deadline"),
        backlog=gauge(
            "appeals_backlog", "Open appeals by current state (积压).", (*PLACE, "state")
        ),
        overdue_backlog=gauge(
            "appeals_overdue_backlog",
            "Open appeals whose current assignment has missed a deadline.",
            PLACE,
        ),
        sign_seconds=histogram("appeal_sign_seconds", "Dispatch to sign (签收)."),
        response_seconds=histogram(
            "appeal_response_seconds", "Dispatch to first contact with the resident."
        ),
        resolution_seconds=histogram(
            "appeal_resolution_seconds", "Dispatch to first resolution (办结)."
        ),
        rate=gauge("appeals_rate", "A rate of docs/metrics.md, 0..1.", (*FIGURE_LABELS, "rate")),
        rate_denominator=gauge(
            "appeals_rate_denominator",
            "The number of cases a rate rests on.",
            (*FIGURE_LABELS, "rate"),
        ),
        rate_lower_bound=gauge(
            "appeals_rate_lower_bound",
            "Lower end of the rate's 95% Wilson interval.",
            (*FIGURE_LABELS, "rate"),
        ),
        composite_score=gauge(
            "appeals_composite_score", "Composite score (综合得分), 0..100.", FIGURE_LABELS
        ),
        composite_score_lower_bound=gauge(
            "appeals_composite_score_lower_bound",
            "Composite score from the rates' Wilson lower bounds; what rankings use.",
            FIGURE_LABELS,
        ),
        rank=gauge(
            "appeals_rank",
            "Position of a street in its district or a unit in its street (sufficient data only).",
            RANK_LABELS,
        ),
        count=gauge(
            "appeals_count",
            "Counts of the period from the facts (absolute, survive restarts): received, "
            "dispatched, returned, overdue, callbacks, resolved (first), reopened, backlog.",
            (*FIGURE_LABELS, "figure"),
        ),
        events_consumed=pipeline.events_consumed,
        events_invalid=pipeline.events_invalid,
        consumer_lag=pipeline.consumer_lag,
        dead_letters=pipeline.dead_letters,
        state_restored=pipeline.state_restored,
        min_sample=min_sample,
    )


def _place(place: Place) -> tuple[str, str, str]:
    return place.district, place.street, place.unit


def _counted_as_received(facts: AppealFacts | None) -> bool:
    """Whether ``appeals_received_total`` has counted this appeal.

    Intake does not know the place (routing finds it), so an appeal is counted once its place
    is first known (its dispatch or triage), or when it leaves unplaced (transferred, merged);
    a receipt that already carries a street counts at once. So "received per district" works.
    """
    if facts is None or facts.received_at is None:
        return False
    placed = facts.place.street != NONE or facts.place.unit != NONE
    return placed or facts.state in ("transferred", "merged")


def _backlog_key(facts: AppealFacts | None) -> _Key | None:
    if facts is None or not facts.is_open:
        return None
    return (*_place(facts.place), facts.state)


def _overdue_key(facts: AppealFacts | None) -> _Key | None:
    if facts is None or not facts.is_open or not facts.overdue:
        return None
    return _place(facts.place)


def _move(gauge: Gauge, counts: Tally[_Key], old: _Key | None, new: _Key | None) -> None:
    if old == new:
        return
    if old is not None:
        counts[old] -= 1
        if counts[old] > 0:
            gauge.labels(*old).set(counts[old])
        else:
            del counts[old]
            with contextlib.suppress(KeyError):
                gauge.remove(*old)
    if new is not None:
        counts[new] += 1
        gauge.labels(*new).set(counts[new])


def _figure_key(f: LevelFigures, period: str) -> _Key:
    """(level, period, district, street, community, unit); "" where the level has no such part."""
    district = street = community = unit = ""
    if f.level == "district":
        district = f.key
    elif f.level == "street":
        district, street = f.district, f.key
    elif f.level == "community":
        district, street, community = f.district, f.street, f.key
    elif f.level == "unit":
        district, street, unit = f.district, f.street, f.key
    return f.level, period, district, street, community, unit


def _counts(f: LevelFigures) -> dict[str, float]:
    c = f.counters
    return {
        "received": c.received,
        "dispatched": c.dispatched,
        "returned": c.returned,
        "overdue": sum(c.overdue.values()),
        "callbacks": c.callbacks,
        "resolved": c.first_resolved,
        "reopened": c.reopened,
        "backlog": sum(f.backlog.values()),
    }


def _rank_key(f: LevelFigures, period: str) -> _Key:
    level, period, district, street, _community, unit = _figure_key(f, period)
    return level, period, district, street, unit
