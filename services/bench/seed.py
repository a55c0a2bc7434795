"""``appeals bench seed``: fill a database with appeals as the appeals service stores them.

For measuring at scale (work queues and status look-ups over a million appeals, rebuilding
metrics from the event log) without pushing each appeal through intake and routing: documents
go straight in with insert_many, in the layout ``services/appeals/adapters/documents.py``
writes (the aggregate's fields at the top level, ``holder``/``unit``/``is_open`` for the
queues, the events as the audit trail, an empty outbox), and every event also goes into the
``event_log`` collection the relay fills. The benchmark may not import a service, so the layout
is restated here; tests/unit/test_bench_seed.py fails when it drifts from the service's.

States follow a city's year (``Backlog``). ``steady`` (the default): appeals received over the
last year, and only recent ones still open, as intake and closing balance out in a working
city: an appeal received ``d`` days ago is open with probability ``1 - d / 14`` (so about 2% of
a year's appeals are open at once, half of the last two weeks'). ``heavy``: 18% of all appeals
open, all received in the last two weeks, whatever the total: nine times a steady backlog at
any size, what desks that stopped closing work for months would hold; it measures how a desk's
views grow with its open work. The first ``tokens`` appeals' secret tokens are returned so
status look-ups can be timed.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from pymongo.errors import AutoReconnect, BulkWriteError

from shared.city import City
from shared.mongo import make_client

__all__ = [
    "BACKLOGS",
    "Backlog",
    "SeedResult",
    "StatePath",
    "appeal_document",
    "generate",
    "run_seed",
    "seed_appeals",
    "targets_of",
]

# Each state and the events that lead to it, with its share of a year's appeals.
StatePath = tuple[str, tuple[str, ...], float]
STATE_PATHS: tuple[StatePath, ...] = (
    ("closed", ("received", "dispatched", "signed", "responded", "resolved", "reviewed",
                "closed"), 0.80),
    ("dispatched", ("received", "dispatched"), 0.05),
    ("signed", ("received", "dispatched", "signed"), 0.03),
    ("responded", ("received", "dispatched", "signed", "responded"), 0.04),
    ("resolved", ("received", "dispatched", "signed", "responded", "resolved"), 0.04),
    ("triage", ("received", "triaged"), 0.02),
    ("transferred", ("received", "transferred"), 0.02),
)  # fmt: skip
OPEN = {"dispatched", "signed", "responded", "resolved", "triage"}
_OPEN_PATHS = tuple(path for path in STATE_PATHS if path[0] in OPEN)
_DONE_PATHS = tuple(path for path in STATE_PATHS if path[0] not in OPEN)

Backlog = Literal["steady", "heavy"]
BACKLOGS: tuple[Backlog, ...] = get_args(Backlog)
# Steady backlog: an appeal received this many days ago or earlier is done.
RECENT_DAYS = 14
YEAR_SECONDS = 365 * 86400


@dataclass(frozen=True)
class _Target:
    district: str
    street: str
    community: str
    unit: str
    dispatch_center: str
    matter: str
    urgency: str
    address: str


def targets_of(city: City) -> list[_Target]:
    """(place, matter, unit) combinations the city's routing could produce."""
    found: list[_Target] = []
    matters = [m for m in city.catalog.matters if not m.out_of_scope and m.owner]
    for district, street, community in city.jurisdiction.communities():
        road = next((a.road for a in community.addresses if a.road), community.name)
        for matter in matters:
            unit = street.unit_of_kind(matter.owner or "")
            if unit is None:
                continue
            found.append(
                _Target(
                    district=district.code,
                    street=street.code,
                    community=community.code,
                    unit=unit.code,
                    dispatch_center=district.dispatch_center,
                    matter=matter.code,
                    urgency=matter.urgency,
                    address=f"{road}1号",
                )
            )
    if not found:
        raise ValueError("the city has no dispatchable matter: nothing to seed")
    return found


