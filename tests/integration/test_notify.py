"""The notify worker as a real process against the real broker, database, SMTP and HTTP servers.

Each test module part starts its own worker (``appeals serve notify``) with its own consumer
group (``APPEALS_NOTIFY_APP_ID``) and database, so the session's other notify worker and the
other tests' events cannot interfere. A fresh group reads appeals.events from the start: events
of other tests pass through too, which is why every assertion is about this test's appeal ids.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiosmtpd.controller import Controller
from kafka import KafkaConsumer
from pymongo import MongoClient
from pymongo.database import Database

from services.cli.stack import service_env, start_service
from shared.embedded import BrokerProcess, DatabaseProcess, ManagedProcess, free_port
from shared.events import (
    Actor,
    AppealDispatched,
    AppealReceived,
    AppealResolved,
    EventEnvelope,
    encode,
    new_event,
)
from shared.kafka import make_producer
from shared.topics import APPEAL_EVENTS, DEAD_LETTERS
from tests.integration.conftest import metric_value, poll

SYSTEM = Actor(kind="system", id="test")
WEBHOOK_SECRET = "a-test-secret-of-enough-length-123"


# ----------------------------------------------------------------------------- real servers


class Mailbox:
    """An aiosmtpd handler that keeps what it accepted; it can hold one message unanswered."""

    def __init__(self) -> None:
        self.accepted: list[Any] = []
        self.lock = threading.Lock()
        self.seen = 0
        self.hold_at: int | None = None
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.seen += 1
            number = self.seen
        if number == self.hold_at:
            # The client waits for our answer to DATA; the test kills it meanwhile. A message
            # the server never answered 250 to is not accepted, as in real SMTP.
            self.holding.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
            return "451 4.3.0 please try again"
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.accepted.append((message, list(envelope.rcpt_tos)))
        return "250 OK"

    def by_key(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self.lock:
            for message, _ in self.accepted:
                key = str(message["X-Appeals-Delivery-Key"]).strip()
                counts[key] = counts.get(key, 0) + 1
        return counts


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        mailbox.release.set()
        controller.stop()


@dataclass
class Receiver:
    """A real HTTP server standing in for the SMS gateway and a webhook subscriber."""

    sms_failures: int = 3  # the gateway answers 500 this many times, then 200
    doomed: set[str] = field(default_factory=set)  # webhook answers 410 for these appeals
    requests: list[tuple[str, int, dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            if path == "/sms":
                failed = sum(
                    1 for p, status, _, _ in self.requests if p == "/sms" and status != 200
                )
                status = 500 if failed < self.sms_failures else 200
            elif path == "/hook":
                appeal_id = orjson.loads(body)["event"]["appeal_id"]
                status = 410 if appeal_id in self.doomed else 200
            else:
                status = 404
            self.requests.append((path, status, headers, body))
            return status

    def on(self, path: str) -> list[tuple[int, dict[str, str], dict[str, Any], bytes]]:
        with self.lock:
            return [(s, h, orjson.loads(b), b) for p, s, h, b in self.requests if p == path]


def serve(receiver: Receiver) -> tuple[ThreadingHTTPServer, int]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = receiver.answer(self.path, dict(self.headers.items()), body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


# ----------------------------------------------------------------------------- the worker


@dataclass
class Worker:
    process: ManagedProcess
    port: int
    db_name: str
    log_path: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def start_worker(
    broker: BrokerProcess,
    mongo: DatabaseProcess,
    profile: str,
    tmp: Path,
    extra: dict[str, str],
    *,
    tag: str | None = None,
    group: str | None = None,
) -> Worker:
    """A notify worker with its own database (by ``tag``) and consumer group."""
    port = free_port()
    tag = tag or uuid.uuid4().hex[:10]
    db_name = f"notify_it_{tag}"
    data_dir = tmp / f"notify-{tag}"
    env = service_env(
        bootstrap=broker.bootstrap,
        broker_profile=profile,
        mongo_url=mongo.url,
        data_dir=data_dir,
        ports={"notify": port},
        extra={
            "APPEALS_MONGO_DB": db_name,
            "APPEALS_NOTIFY_APP_ID": group or f"notify-it-{tag}",
            "APPEALS_PUBLIC_BASE_URL": "https://12345.example.org",
            "APPEALS_SEND_TIMEOUT_SECONDS": "3",
            "APPEALS_DELIVERY_LEASE_SECONDS": "5",
            "APPEALS_RETRY_BASE_SECONDS": "0.3",
            "APPEALS_RETRY_SCAN_SECONDS": "0.3",
            "APPEALS_REMINDER_SCAN_SECONDS": "0.5",
            **extra,
        },
    )
    process = start_service("notify", env=env, port=port, data_dir=data_dir, ready_timeout=90)
    return Worker(process, port, db_name, data_dir / "notify.log")


# noida 0.2.3 never lets a new member into a group whose previous member was killed without
# leaving (measured: no assignment after minutes; tansu expires the dead member after its
# session timeout). On noida the restarted worker therefore joins under a new group id, which
# re-reads appeals.events from the start: every event is redelivered, a superset of what a
# same-group restart redelivers.
REJOINS_AFTER_KILL = {"tansu": True, "noida": False}


def publish(broker: BrokerProcess, profile: str, events: list[EventEnvelope]) -> None:
    async def send() -> None:
        producer = make_producer(broker.bootstrap, profile)
        await producer.start()
        try:
            for event in events:
                await producer.send_and_wait(
                    APPEAL_EVENTS, encode(event), key=event.appeal_id.encode()
                )
        finally:
            await producer.stop()

    asyncio.run(send())


def appeal_doc(appeal_id: str, **contact: str) -> dict[str, Any]:
    return {
        "_id": appeal_id,
        "tracking_no": f"T{appeal_id[:8]}",
        "state": "received",
        "contact": contact,
    }


def store_appeal(mongo: DatabaseProcess, worker: Worker, doc: dict[str, Any]) -> None:
    """What the appeals service would have stored: notify refuses events of unknown appeals."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongo.url, tz_aware=True)
    try:
        client[worker.db_name].appeals.insert_one(doc)
    finally:
        client.close()


