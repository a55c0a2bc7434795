"""`appeals metrics ...`: the metrics service's operator tools.

    appeals metrics rebuild [--since 2026-11-01] [--drop-previous] [--mongo-url URL]
                            [--mongo-db DB]

``rebuild`` replays the MongoDB ``event_log`` (the appeals service's audit trail: one document
per event envelope, ``_id`` = event id) in (appeal_id, occurred_at) order through ``fold`` and
writes every appeal's facts to ``metrics_facts``, printing progress in events per second.
Without ``--since`` every appeal's facts are written to a new generation
(``metrics_facts_<UTC timestamp>``) and ``metrics_meta`` is pointed at it at the end, so the
reports switch at once and never see half a rebuild (adapters/facts_store.py); the previous
generation is no longer read and is dropped with ``--drop-previous`` (slow on SecantusDB, so
not by default). With ``--since DATE`` only the appeals with an event on or after DATE are
replayed (each from its first event, since facts need the whole history) and upserted into
the generation in use.

Connection: ``--mongo-url`` / ``--mongo-db``, else ``APPEALS_MONGO_URL`` / ``APPEALS_MONGO_DB``
(the same settings the services read). Standalone: ``python -m services.metrics.entrypoints.cli
metrics rebuild``.
"""

from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime
from datetime import time as clock
from typing import Any, TextIO

from pymongo import MongoClient, ReplaceOne

from services.metrics.adapters.facts_store import FACT_INDEXES, META, facts_document
from services.metrics.config import MetricsSettings
from services.metrics.domain import AppealFacts, districts_of, fold
from services.metrics.domain.formulas import CITY_TZ
from shared.city import load_city
from shared.events import DATA_MODELS, EventEnvelope, decode_event

__all__ = ["main", "rebuild", "register"]

Doc = dict[str, Any]
# Events fetched per round trip, and facts documents written per insert.
FETCH_BATCH = 5000
WRITE_BATCH = 5000
_END = object()


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``metrics`` command group to a parent parser's subparsers."""
    group = subparsers.add_parser("metrics", help="the metrics service's tools: rebuild")
    commands = group.add_subparsers(dest="metrics_command", metavar="COMMAND", required=True)
    rebuild_cmd = commands.add_parser(
        "rebuild", help="replay the MongoDB event log into metrics_facts"
    )
    rebuild_cmd.add_argument(
        "--since",
        type=date.fromisoformat,
        default=None,
        help="only appeals with an event on or after this day (YYYY-MM-DD, Asia/Shanghai)",
    )
    rebuild_cmd.add_argument(
        "--drop-previous",
        action="store_true",
        help="drop the facts generation the rebuild replaces (full rebuilds only)",
    )
    rebuild_cmd.add_argument("--mongo-url", default=None, help="default: $APPEALS_MONGO_URL")
    rebuild_cmd.add_argument("--mongo-db", default=None, help="default: $APPEALS_MONGO_DB")
    rebuild_cmd.set_defaults(func=_run_rebuild)


def _run_rebuild(args: argparse.Namespace) -> int:
    settings = MetricsSettings()
    url = args.mongo_url or settings.mongo_url
    db_name = args.mongo_db or settings.mongo_db
    city = load_city(settings.jurisdiction_file, settings.matters_file)
    since = (
        datetime.combine(args.since, clock.min, tzinfo=CITY_TZ).astimezone(UTC)
        if args.since
        else None
    )
    client: MongoClient[Doc] = MongoClient(url, tz_aware=True, serverSelectionTimeoutMS=5000)
    try:
        stats = rebuild(
            client[db_name],
            districts=districts_of(city),
            since=since,
            collection=settings.metrics_facts_collection,
            drop_previous=args.drop_previous,
            out=sys.stdout,
        )
    finally:
        client.close()
    print(
        f"done: {stats['events']} events of {stats['appeals']} appeals in "
        f"{stats['seconds']:.1f} s ({stats['events_per_second']:.0f} events/s)",
        flush=True,
    )
    return 0


def _envelope(doc: Doc) -> EventEnvelope:
    # Events in the log were validated when they were written; a current-version envelope is
    # validated once here and its data once inside fold. Older versions go through the
    # upcasters of decode_event.
    doc.pop("_id", None)
    model = DATA_MODELS.get(doc.get("type", ""))
    if model is not None and doc.get("schema_version") == model.SCHEMA_VERSION:
        return EventEnvelope.model_validate(doc)
    return decode_event(doc)


def _prefetch(cursor: Any) -> Iterator[Doc]:
    """Read the cursor in a thread, so the database works while this process folds."""
    buffer: queue.Queue[Any] = queue.Queue(maxsize=4)
    failure: list[BaseException] = []

    def read() -> None:
        try:
            chunk: list[Doc] = []
            for doc in cursor:
                chunk.append(doc)
                if len(chunk) >= FETCH_BATCH:
                    buffer.put(chunk)
                    chunk = []
            if chunk:
                buffer.put(chunk)
        except BaseException as exc:
            failure.append(exc)
        finally:
            buffer.put(_END)

    reader = threading.Thread(target=read, name="event-log-reader", daemon=True)
    reader.start()
    while (chunk := buffer.get()) is not _END:
        yield from chunk
    reader.join()
    if failure:
        raise failure[0]


