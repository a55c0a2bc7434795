"""The fault-injection harness: a private stack per scenario, a retrying client, the checks.

Every scenario starts its own broker, SecantusDB and services (``FaultStack``) on free ports
with data under the test's ``tmp_path``, so a process killed here never disturbs another test.
Each service runs with ``APPEALS_WORKER_ID=1`` and keeps it across restarts: on noida a worker
killed with -9 can only rejoin its consumer group under the same static identity
(docs/brokers.md).

``Sender`` is the client a resident's browser should be: it posts web appeals at a steady rate,
each with its own ``Idempotency-Key``, and retries a request whose fate it does not know
(connection error, timeout, 503) with the *same* key until it gets an answer.

``verify`` checks what the system says against what the client was told: every accepted appeal
stored once, in the state the router decides, with one ``appeal.received`` in the event log and
on the broker, one notify delivery per (event, recipient, channel), and metrics totals that
equal the number of appeals. Each scenario records a ``Row`` for the session summary
(tests/faults/conftest.py) and asserts on it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
from aiokafka.errors import KafkaError
from kafka import KafkaConsumer
from prometheus_client.parser import text_string_to_metric_families
from pymongo import MongoClient
from pymongo.database import Database

from services.cli.stack import service_env, start_service
from shared.embedded import (
    BrokerProcess,
    DatabaseProcess,
    ManagedProcess,
    free_port,
    start_broker,
    start_database,
    stop_together,
)
from shared.kafka import ensure_topics, rewind_groups_to_log_end
from shared.topics import consumer_groups

__all__ = [
    "ROWS",
    "AppealSpec",
    "FaultStack",
    "Row",
    "Sender",
    "expected_outcomes",
    "poll",
    "read_topic",
    "reference_appeals",
    "verify",
]

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
SERVICE_ORDER = ("appeals", "routing", "notify", "metrics")
MONGO_DB = "appeals_faults"
# The appeal states a routing decision leads to.
OUTCOME_STATE = {"dispatch": "dispatched", "triage": "triage", "transfer": "transferred"}
OUTCOME_EVENT = {
    "dispatch": "appeal.dispatched",
    "triage": "appeal.triaged",
    "transfer": "appeal.transferred",
}


def reference_city() -> Path:
    """../shared/reference-city beside the repository (``APPEALS_REFERENCE_CITY`` overrides)."""
    import os

    default = REPO.parent / "shared" / "reference-city"
    return Path(os.environ.get("APPEALS_REFERENCE_CITY", default))


def poll(check: Callable[[], T | None], *, timeout: float, what: str, every: float = 0.25) -> T:
    """Call ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


# ----------------------------------------------------------------------------- the stack