def far_deadlines() -> dict[str, datetime]:
    now = datetime.now(UTC)
    return {
        "sign": now + timedelta(days=1),
        "respond": now + timedelta(days=2),
        "resolve": now + timedelta(days=10),
    }


def assert_no_personal_data(log_path: Path, secrets: list[str]) -> None:
    text = log_path.read_text(errors="replace")
    for secret in secrets:
        assert secret not in text, f"{secret} appears in the notify log"


# ----------------------------------------------------------------------------- the tests


def test_each_email_arrives_exactly_once_across_a_kill_and_restart(
    broker: BrokerProcess,
    mongo: DatabaseProcess,
    broker_profile: str,
    infra_dir: Path,
    smtp: tuple[Mailbox, int],
) -> None:
    mailbox, smtp_port = smtp
    settings = {
        "APPEALS_SMTP_HOST": "127.0.0.1",
        "APPEALS_SMTP_PORT": str(smtp_port),
        "APPEALS_NOTIFY_CHANNELS": "inbox,email",
    }
    tag = uuid.uuid4().hex[:10]
    worker = start_worker(broker, mongo, broker_profile, infra_dir, settings, tag=tag)
    db: Database[dict[str, Any]] = MongoClient(mongo.url, tz_aware=True)[worker.db_name]
    try:
        appeals = [uuid.uuid4().hex[:20] for _ in range(8)]
        db.appeals.insert_many(
            [
                appeal_doc(a, email=f"resident{i}@example.com", language="en" if i % 2 else "zh-CN")
                for i, a in enumerate(appeals)
            ]
        )
        db.unit_contacts.insert_one(
            {"_id": "DH-HB-RM", "emails": ["duty.rm@example.org"], "language": "zh-CN"}
        )
        events: list[EventEnvelope] = []
        expected: dict[str, list[str]] = {}  # delivery key -> addresses
        for appeal_id in appeals:
            received = new_event(
                "appeal.received",
                appeal_id=appeal_id,
                actor=SYSTEM,
                data=AppealReceived(
                    channel="web", tracking_no=f"T{appeal_id[:8]}", text="路灯坏了"
                ),
            )
            dispatched = new_event(
                "appeal.dispatched",
                appeal_id=appeal_id,
                actor=SYSTEM,
                street="DH-HB",
                unit="DH-HB-RM",
                data=AppealDispatched(
                    matter=None,
                    urgency="normal",
                    lead_unit="DH-HB-RM",
                    by="router",
                    deadlines=far_deadlines(),
                ),
            )
            resolved = new_event(
                "appeal.resolved",
                appeal_id=appeal_id,
                actor=SYSTEM,
                street="DH-HB",
                unit="DH-HB-RM",
                data=AppealResolved(result="已修复"),
            )
            events += [received, dispatched, resolved]
            stored = db.appeals.find_one({"_id": appeal_id})
            assert stored is not None
            email = stored["contact"]["email"]
            expected[f"{received.event_id}:resident:{appeal_id}:email"] = [email]
            expected[f"{dispatched.event_id}:unit:DH-HB-RM:email"] = ["duty.rm@example.org"]
            expected[f"{resolved.event_id}:resident:{appeal_id}:email"] = [email]

        # Hold the 5th message unanswered, kill the worker while it waits for the answer
        # (mid-stream: later events are not handled yet, earlier ones maybe not committed).
        mailbox.hold_at = 5
        publish(broker, broker_profile, events)
        poll(lambda: mailbox.holding.is_set(), timeout=60, what="the 5th e-mail in flight")
        worker.process.kill()
        mailbox.release.set()
        assert len(mailbox.by_key()) < len(expected), "the kill came too late to test anything"

        if REJOINS_AFTER_KILL[broker_profile]:
            worker.process.start()
            worker.process.wait_ready(90)
        else:
            worker = start_worker(
                broker,
                mongo,
                broker_profile,
                infra_dir,
                settings,
                tag=tag,
                group=f"notify-it-{tag}-restarted",
            )

        def all_sent() -> bool:
            states = list(
                db.deliveries.find(
                    {"appeal_id": {"$in": appeals}, "channel": "email"}, {"state": 1}
                )
            )
            return len(states) == len(expected) and all(d["state"] == "sent" for d in states)

        poll(all_sent, timeout=90, what="every e-mail delivery marked sent")
        counts = mailbox.by_key()
        assert counts == {key: 1 for key in expected}
        with mailbox.lock:
            for message, rcpt in mailbox.accepted:
                assert rcpt == expected[str(message["X-Appeals-Delivery-Key"]).strip()]
        held = db.deliveries.find_one({"attempts": {"$gte": 2}, "channel": "email"})
        assert held is not None, "the held delivery was retried after the crash"

        # English for the residents who asked for it, the tracking number and the status link.
        english = next(
            m
            for m, r in mailbox.accepted
            if r == ["resident1@example.com"] and "received" in m["Subject"]
        )
        assert f"T{appeals[1][:8]}" in english["Subject"]
        assert f"https://12345.example.org/status/T{appeals[1][:8]}" in english.get_content()

        # Staff also got the inbox; one inbox notice per dispatch.
        assert db.inbox.count_documents(
            {"appeal_id": {"$in": appeals}, "recipient": "unit:DH-HB-RM"}
        ) == len(appeals)
        pipeline_fields = db.deliveries.find_one({"appeal_id": appeals[0]})
        assert pipeline_fields is not None
        assert pipeline_fields["event_type"] and pipeline_fields["appeal_id"] == appeals[0]
        assert_no_personal_data(worker.log_path, ["resident0@example.com", "duty.rm@example.org"])
    finally:
        db.client.close()
        worker.process.stop()


