"""The metrics worker survives kill -9 without losing or double counting anything.

A worker of its own (unique app id, so its own consumer group and changelog; unique MongoDB
database; own data dir) runs against a broker of its own and the session database. The test
publishes generated lifecycle events of appeals in two streets that exist only in this test,
kills the worker with SIGKILL twice (once when it is idle, once mid-stream), publishes the
same events again, and checks every figure on /metrics and in the reports API against answers
it computes itself from its own plan of what happened to each appeal.

noida keeps a consumer that vanished without leaving (kill -9) in its group for good: a new
member's JoinGroup then never completes (measured: > 200 s with a 10 s session timeout, plain
aiokafka consumers too). Apache Kafka evicts it after the session timeout. So after each kill
the test restarts its own (persistent) broker gracefully, which ends the dead membership and
keeps the topics, the changelog and the committed offsets.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pymongo import MongoClient

from services.cli.stack import service_env, start_service
from shared.embedded import (
    BrokerProcess,
    DatabaseProcess,
    ManagedProcess,
    free_port,
    start_broker,
)
from shared.events import (
    Actor,
    AppealClosed,
    AppealDispatched,
    AppealOverdue,
    AppealReceived,
    AppealResolved,
    AppealResponded,
    AppealReturned,
    AppealReviewed,
    AppealSigned,
    EventEnvelope,
    encode,
    new_event,
)
from shared.kafka import ensure_topics, make_producer
from shared.mongo import make_client
from shared.topics import APPEAL_EVENTS
from tests.integration.conftest import poll, reference_city
from tests.integration.test_metrics_rebuild import run_rebuild

STAFF = Actor(kind="staff", id="metrics-restart-test")
# The gauges computed from the facts table: they must read the same before and after a crash.
FACT_FAMILIES = {
    "appeals_backlog",
    "appeals_overdue_backlog",
    "appeals_rate",
    "appeals_rate_denominator",
    "appeals_rate_lower_bound",
    "appeals_composite_score",
    "appeals_composite_score_lower_bound",
    "appeals_rank",
    "appeals_count",
}
SATISFACTION_WEIGHT = {"satisfied": 1.0, "basically_satisfied": 0.9, "unsatisfied": 0.0}


@dataclass
class Assignment:
    unit: str
    at: datetime
    respond_by: datetime
    responded_at: datetime | None = None
    returned: bool = False
    overdue: bool = False


@dataclass
class Plan:
    """What happens to one appeal: the test's own record, the answer key."""

    appeal_id: str
    street: str
    received_at: datetime
    assignments: list[Assignment] = field(default_factory=list)
    state: str = "received"
    satisfaction: str | None = None
    events: list[EventEnvelope] = field(default_factory=list)