class _Writer:
    """Writes batches in a thread, so the database stores one batch while the next is folded."""

    def __init__(self, write: Callable[[list[Doc]], None]) -> None:
        self._write = write
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=2)
        self._failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="facts-writer", daemon=True)

    def _run(self) -> None:
        while (batch := self._queue.get()) is not _END:
            if not self._failure:
                try:
                    self._write(batch)
                except BaseException as exc:
                    self._failure.append(exc)

    def put(self, batch: list[Doc]) -> None:
        if self._failure:
            raise self._failure[0]
        self._queue.put(batch)

    def __enter__(self) -> _Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._queue.put(_END)
        self._thread.join()
        if self._failure and exc[0] is None:
            raise self._failure[0]


def _folded(docs: Iterator[Doc], districts: Mapping[str, str]) -> Iterator[AppealFacts]:
    """Fold events sorted by appeal id; yield each appeal's facts when its events end."""
    facts: AppealFacts | None = None
    for doc in docs:
        event = _envelope(doc)
        if facts is not None and facts.appeal_id != event.appeal_id:
            yield facts
            facts = None
        facts = fold(facts, event, districts)
    if facts is not None:
        yield facts


def rebuild(
    db: Any,
    *,
    districts: Mapping[str, str],
    since: datetime | None = None,
    collection: str = "metrics_facts",
    drop_previous: bool = False,
    out: TextIO | None = None,
    progress_every: float = 2.0,
) -> dict[str, float]:
    """Replay ``event_log`` into ``collection``; returns counts and the rate in events/s."""
    started = time.monotonic()
    order = [("appeal_id", 1), ("occurred_at", 1)]
    query: Doc = {}
    if since is not None:
        appeal_ids = sorted(
            {d["appeal_id"] for d in db.event_log.find({"occurred_at": {"$gte": since}})}
        )
        query = {"appeal_id": {"$in": appeal_ids}}
    pointer = db[META].find_one({"_id": collection})
    previous = str(pointer["collection"]) if pointer else collection
    if since is None:
        generation = f"{collection}_{datetime.now(UTC):%Y%m%d%H%M%S%f}"
    else:
        generation = previous
    target = db[generation]
    # Indexes before the facts, not after: SecantusDB builds an index over existing documents
    # about four times slower than it maintains it on insert (20,000 facts: 20 s against 5 s,
    # measured).
    target.create_indexes(FACT_INDEXES)
    cursor = db.event_log.find(query, sort=order, batch_size=FETCH_BATCH)
    counted = {"events": 0, "appeals": 0}
    last_report = started

    def events() -> Iterator[Doc]:
        nonlocal last_report
        for doc in _prefetch(cursor):
            counted["events"] += 1
            yield doc
            now = time.monotonic()
            if out is not None and now - last_report >= progress_every:
                last_report = now
                rate = counted["events"] / (now - started)
                print(
                    f"{counted['events']} events, {counted['appeals']} appeals, "
                    f"{rate:.0f} events/s",
                    file=out,
                    flush=True,
                )

    def write(batch: list[Doc]) -> None:
        if since is None:
            target.insert_many(batch, ordered=False)
        else:
            target.bulk_write(
                [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in batch], ordered=False
            )

    with _Writer(write) as writer:
        batch: list[Doc] = []
        for facts in _folded(events(), districts):
            counted["appeals"] += 1
            batch.append(facts_document(facts))
            if len(batch) >= WRITE_BATCH:
                writer.put(batch)
                batch = []
        if batch:
            writer.put(batch)
        folded_at = time.monotonic()
        _say(out, f"folded {counted['events']} events of {counted['appeals']} appeals; writing")
    written_at = time.monotonic()
    _say(out, f"facts written ({written_at - folded_at:.1f} s after the fold)")
    if since is None:
        db[META].replace_one(
            {"_id": collection},
            {"_id": collection, "collection": generation, "previous": previous,
             "switched_at": datetime.now(UTC)},
            upsert=True,
        )  # fmt: skip
        _say(out, f"the reports now read {generation} (previous: {previous})")
        if drop_previous and previous != generation:
            db[previous].drop()
            _say(out, f"dropped {previous} ({time.monotonic() - written_at:.1f} s)")
    seconds = time.monotonic() - started
    return {
        "events": counted["events"],
        "appeals": counted["appeals"],
        "seconds": seconds,
        "events_per_second": counted["events"] / seconds if seconds else 0.0,
    }


def _say(out: TextIO | None, line: str) -> None:
    if out is not None:
        print(line, file=out, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run ``metrics ...`` without the ``appeals`` script."""
    parser = argparse.ArgumentParser(prog="python -m services.metrics.entrypoints.cli")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