@pytest.fixture(scope="module")
def http_world(
    broker: BrokerProcess, mongo: DatabaseProcess, broker_profile: str, infra_dir: Path
) -> Iterator[tuple[Worker, Receiver]]:
    receiver = Receiver()
    server, port = serve(receiver)
    worker = start_worker(
        broker,
        mongo,
        broker_profile,
        infra_dir,
        {
            "APPEALS_SMS_GATEWAY_URL": f"http://127.0.0.1:{port}/sms",
            "APPEALS_WEBHOOK_URLS": f"http://127.0.0.1:{port}/hook",
            "APPEALS_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "APPEALS_MAX_ATTEMPTS": "6",
        },
    )
    try:
        yield worker, receiver
    finally:
        worker.process.stop()
        server.shutdown()
        server.server_close()


def test_sms_gateway_failing_for_a_while_is_retried_and_delivers_once(
    http_world: tuple[Worker, Receiver],
    broker: BrokerProcess,
    mongo: DatabaseProcess,
    broker_profile: str,
) -> None:
    worker, receiver = http_world
    appeal_id = uuid.uuid4().hex[:20]
    db: Database[dict[str, Any]] = MongoClient(mongo.url, tz_aware=True)[worker.db_name]
    try:
        db.appeals.insert_one(appeal_doc(appeal_id, phone="13800000000"))
        event = new_event(
            "appeal.received",
            appeal_id=appeal_id,
            actor=SYSTEM,
            data=AppealReceived(channel="hotline", tracking_no="T42", text="x"),
        )
        publish(broker, broker_profile, [event])
        key = f"{event.event_id}:resident:{appeal_id}:sms"

        def delivered() -> dict[str, Any] | None:
            doc = db.deliveries.find_one({"_id": key})
            return doc if doc and doc["state"] == "sent" else None

        doc = poll(delivered, timeout=60, what="the SMS delivered after the gateway recovers")
        calls = [c for c in receiver.on("/sms") if c[2]["key"] == key]
        assert [c[0] for c in calls] == [500, 500, 500, 200]
        assert {c[1]["Idempotency-Key"] for c in calls} == {key}
        assert calls[-1][2]["to"] == ["13800000000"] and "T42" in calls[-1][2]["text"]
        assert doc["attempts"] == 4
        text = httpx.get(worker.url("/metrics")).text
        assert (
            metric_value(text, "notify_deliveries_total", {"channel": "sms", "outcome": "retry"})
            == 3
        )
        assert (
            metric_value(text, "notify_deliveries_total", {"channel": "sms", "outcome": "sent"})
            == 1
        )
        assert_no_personal_data(worker.log_path, ["13800000000"])
    finally:
        db.client.close()