@dataclass
class FaultStack:
    """One scenario's broker, database and services, each killable and restartable."""

    root: Path
    profile: str
    broker: BrokerProcess
    database: DatabaseProcess
    env: dict[str, str]
    ports: dict[str, int]
    services: dict[str, ManagedProcess] = field(default_factory=dict)
    # what the last broker restart rewound: {group: {"topic:partition": (from, to)}}
    rewound: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    rewind_refused: str | None = None  # why the broker refused the rewind, if it did

    @classmethod
    def start(
        cls,
        root: Path,
        profile: str,
        *,
        services: Iterable[str] = SERVICE_ORDER,
        extra: dict[str, str] | None = None,
    ) -> FaultStack:
        """Start the broker, the database (durable on commit) and the named services."""
        broker = start_broker(profile, data_dir=root / "broker")  # type: ignore[arg-type]
        try:
            database = start_database(data_dir=root / "database")
        except BaseException:
            broker.stop()
            raise
        asyncio.run(ensure_topics(broker.bootstrap))
        ports = {name: free_port() for name in SERVICE_ORDER}
        city = reference_city()
        env = service_env(
            bootstrap=broker.bootstrap,
            broker_profile=profile,
            mongo_url=database.url,
            data_dir=root / "services",
            ports=ports,
            extra={
                "APPEALS_MONGO_DB": MONGO_DB,
                "APPEALS_WORKER_ID": "1",
                "APPEALS_JURISDICTION_FILE": str(city / "jurisdiction.yaml"),
                "APPEALS_MATTERS_FILE": str(city / "matters.yaml"),
                "APPEALS_METRICS_FIGURES_SECONDS": "1",
                "APPEALS_METRICS_FLUSH_SECONDS": "0.5",
                "APPEALS_METRICS_LAG_SECONDS": "1",
                "APPEALS_RETRY_SCAN_SECONDS": "0.5",
                # The routing watchdog (120 s in production) within the scenarios' patience.
                "APPEALS_ROUTING_STALL_SECONDS": "15",
                # The second opinion's vectors, encoded once for the whole session rather than
                # at every scenario's first start (written atomically; texts are the keys).
                "APPEALS_ROUTING_EMBEDDING_CACHE": str(root.parent / "routing-embeddings.npz"),
                **(extra or {}),
            },
        )
        stack = cls(root, profile, broker, database, env, ports)
        try:
            for name in services:
                stack.services[name] = start_service(
                    name, env=env, port=ports[name], data_dir=root / "services", ready_timeout=120
                )
        except BaseException:
            stack.stop()
            raise
        return stack

    def url(self, service: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def part(self, name: str) -> ManagedProcess:
        """A service by name, or ``broker`` / ``database``."""
        if name == "broker":
            return self.broker
        if name == "database":
            return self.database
        return self.services[name]

    def kill(self, name: str) -> None:
        """kill -9: no goodbye to the broker, the database or the clients."""
        self.part(name).kill()

    def bring_back(self, name: str, *, timeout: float = 120) -> float:
        """Start a killed or stopped part again (same port, data and worker id); return the
        seconds until it was ready."""
        process = self.part(name)
        started = time.monotonic()
        if name == "broker":
            # noida comes back up to ~1 s in the past; consumers must resume from their
            # committed offsets (rolled back with the data), not from where they had read to,
            # and none may touch the returned broker with state from before the crash: the
            # services stop before it starts. What the embedded supervisor does too
            # (services/cli/stack.py: Stack.recover_broker).
            stop_together(list(self.services.values()))
        process.start()
        process.wait_ready(timeout)
        if name == "broker":
            # A topic created inside noida's snapshot window would be gone (docs/brokers.md).
            asyncio.run(ensure_topics(self.broker.bootstrap))
            # Committed offsets newer than the log snapshot: back to the log end before anyone
            # writes (docs/faults.md, finding 7), as Stack.recover_broker does.
            try:
                self.rewound = asyncio.run(
                    rewind_groups_to_log_end(self.broker.bootstrap, consumer_groups(self.env))
                )
            except KafkaError as exc:  # as Stack.recover_broker: reported, not fatal
                self.rewind_refused = str(exc)[:200]
            for service in self.services.values():
                service.start()
            for service in self.services.values():
                service.wait_ready(timeout)
        return time.monotonic() - started

    def stop(self) -> None:
        """Services first, then the infrastructure; SIGTERM, then SIGKILL."""
        for process in reversed(list(self.services.values())):
            process.stop()
        self.database.stop()
        self.broker.stop()

    def db(self) -> Database[dict[str, Any]]:
        """A synchronous client on the scenario's database (close ``.client`` when done)."""
        client: MongoClient[dict[str, Any]] = MongoClient(
            self.database.url, serverSelectionTimeoutMS=5000, tz_aware=True
        )
        return client[MONGO_DB]

    def log_tails(self) -> str:
        """The end of every part's log, for a failure message."""
        parts = [self.broker, self.database, *self.services.values()]
        return "\n".join(f"--- {p.name}\n{p.log_tail(15)}" for p in parts)


# ----------------------------------------------------------------------------- appeals


@dataclass(frozen=True)
class AppealSpec:
    """One web appeal from the reference city's dev set, with its matter given."""

    ref: str
    text: str
    address: str | None
    location: tuple[float, float] | None
    matter: str

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"text": self.text, "matter": self.matter}
        if self.address is not None:
            body["address"] = self.address
        if self.location is not None:
            body["location"] = {"lon": self.location[0], "lat": self.location[1]}
        return body


@cache
def _router() -> Any:
    from services.routing.domain.router import Router
    from shared.city import load_city

    city = reference_city()
    return Router.from_city(load_city(city / "jurisdiction.yaml", city / "matters.yaml"))


