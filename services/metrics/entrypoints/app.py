"""The metrics worker (faust): appeal events -> per-appeal facts -> Prometheus series and reports.

Run: ``appeals serve metrics`` (or ``faust -A services.metrics.entrypoints.app worker``).

- The agent folds every event of ``appeals.events`` into the appeal's ``AppealFacts``, held in
  the changelog-backed table ``metrics-facts`` keyed by appeal id (events are keyed by appeal
  id, so each key is written only from its own partition, as faust requires). ``fold`` is
  idempotent on ``event_id``: a redelivered event changes nothing and moves no series.
- After every rebalance (once table recovery is complete) the in-memory view of the facts is
  rebuilt from the table, compared with MongoDB's copy of the same partitions (facts the table
  lost are adopted, facts MongoDB lacks are written), and the backlog gauges are reloaded from
  it, so gauges after a crash equal the gauges before it. Counters count in-process and
  restart from zero with the process (a counter reset, which ``rate``/``increase`` handle);
  every absolute total comes from the facts: the backlog gauges and the per-period
  ``appeals_count`` / rate gauges, recomputed on a timer.
- Changed facts are written to MongoDB (``metrics_facts``) in one bulk write per tick; the
  reports API (entrypoints/reports.py) reads them from there, so with several workers each
  holding some partitions every report still sees every appeal.
- An event of an appeal the table does not hold (its facts lost in a crash: docs/faults.md,
  finding 9) first has the appeal's earlier events read back from the appeals service's
  ``event_log`` and folded (``state_restored_total`` counts it); only an appeal the log does
  not know either is dead-lettered as "never received".
- A message that is not a valid event goes to ``appeals.events.dlq`` and is counted; the agent
  never stops on one bad event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import faust
from prometheus_client import CollectorRegistry

from services.metrics.adapters.facts_store import FactsStore
from services.metrics.adapters.prometheus import AppealMetrics, build_metrics
from services.metrics.config import MetricsSettings
from services.metrics.domain import AppealFacts, current_figures, districts_of, fold
from services.metrics.entrypoints.reports import register_reports
from shared.city import City, load_city
from shared.event_log import history_before_waiting
from shared.events import EventEnvelope, InvalidEvent, decode_event
from shared.faust_app import dead_letter, make_faust_app
from shared.mongo import make_client
from shared.pipeline_metrics import install_lag_timer
from shared.topics import ALL_TOPICS, APPEAL_EVENTS, DEAD_LETTERS, partition_of

__all__ = ["SERVICE", "FactsView", "app", "create_app"]

log = logging.getLogger(__name__)

SERVICE = "metrics"
FACTS_TABLE = "metrics-facts"


@dataclass
class FactsView:
    """The decoded facts of the partitions this worker holds, and what MongoDB still lacks.

    The table is the truth; this is a decoded copy (decoding every appeal on every timer tick
    would dominate the worker), rebuilt from the table after each rebalance.
    """

    facts: dict[str, AppealFacts] = field(default_factory=dict)
    partition: dict[str, int] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    recovered: bool = False
    rebalances: int = 0
    flushed: int = 0
    figures_refreshed: int = 0

    def reload(self, table: Any, partitions: set[int]) -> None:
        """Replace the view with the table's appeals on ``partitions`` (synchronous on purpose:
        no event can be folded half-way through)."""
        self.facts.clear()
        self.partition.clear()
        for appeal_id, value in list(table.items()):
            if value is None or value["p"] not in partitions:
                continue
            self.facts[appeal_id] = AppealFacts.from_dict(value["f"])
            self.partition[appeal_id] = value["p"]
        self.dirty &= set(self.facts)


def _figures_now(facts: list[AppealFacts], at: datetime) -> dict[str, Any]:
    return {period: current_figures(facts, period, at=at) for period in ("day", "month")}


def create_app(settings: MetricsSettings | None = None) -> faust.App:
    """The faust app with its agent, table, timers, /metrics and the reports API."""
    settings = settings or MetricsSettings()
    registry = CollectorRegistry()
    metrics: AppealMetrics = build_metrics(registry, min_sample=settings.metrics_min_sample)
    dlq = DEAD_LETTERS[APPEAL_EVENTS]
    # Known label sets start at zero, so "no bad messages yet" is a 0 and not a missing series.
    metrics.events_invalid.labels(SERVICE)
    metrics.dead_letters.labels(SERVICE, dlq)
    metrics.state_restored.labels(SERVICE)
    app = make_faust_app(
        settings.metrics_app_id,
        settings,
        web_port=settings.metrics_port,
        registry=registry,
        data_dir=settings.data_dir / "faust" / "metrics",
    )
    table = app.Table(FACTS_TABLE, default=None, partitions=ALL_TOPICS[APPEAL_EVENTS])
    view = FactsView()
    holder: dict[str, Any] = {}

    def city() -> City:
        if "city" not in holder:
            holder["city"] = load_city(settings.jurisdiction_file, settings.matters_file)
            holder["districts"] = districts_of(holder["city"])
        found: City = holder["city"]
        return found

    def database() -> Any:
        # Created lazily, inside the worker's event loop.
        if "db" not in holder:
            holder["db"] = make_client(settings.mongo_url)[settings.mongo_db]
        return holder["db"]

    def store() -> FactsStore:
        if "store" not in holder:
            holder["store"] = FactsStore(database(), settings.metrics_facts_collection)
        found: FactsStore = holder["store"]
        return found

    events = app.topic(
        APPEAL_EVENTS,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    async def reject(event_ctx: Any, error: str) -> None:
        metrics.invalid(SERVICE)
        log.error("invalid event sent to %s: %s", dlq, error)
        if await dead_letter(app, APPEAL_EVENTS, event_ctx, error):
            metrics.dead_letter(SERVICE, dlq)

    def facts_before(appeal_id: str) -> AppealFacts | None:
        found = view.facts.get(appeal_id)
        if found is None:
            stored = table.get(appeal_id)
            found = AppealFacts.from_dict(stored["f"]) if stored is not None else None
        return found

    def remember(event: EventEnvelope, partition: int, before: Any, after: AppealFacts) -> None:
        table[event.appeal_id] = {"p": partition, "f": after.to_dict()}
        view.facts[event.appeal_id] = after
        view.partition[event.appeal_id] = partition
        view.dirty.add(event.appeal_id)
        metrics.observe(event, before, after)

    async def restore(event: EventEnvelope, partition: int) -> AppealFacts | None:
        """Fold the logged events before ``event`` of an appeal the table lost; None when the
        log has no ``appeal.received`` for it either."""
        history = await history_before_waiting(database(), event)
        if not history or history[0].type != "appeal.received":
            return None
        facts: AppealFacts | None = None
        for past in history:
            after = fold(facts, past, holder["districts"])
            if after is not facts:
                remember(past, partition, facts, after)
            facts = after
        metrics.restored(SERVICE)
        log.warning(
            "facts of an appeal missing from the table restored from the event log (%d events)",
            len(history),
            extra={"appeal_id": event.appeal_id, "event_id": event.event_id},
        )
        return facts

    @app.agent(events)
    async def fold_events(stream: faust.StreamT[bytes]) -> None:
        async for event_ctx in stream.events():
            try:
                event: EventEnvelope = decode_event(event_ctx.value)
            except InvalidEvent as exc:
                await reject(event_ctx, str(exc))
                continue
            try:
                city()
                partition = event_ctx.message.partition
                before = facts_before(event.appeal_id)
                if before is None and event.type != "appeal.received":
                    before = await restore(event, partition)
                if before is None and event.type != "appeal.received":
                    # An event of an appeal never received anywhere would count a ghost.
                    await reject(event_ctx, f"{event.type} for an appeal never received")
                    continue
                after = fold(before, event, holder["districts"])
            except Exception as exc:  # a decodable event fold cannot use: never stop the agent
                log.exception(
                    "cannot fold event",
                    extra={"appeal_id": event.appeal_id, "event_id": event.event_id},
                )
                await reject(event_ctx, f"cannot fold: {exc!r}")
                continue
            metrics.consumed(SERVICE, event.type)
            if after is before:
                continue  # redelivered: already folded and counted
            remember(event, partition, before, after)

    async def on_rebalanced(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        assigned = app.consumer.assignment() if app.consumer else set()
        partitions = {tp.partition for tp in assigned if tp.topic == APPEAL_EVENTS}
        view.reload(table, partitions)
        await reconcile(partitions)
        metrics.load_backlog(view.facts.values())
        view.recovered = True
        view.rebalances += 1
        log.info("facts reloaded: %d appeals on partitions %s", len(view.facts), partitions)

    app.on_rebalance_complete.connect(on_rebalanced)

    async def reconcile(partitions: set[int], *, after_rebuild: bool = False) -> None:
        """Compare the table with MongoDB's copy of the same partitions' facts.

        MongoDB has more events of an appeal than the table (or the table lacks it): the
        broker lost changelog records in a crash; MongoDB's facts are adopted (into the view:
        faust writes its table only from inside the stream; the appeal's next event writes it).
        The table has more (or MongoDB lacks it): a crash between a fold and its flush; the
        appeal is marked for writing. Runs before the stream resumes, so no fold interleaves.
        """
        try:
            stored: dict[str, AppealFacts] = {}
            for partition in sorted(partitions):
                stored.update(await store().of_partition(partition))
        except Exception:
            log.exception("cannot compare the facts with MongoDB; writing them all")
            view.dirty.update(view.facts)
            return
        adopted = 0
        for appeal_id, kept in stored.items():
            held = view.facts.get(appeal_id)
            if held is None or len(held.seen) < len(kept.seen):
                view.facts[appeal_id] = kept
                view.partition[appeal_id] = partition_of(appeal_id)
                if not after_rebuild:  # a rebuild reading ahead of this worker is no heal
                    metrics.restored(SERVICE)
                adopted += 1
        for appeal_id, held in view.facts.items():
            kept_copy = stored.get(appeal_id)
            if kept_copy is None or len(kept_copy.seen) < len(held.seen):
                view.dirty.add(appeal_id)
        if adopted:
            log.warning(
                "%d appeals' facts missing or behind in the table adopted from MongoDB", adopted
            )

    @app.task
    async def prepare() -> None:
        city()
        try:
            await store().ensure_indexes()
            if await store().written_before_scopes():
                log.error(
                    "%s was written before the scopes layout: reports miss its appeals until "
                    "`appeals metrics rebuild --drop-previous` is run (docs/metrics.md)",
                    store().generation,
                )
        except Exception:
            log.exception("cannot create the metrics_facts indexes (will retry on flush)")

    @app.timer(settings.metrics_flush_seconds)
    async def flush_facts() -> None:
        await follow_rebuild()
        if not view.dirty:
            return
        batch = list(view.dirty)
        view.dirty.difference_update(batch)
        try:
            written = await store().upsert(view.facts[a] for a in batch if a in view.facts)
        except Exception:
            view.dirty.update(batch)
            log.exception("cannot write %d appeals' facts to MongoDB; will retry", len(batch))
            return
        view.flushed += written

    async def follow_rebuild() -> None:
        """After a full rebuild switched ``metrics_facts`` to a new generation, compare this
        worker's facts with it (events folded since the rebuild read the log are written
        again; facts the rebuild has and the table lacks are adopted)."""
        if not view.recovered:
            return
        seen = store().generation
        try:
            await store().current()
        except Exception:
            return  # the database is away; the flush below logs it
        if seen is not None and store().generation != seen:
            log.warning("metrics_facts now reads %s (a rebuild): comparing", store().generation)
            assigned = app.consumer.assignment() if app.consumer else set()
            partitions = {tp.partition for tp in assigned if tp.topic == APPEAL_EVENTS}
            await reconcile(partitions, after_rebuild=True)
            metrics.load_backlog(view.facts.values())

    @app.timer(settings.metrics_figures_seconds)
    async def refresh_figures() -> None:
        if not view.recovered:
            return
        snapshot = list(view.facts.values())
        # The facts are immutable, so a thread can compute on a snapshot while events flow.
        figures = await asyncio.to_thread(_figures_now, snapshot, datetime.now(UTC))
        for period, found in figures.items():
            metrics.set_figures(period, found)
        view.figures_refreshed += 1

    install_lag_timer(
        app, metrics, service=SERVICE, topic=APPEAL_EVENTS, interval=settings.metrics_lag_seconds
    )

    @app.page("/api/v1/status")
    async def status(web: Any, request: Any) -> Any:
        """Whether the facts are loaded and written to MongoDB (for operators and tests)."""
        return web.json(
            {
                "service": SERVICE,
                "recovered": view.recovered,
                "rebalances": view.rebalances,
                "appeals": len(view.facts),
                "pending_writes": len(view.dirty),
                "written": view.flushed,
                "figures_refreshed": view.figures_refreshed,
                "time": time.time(),
            }
        )

    register_reports(app, store=store, city=city, settings=settings)
    return app


app = create_app()
