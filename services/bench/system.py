"""The system run: send a planned day through HTTP intake and watch the events come out.

Open loop: every request has a scheduled send time and is sent then, whatever happened to the
requests before it (a bounded number are in flight; a request waiting for a free slot is sent
late and its wait is reported, so an overloaded system cannot hide behind a slow client).

Latency intake -> dispatched is measured in this process, on one clock: from the moment a
request is handed to the HTTP client to the moment this process reads the appeal's routing
outcome (``appeal.dispatched``, ``appeal.triaged`` or ``appeal.transferred``) from
``appeals.events`` — the moment a consumer of the event stream could know. The outcome's own
``occurred_at`` (when the appeals service stored the decision) is reported beside it.

Throughput of the streams: ``routing.decisions`` as read here; notify and metrics from their
/metrics counters and their consumer groups' lag.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import orjson
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from services.bench.stats import per_second, percentile, rate, summarize
from services.bench.workload import PlannedAppeal
from shared.kafka import make_consumer
from shared.mongo import make_client
from shared.tasks import cancel_and_wait
from shared.topics import (
    APPEAL_EVENTS,
    DECISIONS_GROUP,
    METRICS_GROUP,
    NOTIFY_GROUP,
    ROUTING_DECISIONS,
    ROUTING_GROUP,
)

__all__ = ["EventObserver", "SystemRun", "consumer_lag", "db_opcounters", "scrape_counters"]

OUTCOMES = {"appeal.dispatched", "appeal.triaged", "appeal.transferred"}
# Consumer groups of the stream services (faust: the app id) and the appeals service.
GROUPS: dict[str, tuple[str, str]] = {
    "routing": (ROUTING_GROUP, APPEAL_EVENTS),
    "notify": (NOTIFY_GROUP, APPEAL_EVENTS),
    "metrics": (METRICS_GROUP, APPEAL_EVENTS),
    "appeals-decisions": (DECISIONS_GROUP, ROUTING_DECISIONS),
}
# Counters that say how many events each stream service has handled.
SERVICE_COUNTERS = {
    "routing": "routing_decisions_total",
    "notify": "notify_events_total",
    "metrics": "events_consumed_total",
}


class EventObserver:
    """Reads appeals.events and routing.decisions from their current end, noting arrivals."""

    def __init__(self, bootstrap: str, profile: str) -> None:
        self.bootstrap = bootstrap
        self.profile = profile
        self.outcome_at: dict[str, tuple[str, float, float]] = {}  # id -> (type, read, occurred)
        self.decisions: list[float] = []
        self.dispatched_unit: dict[str, str] = {}
        self.types: Counter[str] = Counter()
        self._consumer: Any = None
        self._task: asyncio.Task[None] | None = None
        self.partitions: list[TopicPartition] = []

    async def start(self) -> None:
        """Join no group: assign every partition and start at the end."""
        consumer = make_consumer(
            bootstrap=self.bootstrap,
            profile=self.profile,
            group_id=None,
            # Read soon after the write: the outcome's arrival here is the latency's end.
            fetch_max_wait_ms=50,
        )
        await consumer.start()
        self._consumer = consumer
        for topic in (APPEAL_EVENTS, ROUTING_DECISIONS):
            parts = consumer.partitions_for_topic(topic) or set()
            self.partitions += [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(self.partitions)
        await consumer.seek_to_end(*self.partitions)
        for tp in self.partitions:  # resolve the lazy seek now, before anything is sent
            await consumer.position(tp)
        self._task = asyncio.create_task(self._run(), name="bench-observer")

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200, max_records=2000)
            now = time.time()
            for tp, messages in batches.items():
                if tp.topic == ROUTING_DECISIONS:
                    self.decisions.extend([now] * len(messages))
                    continue
                for message in messages:
                    event = orjson.loads(message.value)
                    kind = event.get("type")
                    self.types[kind] += 1
                    if kind in OUTCOMES and event["appeal_id"] not in self.outcome_at:
                        occurred = datetime.fromisoformat(event["occurred_at"]).timestamp()
                        self.outcome_at[event["appeal_id"]] = (kind, now, occurred)
                        if kind == "appeal.dispatched" and event.get("unit"):
                            self.dispatched_unit[event["appeal_id"]] = event["unit"]

    async def end_offsets(self) -> dict[TopicPartition, int]:
        """Current end offset of every partition of both topics."""
        offsets: dict[TopicPartition, int] = await self._consumer.end_offsets(self.partitions)
        return offsets

    async def stop(self) -> None:
        """Stop reading."""
        await cancel_and_wait(self._task)
        if self._consumer is not None:
            await self._consumer.stop()


async def consumer_lag(
    admin: AIOKafkaAdminClient, ends: dict[TopicPartition, int]
) -> dict[str, int]:
    """Messages not yet committed by each service's consumer group."""
    lags: dict[str, int] = {}
    for name, (group, topic) in GROUPS.items():
        try:
            committed = await admin.list_consumer_group_offsets(group)
        except Exception:  # a group that has not committed yet, or a broker quirk
            continue
        total = 0
        for tp, end in ends.items():
            if tp.topic != topic:
                continue
            meta = committed.get(tp)
            total += max(0, end - (meta.offset if meta is not None and meta.offset >= 0 else 0))
        lags[name] = total
    return lags