@cache
def _all_specs() -> tuple[AppealSpec, ...]:
    specs = []
    for line in (reference_city() / "dev-appeals.jsonl").read_text().splitlines():
        row = json.loads(line)
        matter = (row.get("expected") or {}).get("matter")
        if not matter or (row.get("address") is None and row.get("location") is None):
            continue  # web intake needs a matter (for a known outcome) and a place
        loc = row.get("location")
        specs.append(
            AppealSpec(
                ref=row["id"],
                text=row["text"],
                address=row.get("address"),
                location=(loc["lon"], loc["lat"]) if loc else None,
                matter=matter,
            )
        )
    return tuple(specs)


@cache
def expected_outcomes() -> dict[str, tuple[str, str | None]]:
    """Per dev appeal (by ref): what the router decides for its text, place and matter —
    ("dispatch" | "triage" | "transfer", lead unit). The router is pure, so this is what the
    routing service must decide too."""
    from services.routing.domain.router import RouteRequest

    router = _router()
    outcomes = {}
    for spec in _all_specs():
        outcome = router.route(
            RouteRequest(
                text=spec.text,
                address=spec.address,
                location=spec.location,
                matter_hint=spec.matter,
            )
        )
        kind = "transfer" if outcome.transfer else "triage" if outcome.triage else "dispatch"
        outcomes[spec.ref] = (kind, outcome.unit)
    return outcomes


def reference_appeals(count: int) -> list[AppealSpec]:
    """``count`` dev appeals with every outcome represented (transfers and triages first in
    each round of ten, then dispatches)."""
    outcomes = expected_outcomes()
    by_kind: dict[str, list[AppealSpec]] = {"dispatch": [], "triage": [], "transfer": []}
    for spec in _all_specs():
        by_kind[outcomes[spec.ref][0]].append(spec)
    picked: list[AppealSpec] = []
    rounds = 0
    while len(picked) < count:
        for kind, per_round in (("transfer", 1), ("triage", 1), ("dispatch", 8)):
            pool = by_kind[kind]
            for k in range(per_round):
                if pool and len(picked) < count:
                    picked.append(pool[(rounds * per_round + k) % len(pool)])
        rounds += 1
    return picked


# ----------------------------------------------------------------------------- the client


@dataclass
class Submission:
    """What the client knows about one appeal it posted."""

    spec: AppealSpec
    key: str
    appeal_id: str | None = None
    status: int | None = None  # the final answer: 201 (created), 200 (a replay), or an error
    attempts: int = 0
    answers: Counter[str] = field(default_factory=Counter)  # "201", "503", "conn" ...
    retry_after: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.status in (200, 201) and self.appeal_id is not None


class Sender:
    """Posts web appeals at a steady rate from a background thread, retrying each with the
    same Idempotency-Key until it gets a definite answer."""

    def __init__(
        self,
        base_url: str,
        specs: list[AppealSpec],
        *,
        interval: float,
        give_up_after: float = 120.0,
        timeout: float = 5.0,
        retry_after_cap: float = 1.0,
    ) -> None:
        self.base_url = base_url
        self.pending = list(specs)
        self.interval = interval
        self.give_up_after = give_up_after
        self.timeout = timeout
        # Retry-After is honoured up to this many seconds (scenarios must stay short).
        self.retry_after_cap = retry_after_cap
        self.done: list[Submission] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="appeal-sender", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> Sender:
        self._thread.start()
        return self

    def stop(self, timeout: float = 180.0) -> list[Submission]:
        """Stop after the appeal in hand has a definite answer; return every submission."""
        self._stop.set()
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the sender did not finish its last appeal"
        if self.error is not None:
            raise self.error
        return self.done

    def wait_sent(self, count: int, timeout: float) -> None:
        """Block until ``count`` appeals have a definite answer."""
        poll(lambda: len(self.done) >= count, timeout=timeout, what=f"{count} appeals sent")

    def _run(self) -> None:
        try:
            with httpx.Client(timeout=self.timeout) as http:
                while self.pending and not self._stop.is_set():
                    started = time.monotonic()
                    self.done.append(self.submit(http, self.pending.pop(0)))
                    pause = self.interval - (time.monotonic() - started)
                    if pause > 0:
                        self._stop.wait(pause)
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def submit(self, http: httpx.Client, spec: AppealSpec) -> Submission:
        sub = Submission(spec, key=f"fault-{uuid.uuid4().hex}")
        deadline = time.monotonic() + self.give_up_after
        while True:
            sub.attempts += 1
            try:
                response = http.post(
                    f"{self.base_url}/api/v1/appeals",
                    json=spec.body(),
                    headers={"Idempotency-Key": sub.key},
                )
            except httpx.TransportError as exc:
                sub.answers[type(exc).__name__] += 1
                wait = 0.3
            else:
                sub.answers[str(response.status_code)] += 1
                if response.status_code in (200, 201):
                    sub.status = response.status_code
                    sub.appeal_id = response.json()["id"]
                    return sub
                if response.status_code != 503:
                    sub.status = response.status_code
                    return sub
                header = response.headers.get("Retry-After", "")
                sub.retry_after.append(header)
                wait = min(float(header), self.retry_after_cap) if header.isdigit() else 0.5
            if time.monotonic() + wait > deadline:
                return sub  # no definite answer: status stays None
            time.sleep(wait)