def make_plans(streets: list[str], count: int, base: datetime, seed: int) -> list[Plan]:
    """``count`` appeals with every event time and deadline between ``base`` and base+20 min."""
    rng = random.Random(seed)
    plans = []
    for n in range(count):
        street = streets[n % len(streets)]
        units = [f"{street}-U{k}" for k in (1, 2, 3)]
        t = base + timedelta(seconds=rng.randint(0, 120))
        plan = Plan(appeal_id=f"{street}-A{n:03d}", street=street, received_at=t)

        def emit(type_: str, at: datetime, data: object, unit: str | None, p: Plan = plan) -> None:
            p.events.append(
                new_event(
                    type_,
                    appeal_id=p.appeal_id,
                    actor=STAFF,
                    data=data,  # type: ignore[arg-type]
                    street=p.street,
                    community=f"{p.street}-C1",
                    unit=unit,
                    occurred_at=at,
                )
            )

        def dispatch(unit: str, at: datetime, p: Plan = plan) -> Assignment:
            deadlines = {
                "sign_by": at + timedelta(minutes=2),
                "respond_by": at + timedelta(minutes=4),
                "resolve_by": at + timedelta(minutes=8),
            }
            emit(
                "appeal.dispatched",
                at,
                AppealDispatched(
                    matter="road.manhole",
                    urgency="normal",
                    lead_unit=unit,
                    by="router",
                    deadlines=deadlines,
                ),
                unit,
            )
            a = Assignment(unit=unit, at=at, respond_by=deadlines["respond_by"])
            p.assignments.append(a)
            p.state = "dispatched"
            return a

        emit(
            "appeal.received",
            t,
            AppealReceived(channel="web", tracking_no=plan.appeal_id, text="井盖缺失"),
            None,
        )
        a = dispatch(rng.choice(units), t + timedelta(seconds=30))
        story = rng.choice(["waiting", "overdue", "responded", "returned", "closed", "closed"])
        if story == "overdue":
            emit(
                "appeal.overdue",
                a.at + timedelta(minutes=2, seconds=1),
                AppealOverdue(deadline="sign", due_at=a.at + timedelta(minutes=2)),
                a.unit,
            )
            a.overdue = True
        elif story == "returned":
            emit("appeal.signed", a.at + timedelta(seconds=20), AppealSigned(), a.unit)
            emit(
                "appeal.returned",
                a.at + timedelta(seconds=40),
                AppealReturned(reason="不归我管", returned_by=a.unit, return_count=1),
                a.unit,
            )
            a.returned = True
            other = next(u for u in units if u != a.unit)
            dispatch(other, a.at + timedelta(minutes=1))
        elif story in ("responded", "closed"):
            late = rng.random() < 0.3
            signed = a.at + timedelta(seconds=30)
            responded = a.at + (timedelta(minutes=5) if late else timedelta(minutes=1))
            emit("appeal.signed", signed, AppealSigned(), a.unit)
            emit("appeal.responded", responded, AppealResponded(message="已联系"), a.unit)
            a.responded_at = responded
            plan.state = "responded"
            if story == "closed":
                resolved = a.at + timedelta(minutes=6)
                emit("appeal.resolved", resolved, AppealResolved(result="已修复"), a.unit)
                satisfaction = rng.choice(["satisfied", "basically_satisfied", "unsatisfied"])
                emit(
                    "appeal.reviewed",
                    resolved + timedelta(minutes=1),
                    AppealReviewed(satisfaction=satisfaction, solved=satisfaction != "unsatisfied"),
                    a.unit,
                )
                emit("appeal.closed", resolved + timedelta(minutes=2), AppealClosed(), a.unit)
                plan.satisfaction = satisfaction
                plan.state = "closed"
        plans.append(plan)
    return plans


@dataclass
class Expected:
    """The answers for one street, computed from the plans alone."""

    received: int = 0
    dispatched: int = 0
    returned: int = 0
    backlog: Counter[str] = field(default_factory=Counter)
    overdue_open: int = 0
    respond_due: int = 0
    responded_on_time: int = 0
    callbacks: int = 0
    satisfied_weight: float = 0.0
    overdue_appeals: set[str] = field(default_factory=set)


def expected_for(plans: list[Plan], street: str) -> Expected:
    e = Expected()
    for p in plans:
        if p.street != street:
            continue
        e.received += 1
        e.dispatched += len(p.assignments)
        e.returned += sum(a.returned for a in p.assignments)
        current = p.assignments[-1]
        if p.state != "closed":
            e.backlog[p.state] += 1
            e.overdue_open += current.overdue
        e.respond_due += 1
        on_time = current.responded_at is not None and current.responded_at <= current.respond_by
        e.responded_on_time += on_time
        if p.satisfaction is not None:
            e.callbacks += 1
            e.satisfied_weight += SATISFACTION_WEIGHT[p.satisfaction]
        if any(a.overdue for a in p.assignments):
            e.overdue_appeals.add(p.appeal_id)
    return e


def publish(bootstrap: str, profile: str, payloads: list[tuple[bytes, bytes]]) -> None:
    """Send (key, value) pairs to appeals.events and wait for the broker's acks."""

    async def send() -> None:
        producer = make_producer(bootstrap, profile)
        await producer.start()
        try:
            for key, value in payloads:
                await producer.send_and_wait(APPEAL_EVENTS, value=value, key=key)
        finally:
            await producer.stop()

    asyncio.run(send())


def messages(events: list[EventEnvelope]) -> list[tuple[bytes, bytes]]:
    return [(e.appeal_id.encode(), encode(e)) for e in events]