def _pick_path(rng: random.Random, paths: tuple[StatePath, ...] = STATE_PATHS) -> StatePath:
    u = rng.random() * sum(path[2] for path in paths)
    acc = 0.0
    for path in paths:
        acc += path[2]
        if u < acc:
            return path
    return paths[0]


def _state_and_age(rng: random.Random, backlog: Backlog) -> tuple[StatePath, float]:
    """The appeal's state path and how many seconds ago it was received."""
    if backlog == "heavy":
        path = _pick_path(rng)
        recent = path[0] in OPEN  # open appeals are recent
        return path, rng.uniform(0, (RECENT_DAYS * 86400) if recent else YEAR_SECONDS)
    age = rng.uniform(0, YEAR_SECONDS)
    still_open = rng.random() < max(0.0, 1.0 - age / (RECENT_DAYS * 86400))
    return _pick_path(rng, _OPEN_PATHS if still_open else _DONE_PATHS), age


def _event(
    type_: str, appeal_id: str, at: datetime, actor: dict[str, Any], data: dict[str, Any],
    target: _Target | None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "event_id": uuid.uuid4().hex,
        "type": f"appeal.{type_}",
        "schema_version": 1,
        "appeal_id": appeal_id,
        "occurred_at": at,
        "actor": actor,
        "street": target.street if target else None,
        "community": target.community if target else None,
        "unit": target.unit if target else None,
        "data": data,
    }


def _serial_digits(serial: int) -> int:
    """Eight digits that look random but differ for every serial below 10**8.

    Random draws collide (about 25 repeated tracking numbers in a million appeals), and one
    repeat breaks the service's unique index on ``tracking_no``: its build fails, or the
    seed's insert does. Multiplying by a number coprime to 10**8 permutes 0 .. 10**8-1.
    """
    return (serial * 48_271 + 20_261_126) % 10**8