# ----------------------------------------------------------------------------- reading


def read_topic(bootstrap: str, topic: str, *, idle_ms: int = 1500) -> list[Any]:
    """Every record of ``topic`` from the start (kafka-python, no group)."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=idle_ms,
    )
    try:
        return list(consumer)
    finally:
        consumer.close()


def exposition(stack: FaultStack) -> str:
    return httpx.get(stack.url("metrics", "/metrics"), timeout=10).text


def sample_sum(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


# ----------------------------------------------------------------------------- the report


@dataclass
class Row:
    """One scenario's line in the session summary."""

    scenario: str
    sent: int = 0
    accepted: int = 0
    stored: int = 0
    final_ok: int = 0
    final_total: int = 0
    duplicates: int = 0
    lost: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        final = f"{self.final_ok}/{self.final_total}"
        return (
            f"{self.scenario:<34} {self.sent:>5} {self.accepted:>8} {self.stored:>6} "
            f"{final:>9} {self.duplicates:>5} {self.lost:>5} {self.seconds:>6.0f}s  "
            + "; ".join(self.notes)
        )


HEADER = (
    f"{'scenario':<34} {'sent':>5} {'accepted':>8} {'stored':>6} {'final ok':>9} "
    f"{'dups':>5} {'lost':>5} {'time':>7}  notes"
)
ROWS: list[Row] = []


def record(row: Row) -> Row:
    """Keep the row for the session summary and print it now."""
    ROWS.append(row)
    print("\n" + HEADER + "\n" + row.line())
    return row


# ----------------------------------------------------------------------------- the checks


@dataclass
class Verdict:
    """What ``verify`` found, beyond the row's numbers."""

    problems: list[str] = field(default_factory=list)
    redelivered: int = 0  # extra copies of an event on the broker (same event_id)