def samples(text: str, streets: set[str]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The fact-derived samples of the test's streets, by (name, labels)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name in FACT_FAMILIES and s.labels.get("street") in streets:
                found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


class Worker:
    """One metrics worker process and its HTTP endpoints."""

    def __init__(self, process: ManagedProcess, port: int) -> None:
        self.process = process
        self.base = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(timeout=10)

    def get(self, path: str, **params: str) -> httpx.Response:
        return self.http.get(self.base + path, params=params)

    def status(self) -> dict:
        return self.get("/api/v1/status").json()

    def exposition(self) -> str:
        return self.get("/metrics").text

    def settled(self, what: str) -> dict:
        """Wait until everything published is consumed and written to MongoDB, then for two
        more figure refreshes (so the gauges were computed after the last fold)."""

        def caught_up() -> dict | None:
            try:
                s = self.status()
                text = self.exposition()
            except httpx.HTTPError:
                return None
            lags = [
                sample.value
                for family in text_string_to_metric_families(text)
                for sample in family.samples
                if sample.name == "consumer_lag" and sample.labels.get("topic") == APPEAL_EVENTS
            ]
            ok = s["recovered"] and s["pending_writes"] == 0 and len(lags) == 4 and not any(lags)
            return s if ok else None

        seen = poll(caught_up, timeout=90, what=what)
        return poll(
            lambda: (
                (s := self.status())["figures_refreshed"] >= seen["figures_refreshed"] + 2
                and s["pending_writes"] == 0
                and s
            ),
            timeout=30,
            what=f"{what}: figures recomputed",
        )

    def restart(self) -> None:
        self.process.start()
        self.process.wait_ready(90)


def start_metrics_worker(
    broker: BrokerProcess,
    mongo: DatabaseProcess,
    broker_profile: str,
    data_dir: Path,
    *,
    db_name: str,
    app_id: str,
) -> Worker:
    """A metrics worker of the test's own (app id = consumer group and changelog, database),
    with short flush, figure and lag timers."""
    port = free_port()
    env = service_env(
        bootstrap=broker.bootstrap,
        broker_profile=broker_profile,
        mongo_url=mongo.url,
        data_dir=data_dir,
        ports={"metrics": port},
        extra={
            "APPEALS_MONGO_DB": db_name,
            "APPEALS_METRICS_APP_ID": app_id,
            "APPEALS_METRICS_FIGURES_SECONDS": "1",
            "APPEALS_METRICS_FLUSH_SECONDS": "0.5",
            "APPEALS_METRICS_LAG_SECONDS": "1",
            "APPEALS_JURISDICTION_FILE": str(reference_city() / "jurisdiction.yaml"),
            "APPEALS_MATTERS_FILE": str(reference_city() / "matters.yaml"),
        },
    )
    return Worker(start_service("metrics", env=env, port=port, data_dir=data_dir), port)


def month_of(plans: list[Plan]) -> str:
    """The Shanghai month every event of ``plans`` falls in (the figures' month key)."""
    shanghai = ZoneInfo("Asia/Shanghai")
    month_key = datetime.now(UTC).astimezone(shanghai).strftime("%Y-%m")
    assert all(
        e.occurred_at.astimezone(shanghai).strftime("%Y-%m") == month_key
        for p in plans
        for e in p.events
    ), "the generated events straddle a month boundary; run again in a minute"
    return month_key


@pytest.fixture
def own_broker(tmp_path: Path, broker_profile: str) -> Iterator[BrokerProcess]:
    process = start_broker(broker_profile, data_dir=tmp_path / "broker")  # type: ignore[arg-type]
    try:
        asyncio.run(ensure_topics(process.bootstrap))
        yield process
    finally:
        process.stop()


def crash(worker: Worker, broker: BrokerProcess, publish_while_down: Callable[[], None]) -> None:
    """kill -9 the worker, publish what is given while it is down, and start it again."""
    worker.process.kill()
    publish_while_down()
    if broker.persistent:
        broker.restart()  # ends the dead member's group membership (see the module docstring)
    worker.restart()


def test_metrics_survive_kill_9_and_redelivery(
    own_broker: BrokerProcess, mongo: DatabaseProcess, broker_profile: str, tmp_path: Path
) -> None:
    broker = own_broker
    tag = uuid.uuid4().hex[:6].upper()
    streets = [f"T{tag}-S1", f"T{tag}-S2"]
    now = datetime.now(UTC)
    plans = make_plans(streets, 40, now - timedelta(minutes=40), seed=int(tag, 16))
    first, second = plans[:20], plans[20:]
    month_key = month_of(plans)
    db_name = f"metrics_restart_{tag.lower()}"
    worker = start_metrics_worker(
        broker, mongo, broker_profile, tmp_path,
        db_name=db_name, app_id=f"metrics-restart-{tag.lower()}",
    )  # fmt: skip
    try:
        # Phase 1: half the appeals, plus two messages that are not events.
        publish(broker.bootstrap, broker_profile, [(b"junk", b"not json"), (b"junk", b"{}")])
        publish(broker.bootstrap, broker_profile, messages([e for p in first for e in p.events]))
        expected_first = {s: expected_for(first, s) for s in streets}

        def folded_first() -> str | None:
            text = worker.exposition()
            got = {
                s: value(text, "appeals_count", level="street", period="month", street=s,
                         figure="received")
                for s in streets
            }  # fmt: skip
            return text if all(got[s] == expected_first[s].received for s in streets) else None

        poll(folded_first, timeout=90, what="the first half folded")
        worker.settled("the first half written and its figures computed")
        text = worker.exposition()
        assert value(text, "events_invalid_total", service="metrics") >= 2
        assert value(text, "dead_letters_total", service="metrics") >= 2
        before = samples(text, set(streets))
        assert before, "no fact-derived series for the test's streets"

        # A crash while idle: the gauges come back from the table, not from zero.
        crash(worker, broker, lambda: None)
        worker.settled("the facts recovered after kill -9")
        after = samples(worker.exposition(), set(streets))
        assert after == before, {
            k: (before.get(k), after.get(k))
            for k in before.keys() | after.keys()
            if before.get(k) != after.get(k)
        }

        # Phase 2: the rest, with every event of the first half sent again, and a crash
        # in the middle of it.
        replay = [e for p in first for e in p.events]
        rest = [e for p in second for e in p.events]
        payload = messages(rest[: len(rest) // 2] + replay + rest[len(rest) // 2 :])
        publish(broker.bootstrap, broker_profile, payload[: len(payload) // 2])
        poll(
            lambda: worker.status()["appeals"] > len({p.appeal_id for p in first}),
            timeout=60,
            what="the worker folding the second half",
        )
        crash(
            worker,
            broker,
            lambda: publish(broker.bootstrap, broker_profile, payload[len(payload) // 2 :]),
        )

        expected = {s: expected_for(plans, s) for s in streets}

        def all_folded() -> bool:
            text = worker.exposition()
            return all(
                value(text, "appeals_count", level="street", period="month", street=s,
                      figure="received") == expected[s].received
                for s in streets
            )  # fmt: skip

        poll(all_folded, timeout=90, what="every appeal folded after the second crash")
        worker.settled("the second half written and its figures computed")
        text = worker.exposition()
        check_exposition(text, expected, month_key)
        check_reports(worker, expected, month_key, plans)

        # Phase 3: pure duplicates move nothing, counters included.
        consumed = value(text, "events_consumed_total", service="metrics")
        counters = {
            name: value(text, name, street=s)
            for name in ("appeals_received_total", "appeals_dispatched_total")
            for s in streets
        }
        duplicates = [e for p in plans[::3] for e in p.events]
        publish(broker.bootstrap, broker_profile, messages(duplicates))
        poll(
            lambda: (
                value(worker.exposition(), "events_consumed_total", service="metrics")
                >= consumed + len(duplicates)
            ),
            timeout=60,
            what="the duplicates consumed",
        )
        worker.settled("figures recomputed after the duplicates")
        text = worker.exposition()
        assert {
            name: value(text, name, street=s)
            for name in ("appeals_received_total", "appeals_dispatched_total")
            for s in streets
        } == counters
        check_exposition(text, expected, month_key)
        assert samples(text, set(streets)) == samples(worker.exposition(), set(streets))
    finally:
        worker.http.close()
        worker.process.stop()


def check_exposition(text: str, expected: dict[str, Expected], month_key: str) -> None:
    for street, e in expected.items():
        where = {"level": "street", "period": "month", "street": street}
        for figure, want in (
            ("received", e.received),
            ("dispatched", e.dispatched),
            ("returned", e.returned),
            ("backlog", sum(e.backlog.values())),
        ):
            got = value(text, "appeals_count", figure=figure, **where)
            assert got == want, (street, figure, got, want)
        for state in ("received", "dispatched", "signed", "responded", "returned"):
            got = value(text, "appeals_backlog", street=street, state=state)
            assert got == e.backlog[state], (street, state, got, e.backlog[state])
        assert value(text, "appeals_backlog", street=street, state="closed") == 0
        assert value(text, "appeals_overdue_backlog", street=street) == e.overdue_open
        assert value(text, "appeals_rate_denominator", rate="response", **where) == e.respond_due
        response = value(text, "appeals_rate", rate="response", **where)
        assert abs(response - e.responded_on_time / e.respond_due) < 1e-9
        if e.callbacks:
            satisfaction = value(text, "appeals_rate", rate="satisfaction", **where)
            assert abs(satisfaction - e.satisfied_weight / e.callbacks) < 1e-9
            assert (
                value(text, "appeals_rate_denominator", rate="satisfaction", **where) == e.callbacks
            )


def check_reports(
    worker: Worker, expected: dict[str, Expected], month_key: str, plans: list[Plan]
) -> None:
    def figures_match() -> dict | None:
        body = worker.get(
            "/api/v1/reports/figures", level="street", period="month", key=month_key
        ).json()
        rows = {r["key"]: r for r in body["figures"] if r["key"] in expected}
        for street, e in expected.items():
            row = rows.get(street)
            if row is None or row["received"] != e.received:
                return None
        return rows

    rows = poll(figures_match, timeout=30, what="the reports API reading every appeal")
    for street, e in expected.items():
        row = rows[street]
        assert row["dispatched"] == e.dispatched
        assert row["returned"] == e.returned
        assert row["backlog_total"] == sum(e.backlog.values())
        assert row["rates"]["response"]["sample"] == e.respond_due
        assert abs(row["rates"]["response"]["value"] - e.responded_on_time / e.respond_due) < 1e-6
        assert row["rates"]["satisfaction"]["sample"] == e.callbacks
        low, high = row["rates"]["response"]["ci_low"], row["rates"]["response"]["ci_high"]
        assert 0 <= low <= row["rates"]["response"]["value"] <= high <= 1

        units = worker.get("/api/v1/reports/rankings/units", street=street, month=month_key).json()[
            "ranking"
        ]
        assert units and all(u["status"] == "insufficient_data" for u in units)
        assert all(u["position"] is None for u in units)
        dispatched = {u["key"]: u["dispatched"] for u in units}
        want = Counter(a.unit for p in plans if p.street == street for a in p.assignments)
        assert dispatched == dict(want)
        ranked = worker.get(
            "/api/v1/reports/rankings/units", street=street, month=month_key, min_sample="1"
        ).json()["ranking"]
        assert [u["position"] for u in ranked if u["position"] is not None] == sorted(
            u["position"] for u in ranked if u["position"] is not None
        )

        csv = worker.get(
            "/api/v1/reports/rankings/units", street=street, month=month_key, format="csv"
        )
        assert csv.headers["content-type"].startswith("text/csv")
        header, *lines = csv.text.strip().splitlines()
        assert "rates.satisfaction.ci_low" in header and len(lines) == len(units)

        page = worker.get(f"/reports/street/{street}/{month_key}")
        assert page.status_code == 200 and "<svg" in page.text
        assert "<script" not in page.text and "stylesheet" not in page.text
        for appeal_id in e.overdue_appeals:
            assert appeal_id in page.text, appeal_id

    bad = worker.get("/api/v1/reports/figures", level="planet", period="month", key=month_key)
    assert bad.status_code == 400 and "level" in bad.json()["error"]
    district = worker.get(f"/reports/district/none/{month_key}")
    assert district.status_code == 200 and all(s in district.text for s in expected)


def test_facts_the_worker_never_saw_are_restored_from_the_event_log(
    own_broker: BrokerProcess, mongo: DatabaseProcess, broker_profile: str, tmp_path: Path
) -> None:
    """Finding 9's situation, made on purpose: the worker gets later events of appeals whose
    ``appeal.received`` it does not hold (here: never published; in the finding: its
    changelog record lost in a crash). The event log in MongoDB has them, so the worker folds
    the history from there and every figure counts those appeals once; an event of an appeal
    the log does not know either is still dead-lettered."""
    broker = own_broker
    tag = uuid.uuid4().hex[:6].upper()
    street = f"T{tag}-S1"
    plans = make_plans([street], 12, datetime.now(UTC) - timedelta(minutes=40), seed=int(tag, 16))
    lost = plans[:4]
    month_key = month_of(plans)
    db_name = f"metrics_restore_{tag.lower()}"

    async def log_received() -> None:
        # As the appeals service's relay logs a published event (AppealStore.mark_published).
        client = make_client(mongo.url)
        try:
            await client[db_name]["event_log"].insert_many(
                [{**p.events[0].model_dump(), "_id": p.events[0].event_id} for p in lost]
            )
        finally:
            await client.close()

    asyncio.run(log_received())
    ghost = new_event(
        "appeal.signed",
        appeal_id=f"{street}-GHOST",
        actor=STAFF,
        data=AppealSigned(),
        street=street,
        community=f"{street}-C1",
        unit=f"{street}-U1",
    )
    worker = start_metrics_worker(
        broker, mongo, broker_profile, tmp_path,
        db_name=db_name, app_id=f"metrics-restore-{tag.lower()}",
    )  # fmt: skip
    try:
        published = [e for p in plans for e in (p.events[1:] if p in lost else p.events)]
        publish(broker.bootstrap, broker_profile, messages([*published, ghost]))
        expected = {street: expected_for(plans, street)}
        poll(
            lambda: value(worker.exposition(), "appeals_count", level="street", period="month",
                          street=street, figure="received") == expected[street].received,
            timeout=90,
            what="every appeal counted, the four restored from the event log included",
        )  # fmt: skip
        worker.settled("the facts written and the figures computed")
        text = worker.exposition()
        check_exposition(text, expected, month_key)
        assert value(text, "state_restored_total", service="metrics") == len(lost)
        assert value(text, "dead_letters_total", service="metrics") == 1  # the ghost only
        assert value(text, "appeals_received_total", street=street) == len(plans)
        check_reports(worker, expected, month_key, plans)
    finally:
        worker.http.close()
        worker.process.stop()


def test_facts_the_table_lost_are_adopted_from_mongodb(
    own_broker: BrokerProcess, mongo: DatabaseProcess, broker_profile: str, tmp_path: Path
) -> None:
    """The worst a broker crash can do to the table: lose its changelog wholesale. Made here
    by starting a second worker (its own app id, so its own empty changelog) on a second,
    empty broker, against the MongoDB the first worker wrote: after its first rebalance it
    must hold every appeal's facts again, read from ``metrics_facts``, and show the same
    figures; later events then fold on top of the adopted facts."""
    tag = uuid.uuid4().hex[:6].upper()
    streets = [f"T{tag}-S1"]
    plans = make_plans(streets, 8, datetime.now(UTC) - timedelta(minutes=40), seed=int(tag, 16))
    month_key = month_of(plans)
    db_name = f"metrics_adopt_{tag.lower()}"
    # The last event of the first appeal is held back, to be published to the second worker.
    held_back = plans[0].events[-1]
    first_events = [e for p in plans for e in p.events if e is not held_back]

    def worker_on(broker: BrokerProcess, name: str) -> Worker:
        return start_metrics_worker(
            broker, mongo, broker_profile, tmp_path / name,
            db_name=db_name, app_id=f"metrics-adopt-{name}-{tag.lower()}",
        )  # fmt: skip

    first = worker_on(own_broker, "a")
    try:
        publish(own_broker.bootstrap, broker_profile, messages(first_events))
        poll(
            lambda: first.status()["appeals"] == len(plans),
            timeout=90,
            what="the first worker folding every appeal",
        )
        first.settled("the first worker's facts written to MongoDB")
        before = samples(first.exposition(), set(streets))
        assert before
    finally:
        first.http.close()
        first.process.stop()

    empty_broker = start_broker(broker_profile, data_dir=tmp_path / "broker-2")  # type: ignore[arg-type]
    second: Worker | None = None
    try:
        asyncio.run(ensure_topics(empty_broker.bootstrap))
        second = worker_on(empty_broker, "b")
        second.settled("the second worker reconciled with MongoDB")
        text = second.exposition()
        assert second.status()["appeals"] == len(plans)
        assert samples(text, set(streets)) == before
        assert value(text, "state_restored_total", service="metrics") == len(plans)

        # The held-back event folds on top of the adopted facts, and only it.
        publish(empty_broker.bootstrap, broker_profile, messages([held_back]))
        second.settled("the held-back event folded")
        expected = {s: expected_for(plans, s) for s in streets}
        check_exposition(second.exposition(), expected, month_key)
        assert value(second.exposition(), "events_consumed_total", service="metrics") == 1

        # A full rebuild switches the readers to a new generation; this test's event log is
        # empty, so that generation starts empty, and the running worker must notice the
        # switch and write its facts there (the reports never lose them).
        run_rebuild(mongo, db_name)
        client: MongoClient = MongoClient(mongo.url)
        try:
            pointer = client[db_name].metrics_meta.find_one({"_id": "metrics_facts"})
            assert pointer is not None
            generation = client[db_name][pointer["collection"]]
            poll(
                lambda: generation.count_documents({}) == len(plans),
                timeout=60,
                what="the worker writing its facts into the rebuilt generation",
            )
        finally:
            client.close()
        check_reports(second, expected, month_key, plans)
        assert value(second.exposition(), "state_restored_total", service="metrics") == len(plans)
    finally:
        if second is not None:
            second.http.close()
            second.process.stop()
        empty_broker.stop()