def read_dead_letters(bootstrap: str, appeal_id: str) -> list[dict[str, Any]]:
    consumer = KafkaConsumer(
        DEAD_LETTERS["notify.deliveries"],
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    found: list[dict[str, Any]] = []
    try:

        def collect() -> list[dict[str, Any]]:
            for message in consumer:
                body = orjson.loads(message.value)
                if body["appeal_id"] == appeal_id:
                    found.append(body)
            return found

        poll(collect, timeout=60, what=f"a dead letter for {appeal_id}")
    finally:
        consumer.close()
    return found


def test_a_permanently_failing_webhook_is_dead_lettered_and_counted(
    http_world: tuple[Worker, Receiver],
    broker: BrokerProcess,
    mongo: DatabaseProcess,
    broker_profile: str,
) -> None:
    worker, receiver = http_world
    appeal_id = uuid.uuid4().hex[:20]
    receiver.doomed.add(appeal_id)
    store_appeal(mongo, worker, appeal_doc(appeal_id))
    event = new_event(
        "appeal.resolved",
        appeal_id=appeal_id,
        actor=SYSTEM,
        street="DH-HB",
        unit="DH-HB-UE",
        data=AppealResolved(result="ok"),
    )
    publish(broker, broker_profile, [event])

    letters = read_dead_letters(broker.bootstrap, appeal_id)
    assert len(letters) == 1
    letter = letters[0]
    assert letter["channel"] == "webhook" and letter["reason"] == "permanent"
    assert letter["event_id"] == event.event_id and "410" in letter["error"]
    assert letter["key"].startswith(f"{event.event_id}:subscriber:")

    calls = [c for c in receiver.on("/hook") if c[2]["event"]["appeal_id"] == appeal_id]
    assert len(calls) == 1  # a 410 is not retried
    status, headers, body, raw = calls[0]
    assert status == 410 and headers["Idempotency-Key"] == letter["key"]
    assert body["event"]["event_id"] == event.event_id
    signed = hmac.new(
        WEBHOOK_SECRET.encode(),
        headers["X-Appeals-Timestamp"].encode() + b"." + raw,
        hashlib.sha256,
    ).hexdigest()
    assert headers["X-Appeals-Signature"] == f"sha256={signed}"

    db: Database[dict[str, Any]] = MongoClient(mongo.url, tz_aware=True)[worker.db_name]
    try:
        doc = db.deliveries.find_one({"_id": letter["key"]})
        assert doc is not None
        assert doc["state"] == "failed" and doc["retryable"] is False
    finally:
        db.client.close()

    def counted() -> float | None:
        text = httpx.get(worker.url("/metrics")).text
        value = metric_value(text, "notify_dead_letters_total", {"channel": "webhook"})
        return value or None

    assert poll(counted, timeout=10, what="the dead letter in the metrics") == 1


def test_staff_inbox_streams_live_and_reminds_once_before_a_deadline(
    http_world: tuple[Worker, Receiver],
    broker: BrokerProcess,
    mongo: DatabaseProcess,
    broker_profile: str,
) -> None:
    worker, _ = http_world
    appeal_id = uuid.uuid4().hex[:20]
    unit = "DH-WJ-RM"
    received: list[dict[str, Any]] = []
    opened = threading.Event()
    stop = threading.Event()

    failures: list[BaseException] = []

    def listen() -> None:
        url = worker.url(f"/api/v1/stream?recipient=unit:{unit}")
        try:
            with httpx.stream("GET", url, timeout=httpx.Timeout(5, read=30)) as response:
                if response.headers["content-type"].startswith("text/event-stream"):
                    opened.set()
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        received.append(orjson.loads(line[6:]))
                    if stop.is_set():
                        return
        except httpx.HTTPError as exc:
            if not stop.is_set():  # after the test is done, the worker may go first
                failures.append(exc)

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert opened.wait(15), "the stream did not open"

    store_appeal(mongo, worker, appeal_doc(appeal_id))
    now = datetime.now(UTC)
    sign_due = now + timedelta(seconds=8)
    event = new_event(
        "appeal.dispatched",
        appeal_id=appeal_id,
        actor=SYSTEM,
        street="DH-WJ",
        unit=unit,
        occurred_at=now,
        data=AppealDispatched(
            matter=None,
            urgency="urgent",
            lead_unit=unit,
            by="router",
            deadlines={
                "sign": sign_due,
                "respond": now + timedelta(days=1),
                "resolve": now + timedelta(days=5),
            },
        ),
    )
    publish(broker, broker_profile, [event])

    def streamed(kind: str) -> Callable[[], list[dict[str, Any]]]:
        return lambda: [
            n for n in received if n["appeal_id"] == appeal_id and n["event_type"] == kind
        ]

    new_work = poll(streamed("appeal.dispatched"), timeout=60, what="the new work streamed")
    assert new_work[0]["recipient"] == f"unit:{unit}" and new_work[0]["title"].endswith(appeal_id)
    # remind_at = 80 % of the 8 s to the sign deadline; once, before it passes
    reminder = poll(streamed("notify.deadline_near"), timeout=30, what="the reminder streamed")
    assert reminder[0]["topic"] == "staff_deadline_near"
    while datetime.now(UTC) < sign_due + timedelta(seconds=2):
        time.sleep(0.2)
    stop.set()
    assert not failures, failures
    db: Database[dict[str, Any]] = MongoClient(mongo.url, tz_aware=True)[worker.db_name]
    try:
        inbox = list(db.inbox.find({"appeal_id": appeal_id}))
        assert sorted(d["event_type"] for d in inbox) == [
            "appeal.dispatched",
            "notify.deadline_near",
        ]
        assert all(d["unread"] and d["recipient"] == f"unit:{unit}" for d in inbox)
        assert len(streamed("notify.deadline_near")()) == 1
    finally:
        db.client.close()
    bad = httpx.get(worker.url("/api/v1/stream?recipient=nobody"))
    assert bad.status_code == 400