def verify(
    stack: FaultStack,
    submissions: list[Submission],
    row: Row,
    *,
    settle_timeout: float = 120.0,
    check_notify: bool = True,
    check_metrics: bool = True,
) -> Verdict:
    """Fill ``row`` from the database, the broker and the workers; return the problems."""
    verdict = Verdict()
    outcomes = expected_outcomes()
    accepted = [s for s in submissions if s.accepted]
    row.sent = len(submissions)
    row.accepted = len(accepted)
    unanswered = [s for s in submissions if not s.accepted]
    if unanswered:
        verdict.problems.append(
            f"{len(unanswered)} appeals got no acceptance: "
            f"{[(s.spec.ref, s.status, dict(s.answers)) for s in unanswered[:5]]}"
        )
    keys = {f"web:{s.key}": s for s in submissions}
    want_state = {s.appeal_id: OUTCOME_STATE[outcomes[s.spec.ref][0]] for s in accepted}
    want_unit = {s.appeal_id: outcomes[s.spec.ref][1] for s in accepted}

    db = stack.db()
    try:
        docs = list(
            db.appeals.find(
                {"idempotency_key": {"$in": list(keys)}},
                {"idempotency_key": 1, "state": 1, "unit": 1, "outbox_pending": 1},
            )
        )
        per_key = Counter(d["idempotency_key"] for d in docs)
        row.stored = len(docs)
        row.duplicates += sum(n - 1 for n in per_key.values() if n > 1)
        ids_by_key = {d["idempotency_key"]: d["_id"] for d in docs}
        lost = [s for s in accepted if f"web:{s.key}" not in ids_by_key]
        row.lost += len(lost)
        if lost:
            verdict.problems.append(f"accepted but not stored: {[s.appeal_id for s in lost]}")
        wrong_id = [
            s for s in accepted if ids_by_key.get(f"web:{s.key}", s.appeal_id) != s.appeal_id
        ]
        if wrong_id:
            verdict.problems.append(
                f"the id the client was given is not the stored one: {wrong_id}"
            )
        stored_set = set(ids_by_key.values())
        stored_ids = [s.appeal_id for s in accepted if s.appeal_id and s.appeal_id in stored_set]

        # Final states: poll until every appeal has left ``received`` and its outbox is empty.
        def settled() -> list[dict[str, Any]] | None:
            found = list(
                db.appeals.find(
                    {"_id": {"$in": stored_ids}}, {"state": 1, "unit": 1, "outbox_pending": 1}
                )
            )
            done = all(
                d["state"] == want_state[d["_id"]] and not d["outbox_pending"] for d in found
            )
            return found if done else None

        try:
            final = poll(settled, timeout=settle_timeout, what="every appeal in its final state")
        except AssertionError:
            final = list(db.appeals.find({"_id": {"$in": stored_ids}}))
        row.final_total = len(accepted)
        wrong = [
            (d["_id"], d["state"], want_state[d["_id"]], d.get("unit"))
            for d in final
            if d["state"] != want_state[d["_id"]]
            or (want_state[d["_id"]] == "dispatched" and d.get("unit") != want_unit[d["_id"]])
        ]
        row.final_ok = len(final) - len(wrong)
        if wrong:
            verdict.problems.append(f"{len(wrong)} appeals in a wrong state: {wrong[:8]}")

        # Healing is allowed, and reported: appeals the watchdog had to send to routing again.
        resent = sum(
            int(d.get("routing_resends") or 0)
            for d in db.appeals.find({"_id": {"$in": stored_ids}}, {"routing_resends": 1})
        )
        if resent:
            row.notes.append(f"watchdog re-sent {resent} stalled appeal(s) to routing")

        # The event log: exactly one appeal.received per appeal.
        received_log = Counter(
            e["appeal_id"]
            for e in db.event_log.find(
                {"appeal_id": {"$in": stored_ids}, "type": "appeal.received"}, {"appeal_id": 1}
            )
        )
        bad_log = {a: received_log.get(a, 0) for a in stored_ids if received_log.get(a, 0) != 1}
        if bad_log:
            row.duplicates += sum(n - 1 for n in bad_log.values() if n > 1)
            verdict.problems.append(f"appeal.received in the event log not once: {bad_log}")

        # The broker: one appeal.received event id per appeal (copies of it are republishing).
        def broker_has_all() -> list[Any] | None:
            records = read_topic(stack.broker.bootstrap, "appeals.events")
            seen = {orjson.loads(r.value).get("appeal_id") for r in records if _is_json(r.value)}
            return records if set(stored_ids) <= seen else None

        try:
            records = poll(broker_has_all, timeout=60, what="every appeal on appeals.events")
        except AssertionError:
            records = read_topic(stack.broker.bootstrap, "appeals.events")
        ids_on_broker: dict[str, set[str]] = {}
        copies: Counter[str] = Counter()
        for record_ in records:
            if not _is_json(record_.value):
                continue
            event = orjson.loads(record_.value)
            if event.get("type") == "appeal.received" and event.get("appeal_id") in want_state:
                ids_on_broker.setdefault(event["appeal_id"], set()).add(event["event_id"])
                copies[event["event_id"]] += 1
        verdict.redelivered = sum(n - 1 for n in copies.values())
        missing = [a for a in stored_ids if a not in ids_on_broker]
        twice = {a: len(e) for a, e in ids_on_broker.items() if len(e) != 1}
        if missing:
            row.lost += len(missing)
            verdict.problems.append(f"appeal.received never reached the broker: {missing[:8]}")
        if twice:
            row.duplicates += sum(n - 1 for n in twice.values())
            verdict.problems.append(f"several appeal.received event ids for one appeal: {twice}")

        if check_notify:
            verdict.problems += _check_notify(db, stored_ids, outcomes, accepted, row)
    finally:
        db.client.close()

    if check_metrics:
        verdict.problems += _check_metrics(stack, accepted, outcomes, row)
    restored = {}
    for service in ("routing", "metrics"):
        try:
            text = httpx.get(stack.url(service, "/metrics"), timeout=10).text
        except httpx.HTTPError:
            continue
        restored[service] = int(sample_sum(text, "state_restored_total", service=service))
    if any(restored.values()):
        row.notes.append(f"lost worker state restored: {restored}")
    return verdict