async def scrape_counters(http: httpx.AsyncClient, urls: dict[str, list[str]]) -> dict[str, float]:
    """Each stream service's handled-events counter, summed over its workers."""
    totals: dict[str, float] = {}
    for service, metric in SERVICE_COUNTERS.items():
        total = 0.0
        for url in urls.get(service, []):
            try:
                text = (await http.get(f"{url}/metrics", timeout=5)).text
            except httpx.HTTPError:
                continue
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name == metric:
                        total += sample.value
        totals[service] = total
    return totals


async def db_opcounters(mongo_url: str) -> dict[str, int]:
    """The database's operation counters (serverStatus), or {} if it does not keep them."""
    client = make_client(mongo_url)
    try:
        status = await client.admin.command("serverStatus")
        return {k: int(v) for k, v in (status.get("opcounters") or {}).items()}
    except Exception:
        return {}
    finally:
        await client.close()


@dataclass
class SendRecord:
    """What happened to one planned request."""

    scheduled: float = 0.0
    sent: float = 0.0
    answered: float = 0.0
    status: int = 0
    appeal_id: str | None = None
    replayed: bool = False
    error: str | None = None


@dataclass
class SystemRun:
    """One open-loop run against a stack; ``run`` returns the figures."""

    appeals_url: str
    bootstrap: str
    profile: str
    plan: list[PlannedAppeal]
    concurrency: int = 64
    service_urls: dict[str, list[str]] = field(default_factory=dict)
    mongo_url: str | None = None
    drain_seconds: float = 60.0
    say: Callable[[str], None] = print
    tick: Callable[[float], None] | None = None  # called once a second (RSS sampling)
    records: list[SendRecord] = field(default_factory=list)
    progress: list[dict[str, Any]] = field(default_factory=list)
    # appeal id -> lead unit of every appeal dispatched during the run (for the staff phase)
    observer_dispatched: dict[str, str] = field(default_factory=dict)
    # Bearer tokens of logged-in operators: hotline intake is recorded by an operator.
    operator_tokens: list[str] = field(default_factory=list)

    async def run(self) -> dict[str, Any]:
        """Send the plan, follow the events until drained, and return the figures."""
        observer = EventObserver(self.bootstrap, self.profile)
        await observer.start()
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        client = httpx.AsyncClient(base_url=self.appeals_url, limits=limits, timeout=30)
        scrape = httpx.AsyncClient()
        try:
            counters_before = await scrape_counters(scrape, self.service_urls)
            ops_before = await db_opcounters(self.mongo_url) if self.mongo_url else {}
            self.records = [SendRecord() for _ in self.plan]
            slots = asyncio.Semaphore(self.concurrency)
            start = time.time() + 0.5
            tasks: list[asyncio.Task[None]] = []

            async def send(index: int, item: PlannedAppeal) -> None:
                record = self.records[index]
                async with slots:
                    record.sent = time.time()
                    headers = {"Idempotency-Key": item.idempotency_key}
                    if item.channel == "hotline" and self.operator_tokens:
                        token = self.operator_tokens[
                            item.extra.get("operator", 0) % len(self.operator_tokens)
                        ]
                        headers["Authorization"] = f"Bearer {token}"
                    try:
                        response = await client.post(item.path, json=item.body, headers=headers)
                        record.status = response.status_code
                        if response.status_code in (200, 201):
                            body = response.json()
                            record.appeal_id = body["id"]
                            record.replayed = bool(body.get("replayed"))
                    except httpx.HTTPError as exc:
                        record.error = type(exc).__name__
                    record.answered = time.time()

            async def dispatcher() -> None:
                for index, item in enumerate(self.plan):
                    due = start + item.at
                    self.records[index].scheduled = due
                    delay = due - time.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    tasks.append(asyncio.create_task(send(index, item)))

            sending = asyncio.create_task(dispatcher())
            last_plan = start + (self.plan[-1].at if self.plan else 0)
            drain_until = last_plan + self.drain_seconds
            stall_since: float | None = None
            seen_outcomes = 0
            while True:
                await asyncio.sleep(1.0)
                now = time.time()
                line = await self._progress_line(observer, admin, start, now)
                self.say(line)
                if self.tick is not None:
                    self.tick(now - start)
                if not sending.done():
                    continue
                in_flight = sum(1 for t in tasks if not t.done())
                expected = self._expected_ids()
                outstanding = len(expected - observer.outcome_at.keys())
                if in_flight == 0 and outstanding == 0:
                    break
                if len(observer.outcome_at) != seen_outcomes:
                    seen_outcomes, stall_since = len(observer.outcome_at), None
                elif stall_since is None:
                    stall_since = now
                if now > drain_until or (stall_since is not None and now - stall_since > 30):
                    self.say(f"giving up on {outstanding} appeals without a routing outcome")
                    break
            await sending
            await asyncio.gather(*tasks, return_exceptions=True)
            ends = await observer.end_offsets()
            lag_end = await consumer_lag(admin, ends)
            counters_after = await scrape_counters(scrape, self.service_urls)
            ops_after = await db_opcounters(self.mongo_url) if self.mongo_url else {}
        finally:
            await client.aclose()
            await scrape.aclose()
            await admin.close()
            await observer.stop()
            self.observer_dispatched = dict(observer.dispatched_unit)
        return self._figures(
            observer, start, lag_end, counters_before, counters_after, ops_before, ops_after
        )

    def _expected_ids(self) -> set[str]:
        return {
            r.appeal_id
            for r, p in zip(self.records, self.plan, strict=True)
            if r.appeal_id is not None and not r.replayed and p.kind != "resend"
        }

    async def _progress_line(
        self, observer: EventObserver, admin: AIOKafkaAdminClient, start: float, now: float
    ) -> str:
        elapsed = now - start
        accepted = [r for r in self.records if r.status == 201 and r.answered > now - 1.0]
        latencies = self._latencies(observer)
        p95 = percentile(latencies, 95) * 1000 if latencies else float("nan")
        try:
            lag = await consumer_lag(admin, await observer.end_offsets())
        except Exception:
            lag = {}
        entry = {
            "t": round(elapsed, 1),
            "accepted_per_s": len(accepted),
            "sent": sum(1 for r in self.records if r.sent),
            "outcomes": len(observer.outcome_at),
            "decisions": len(observer.decisions),
            "p95_ms": round(p95, 1),
            "lag": lag,
        }
        self.progress.append(entry)
        lags = " ".join(f"{k}={v}" for k, v in lag.items())
        return (
            f"t={elapsed:6.1f}s  accepted/s {len(accepted):5d}  dispatched {entry['outcomes']:7d}"
            f"  p95 {p95:8.1f} ms  lag {lags}"
        )

    def _latencies(self, observer: EventObserver, *, by: str = "read") -> list[float]:
        found = []
        for record in self.records:
            if record.appeal_id is None or record.replayed or not record.sent:
                continue
            outcome = observer.outcome_at.get(record.appeal_id)
            if outcome is None:
                continue
            _kind, read_at, occurred = outcome
            end = read_at if by == "read" else occurred
            begin = record.scheduled if by == "scheduled" else record.sent
            if by == "scheduled":
                end = read_at
            found.append(max(0.0, end - begin))
        return found

    def _figures(
        self,
        observer: EventObserver,
        start: float,
        lag_end: dict[str, int],
        counters_before: dict[str, float],
        counters_after: dict[str, float],
        ops_before: dict[str, int],
        ops_after: dict[str, int],
    ) -> dict[str, Any]:
        sent = [r for r in self.records if r.sent]
        created = [r for r in sent if r.status == 201]
        resends = [
            (r, p) for r, p in zip(self.records, self.plan, strict=True) if p.kind == "resend"
        ]
        resend_ok = sum(
            1
            for r, p in resends
            if p.of is not None and r.appeal_id == self.records[p.of].appeal_id and r.replayed
        )
        statuses = Counter(r.status if r.status else (r.error or "none") for r in sent)
        first_send = min((r.sent for r in sent), default=start)
        last_send = max((r.sent for r in sent), default=start)
        outcome_times = [v[1] for v in observer.outcome_at.values()]
        last_outcome = max(outcome_times, default=first_send)
        send_window = max(last_send - first_send, 1e-9)
        outcome_window = max(last_outcome - first_send, 1e-9)
        decisions = sorted(observer.decisions)
        decision_window = (decisions[-1] - decisions[0]) if len(decisions) > 1 else 0.0
        late = [max(0.0, r.sent - r.scheduled) for r in sent]
        http_latency = [r.answered - r.sent for r in sent if r.answered]
        read = summarize(self._latencies(observer))
        occurred = summarize(self._latencies(observer, by="occurred"))
        scheduled = summarize(self._latencies(observer, by="scheduled"))
        kinds = Counter(v[0] for v in observer.outcome_at.values())
        expected = self._expected_ids()
        db_ops = {k: ops_after.get(k, 0) - v for k, v in ops_before.items()}
        db_writes = sum(db_ops.get(k, 0) for k in ("insert", "update", "delete"))
        service_rates = {
            name: round(rate(counters_after.get(name, 0) - before, outcome_window), 1)
            for name, before in counters_before.items()
        }
        scheduled_at = [r.scheduled for r in self.records if r.scheduled]
        return {
            "offered_per_second": per_second(
                scheduled_at, start, max(scheduled_at, default=start) + 1
            ),
            "planned": len(self.plan),
            "sent": len(sent),
            "created": len(created),
            "statuses": {str(k): v for k, v in statuses.items()},
            "resends": len(resends),
            "resends_answered_with_original": resend_ok,
            "near_duplicates": sum(1 for p in self.plan if p.kind == "near_duplicate"),
            "send_window_s": round(send_window, 2),
            "offered_per_s": round(rate(len(self.plan), send_window), 1),
            "accepted_per_s": round(rate(len(created), send_window), 1),
            "appeals_per_s": round(
                rate(len(observer.outcome_at.keys() & expected), outcome_window), 1
            ),
            "outcomes": dict(kinds),
            "without_outcome": len(expected - observer.outcome_at.keys()),
            "latency_ms": read,
            "latency_occurred_ms": occurred,
            "latency_from_schedule_ms": scheduled,
            "http_latency_ms": summarize(http_latency),
            "send_late_ms": summarize(late),
            "routing_events_per_s": round(rate(len(decisions), decision_window), 1),
            "service_events_per_s": service_rates,
            "db_ops": db_ops,
            "db_writes_per_s": round(rate(db_writes, outcome_window), 1),
            "db_writes_per_appeal": round(db_writes / len(created), 2) if created else None,
            "lag_end": lag_end,
            "event_types": dict(observer.types),
        }