def appeal_document(
    rng: random.Random,
    targets: list[_Target],
    now: datetime,
    token: str,
    *,
    serial: int | None = None,
    backlog: Backlog = "steady",
) -> dict[str, Any]:
    """One stored appeal, with its events, as the appeals service would have written it.

    With ``serial`` (unique within a run) the tracking number is unique too.
    """
    target = rng.choice(targets)
    (state, steps, _share), age = _state_and_age(rng, backlog)
    appeal_id = uuid.uuid4().hex[:20]
    received_at = now - timedelta(seconds=age)
    received_at = received_at.replace(microsecond=received_at.microsecond // 1000 * 1000)
    channel = rng.choice(("web", "hotline", "hotline", "open311"))
    digits = rng.randrange(10**8) if serial is None else _serial_digits(serial)
    tracking_no = f"{received_at:%Y%m%d}{digits:08d}"
    text = f"{target.address}，{target.matter} 反映的问题，请尽快处理"
    system: dict[str, Any] = {"kind": "system", "id": "routing", "role": "system", "unit": None}
    staff: dict[str, Any] = {
        "kind": "staff",
        "id": f"u-{target.unit}",
        "role": "unit_staff",
        "unit": target.unit,
    }
    operator: dict[str, Any] = {"kind": "staff", "id": "op-01", "role": "operator", "unit": None}
    deadlines = {
        "sign_by": received_at + timedelta(hours=2),
        "respond_by": received_at + timedelta(days=1),
        "resolve_by": received_at + timedelta(days=7),
    }
    times: dict[str, datetime | None] = dict.fromkeys(
        ("dispatched_at", "signed_at", "responded_at", "resolved_at", "reviewed_at", "closed_at")
    )
    events: list[dict[str, Any]] = []
    at = received_at
    for step in steps:
        data: dict[str, Any]
        actor = staff
        where: _Target | None = target
        if step == "received":
            data = {
                "channel": channel, "tracking_no": tracking_no, "text": text,
                "address": target.address, "location": None, "matter": None,
                "excluded_units": [],
            }  # fmt: skip
            actor, where = operator, None
        elif step == "dispatched":
            data = {
                "matter": target.matter, "urgency": target.urgency, "lead_unit": target.unit,
                "co_handlers": [], "by": "router", "confidence": 0.95, "reasons": [],
                "deadlines": {k.removesuffix("_by"): v.isoformat() for k, v in deadlines.items()},
                "decision_id": uuid.uuid4().hex, "district": target.district,
            }  # fmt: skip
            actor = system
        elif step == "triaged":
            data = {
                "dispatch_center": target.dispatch_center, "reasons": [], "candidates": [],
                "confidence": 0.3, "decision_id": uuid.uuid4().hex, "district": target.district,
            }  # fmt: skip
            actor, where = system, None
        elif step == "transferred":
            data = {"to": "110", "matter": None, "reasons": [], "decision_id": uuid.uuid4().hex}
            actor, where = system, None
        elif step == "responded":
            data = {"message": "已联系诉求人"}
        elif step == "resolved":
            data = {"result": "已处理", "solved": True}
        elif step == "reviewed":
            data = {"satisfaction": "satisfied", "solved": True, "comment": ""}
            actor = operator
        elif step == "closed":
            data = {"reason": ""}
            actor = operator
        else:  # signed
            data = {}
        events.append(_event(step, appeal_id, at, actor, data, where))
        if f"{step}_at" in times:
            times[f"{step}_at"] = at
        at = at + timedelta(minutes=rng.uniform(5, 600))
    routed = state not in ("transferred",)
    dispatched = "dispatched" in steps
    holder = (
        target.dispatch_center
        if state == "triage"
        else target.unit
        if dispatched and state != "closed"
        else None
    )
    if state == "closed":
        holder = target.unit
    return {
        "_id": appeal_id,
        "tracking_no": tracking_no,
        "state": state,
        "version": len(events),
        "channel": channel,
        "text": text,
        "address": target.address,
        "location": None,
        "matter_hint": None,
        "matter": target.matter if routed else None,
        "urgency": target.urgency if routed else None,
        "district": target.district if routed else None,
        "street": target.street if routed else None,
        "community": target.community if routed else None,
        "dispatch_center": target.dispatch_center if state == "triage" else None,
        "lead_unit": target.unit if dispatched else None,
        "co_handlers": [],
        "last_decision_id": events[1]["data"].get("decision_id") if len(events) > 1 else None,
        "transferred_to": "110" if state == "transferred" else None,
        "master_id": None,
        "return_count": 0,
        "returned_by": [],
        "reopen_count": 0,
        "deadlines": deadlines if dispatched else None,
        "overdue_flags": [],
        "paused_since": None,
        "pause_reason": None,
        "pause_count": 0,
        "paused_total": 0.0,
        "extension_pending": None,
        "extension_count": 0,
        "extended_workdays": 0,
        "supervision_pending": [],
        "supervision_count": 0,
        "notes": [],
        "received_at": received_at,
        **times,
        "result": "已处理" if "resolved" in steps else None,
        "solved": True if "resolved" in steps else None,
        "satisfaction": "satisfied" if "reviewed" in steps else None,
        "review_comment": "" if "reviewed" in steps else None,
        "close_reason": "" if state == "closed" else None,
        "holder": holder,
        "unit": target.unit if dispatched else None,
        # Lead unit + co-handlers (none here): unit staff's queues filter on it (access.py).
        "handlers": [target.unit] if dispatched else [],
        "is_open": state in OPEN,
        "token_hash": hashlib.sha256(token.encode()).hexdigest(),
        "contact": {"phone": f"138{rng.randrange(10**8):08d}"},
        "updated_at": at,
        "awaiting_decision_for": events[0]["event_id"],
        "events": events,
        "outbox": [],
        "outbox_pending": False,
    }


@dataclass
class SeedResult:
    """What was inserted, how fast, and a sample to look up afterwards."""

    appeals: int
    events: int
    seconds: float
    samples: list[dict[str, str]]

    @property
    def appeals_per_s(self) -> float:
        """Appeals (documents) inserted per second."""
        return self.appeals / self.seconds if self.seconds else 0.0


def generate(
    city: City, count: int, *, seed: int = 1, tokens: int = 200, backlog: Backlog = "steady"
) -> Iterator[tuple[dict[str, Any], str]]:
    """``count`` appeal documents with their (plain) tokens."""
    if backlog not in BACKLOGS:
        raise ValueError(f"backlog must be one of {', '.join(BACKLOGS)}, not {backlog!r}")
    rng = random.Random(seed)
    targets = targets_of(city)
    now = datetime.now(UTC)
    for i in range(count):
        token = f"seed-{seed}-{i}-{rng.randrange(10**9)}" if i < tokens else "-"
        yield appeal_document(rng, targets, now, token, serial=i, backlog=backlog), token


DUPLICATE_KEY = 11000


def stored_before(error: BulkWriteError) -> bool:
    """Whether a retried batch failed only on documents an earlier attempt had stored."""
    failures = error.details.get("writeErrors") or []
    return bool(failures) and all(f.get("code") == DUPLICATE_KEY for f in failures)


async def insert_all(collection: Any, docs: list[dict[str, Any]], *, attempts: int = 4) -> None:
    """``insert_many`` that survives a dropped connection (unordered, so safe to repeat).

    A long seed on a busy machine lost its connection once (pymongo: "operation cancelled",
    the pool cleared after a missed server heartbeat) and a 1M-appeal run died at 101,000.
    The batch is sent again; documents the lost attempt had stored come back as duplicate
    keys, which is what a repeat should find.
    """
    for attempt in range(attempts):
        try:
            await collection.insert_many(docs, ordered=False)
            return
        except BulkWriteError as exc:
            if attempt and stored_before(exc):
                return
            raise
        except AutoReconnect as exc:
            if attempt == attempts - 1:
                raise
            print(f"seed: {exc!r}; sending the batch again", file=sys.stderr, flush=True)
            await asyncio.sleep(2**attempt)


async def seed_appeals(
    mongo_url: str,
    city: City,
    count: int,
    *,
    database: str = "appeals",
    batch: int = 1000,
    with_event_log: bool = True,
    progress: Any = None,
    tokens: int = 200,
    observe: Callable[[dict[str, Any]], None] | None = None,
    backlog: Backlog = "steady",
) -> SeedResult:
    """Insert ``count`` appeals (and their events into ``event_log``) with insert_many.

    The first ``tokens`` appeals come back as samples (with their plain tokens); ``observe``
    sees every document before it is inserted (e.g. to find the busiest desks).
    """
    client = make_client(mongo_url)
    appeals = client[database]["appeals"]
    event_log = client[database]["event_log"]
    samples: list[dict[str, str]] = []
    events = 0
    started = time.perf_counter()
    docs: list[dict[str, Any]] = []
    try:
        for i, (doc, token) in enumerate(generate(city, count, tokens=tokens, backlog=backlog)):
            if observe is not None:
                observe(doc)
            if token != "-":
                samples.append(
                    {"id": doc["_id"], "tracking_no": doc["tracking_no"], "token": token,
                     "holder": doc["holder"] or "", "state": doc["state"]}
                )  # fmt: skip
            docs.append(doc)
            if len(docs) >= batch or i == count - 1:
                log = [{**e, "_id": e["event_id"]} for d in docs for e in d["events"]]
                await insert_all(appeals, docs)
                if with_event_log:
                    await insert_all(event_log, log)
                events += len(log)
                docs = []
                if progress is not None:
                    progress(i + 1, time.perf_counter() - started)
    finally:
        await client.close()
    return SeedResult(count, events, time.perf_counter() - started, samples)


def run_seed(mongo_url: str, city: City, count: int, **options: Any) -> SeedResult:
    """Synchronous wrapper for the command line."""
    return asyncio.run(seed_appeals(mongo_url, city, count, **options))