def _is_json(value: bytes | None) -> bool:
    try:
        return isinstance(orjson.loads(value or b""), dict)
    except orjson.JSONDecodeError:
        return False


def _check_notify(
    db: Database[dict[str, Any]],
    ids: list[str],
    outcomes: dict[str, tuple[str, str | None]],
    accepted: list[Submission],
    row: Row,
) -> list[str]:
    """One sent delivery per (event, recipient, channel), for the received event and the
    routing outcome's event of every appeal; and no event type delivered twice to one
    recipient and channel under two different event ids."""
    outcome_event = {s.appeal_id: OUTCOME_EVENT[outcomes[s.spec.ref][0]] for s in accepted}

    def complete() -> list[dict[str, Any]] | None:
        found = list(db.deliveries.find({"appeal_id": {"$in": ids}}))
        have = {(d["appeal_id"], d["event_type"]) for d in found if d["state"] == "sent"}
        want = {(a, "appeal.received") for a in ids} | {(a, outcome_event[a]) for a in ids}
        return found if want <= have else None

    problems = []
    try:
        found = poll(complete, timeout=90, what="notify's deliveries for every appeal")
    except AssertionError as exc:
        problems.append(f"notify: {str(exc)[:600]}")
        found = list(db.deliveries.find({"appeal_id": {"$in": ids}}))
    per_target = Counter(
        (d["appeal_id"], d["event_type"], d["recipient"], d["channel"]) for d in found
    )
    doubled = {k: n for k, n in per_target.items() if n > 1}
    if doubled:
        row.duplicates += sum(n - 1 for n in doubled.values())
        problems.append(f"notify delivered one event type twice to one recipient: {doubled}")
    inbox = Counter(
        (d["appeal_id"], d["event_type"], d["recipient"])
        for d in db.inbox.find({"appeal_id": {"$in": ids}})
    )
    doubled_inbox = {k: n for k, n in inbox.items() if n > 1}
    if doubled_inbox:
        row.duplicates += sum(n - 1 for n in doubled_inbox.values())
        problems.append(f"inbox notices twice: {doubled_inbox}")
    return problems


def _check_metrics(
    stack: FaultStack,
    accepted: list[Submission],
    outcomes: dict[str, tuple[str, str | None]],
    row: Row,
) -> list[str]:
    """City-wide month figures: received = appeals; backlog by state = appeals in it."""
    kinds = Counter(outcomes[s.spec.ref][0] for s in accepted)
    want = {
        "received": len(accepted),
        "dispatched": kinds["dispatch"],
        "backlog": kinds["dispatch"] + kinds["triage"],
    }

    def figures() -> dict[str, float]:
        try:
            text = exposition(stack)
        except httpx.HTTPError as exc:
            return {"unreachable": float(len(str(exc)))}
        got = {
            figure: sample_sum(text, "appeals_count", level="district", period="month",
                               figure=figure)
            for figure in want
        }  # fmt: skip
        got["backlog:dispatched"] = sample_sum(text, "appeals_backlog", state="dispatched")
        got["backlog:triage"] = sample_sum(text, "appeals_backlog", state="triage")
        return got

    expected = {
        **want,
        "backlog:dispatched": kinds["dispatch"],
        "backlog:triage": kinds["triage"],
    }
    try:
        poll(lambda: figures() == expected, timeout=60, what="metrics totals", every=1.0)
    except AssertionError:
        got = figures()
        over = max(0.0, got.get("received", 0.0) - expected["received"])
        row.duplicates += int(over)
        return [f"metrics totals {got} != {expected}"]
    return []
