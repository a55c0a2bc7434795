"""The open work view (adapters/open_work.py) against the real MongoDB-protocol server.

Differential: every queue of every desk — pages in every sort and order, and counts — must be
the same from the view (fed by the real change stream) as from the database queries, before
and after changes made while the view runs: closings, a deadline moved without a version
bump (the tests' clock), co-handlers changed, new appeals, a deletion, and the outbox relay's
bookkeeping. Then read-your-writes: a state change stored through ``AppealStore`` is in the
view's answer at once, without polling.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from pymongo.asynchronous.collection import AsyncCollection

from services.appeals.adapters.open_work import OpenWork
from services.appeals.adapters.queue_store import QueueStore
from services.appeals.adapters.store import AppealStore, VersionConflict
from shared.embedded import DatabaseProcess
from shared.mongo import make_client
from tests.unit.appeals.appeals_world import LEAD
from tests.unit.appeals.test_queue_split import _docs, _plans

SIZE = 7  # small pages, so the corpus spans several


@pytest.fixture
async def appeals(mongo: DatabaseProcess) -> AsyncIterator[AppealStore]:
    client = make_client(mongo.url)
    store = AppealStore(client, f"open_work_{uuid.uuid4().hex[:8]}")
    await store.create_indexes()
    await QueueStore(store.appeals).create_indexes()
    try:
        yield store
    finally:
        await client.drop_database(store.db.name)
        await client.close()


def corpus(copies: int) -> list[dict[str, Any]]:
    """Each state, paused, pending extension and co-handled appeal of the unit world, in
    ``copies`` copies whose deadlines and arrival differ (so sorting means something)."""
    docs = []
    for k in range(copies):
        for n, base in enumerate(_docs()):
            shift = timedelta(minutes=37 * k - 11 * n)
            deadlines = {name: at + shift for name, at in (base.get("deadlines") or {}).items()}
            docs.append(
                {
                    **base,
                    "_id": f"A{k}-{n}",
                    "tracking_no": f"T{k}-{n}",
                    "deadlines": deadlines,
                    "received_at": base["received_at"] + shift,
                }
            )
    return docs


async def differences(database: QueueStore, view: QueueStore) -> list[str]:
    """Where the view's queues differ from the database's (empty when none do)."""
    found = []
    for plan in _plans():
        if await database.count(plan) != await view.count(plan):
            found.append(f"{plan.name}: count")
        for sort in ("due", "received_at"):
            for order in ("asc", "desc"):
                for page in (1, 2):
                    args: dict[str, Any] = {"sort": sort, "order": order, "page": page}
                    a = await database.page(plan, size=SIZE, **args)
                    b = await view.page(plan, size=SIZE, **args)
                    if [d["_id"] for d in a.docs] != [d["_id"] for d in b.docs]:
                        found.append(f"{plan.name} {args}: rows")
                    if a.total != b.total:
                        found.append(f"{plan.name} {args}: total")
    return found


async def until_the_same(database: QueueStore, view: QueueStore, what: str) -> None:
    """Wait (at most 15 s) until the view's queues are the database's."""
    deadline = time.monotonic() + 15
    while found := await differences(database, view):
        assert time.monotonic() < deadline, f"{what}: {found[:5]}"
        await asyncio.sleep(0.2)


async def started(collection: AsyncCollection[dict[str, Any]], wait_s: float) -> OpenWork:
    view = OpenWork(collection, wait_s=wait_s)
    view.start()
    deadline = time.monotonic() + 30
    while not view.ready:
        assert time.monotonic() < deadline, "the view did not load within 30 s"
        await asyncio.sleep(0.05)
    return view


async def test_every_queue_is_the_same_from_the_view_as_from_the_database(
    appeals: AppealStore,
) -> None:
    collection = appeals.appeals
    docs = corpus(copies=4)
    await collection.insert_many(docs)
    view = await started(collection, wait_s=2.0)
    try:
        database, held = QueueStore(collection), QueueStore(collection, view)
        assert len(view) == sum(d["state"] not in ("closed", "transferred", "merged") for d in docs)
        assert await differences(database, held) == []
        assert await held.count(_plans()[0]) > 0  # the desks are not empty

        # Changes while the view runs, none of them through this process's AppealStore.
        working = [d for d in docs if d["state"] in ("signed", "responded")]
        for doc in working[:3]:
            await collection.update_one(
                {"_id": doc["_id"]}, {"$set": {"state": "closed"}, "$inc": {"version": 1}}
            )
        await collection.update_one(  # the tests' clock: no version bump
            {"_id": working[3]["_id"]},
            {"$set": {"deadlines.respond_by": docs[0]["received_at"] - timedelta(days=9)}},
        )
        await collection.update_one(
            {"_id": working[4]["_id"]},
            {"$set": {"co_handlers": [LEAD, "JA-JAS-OPS"]}, "$inc": {"version": 1}},
        )
        await collection.insert_many(
            [{**d, "_id": f"N{d['_id']}", "tracking_no": f"N{d['tracking_no']}"} for d in docs[:8]]
        )
        await collection.delete_one({"_id": working[5]["_id"]})
        await collection.update_one(  # the relay's bookkeeping, which the view ignores
            {"_id": working[6]["_id"]}, {"$set": {"outbox_pending": False}}
        )
        await until_the_same(database, held, "the view did not catch up")
        assert working[5]["_id"] not in view._docs
        assert working[0]["_id"] not in view._docs
    finally:
        await view.stop()


async def test_a_state_change_this_process_stored_is_in_the_next_answer(
    appeals: AppealStore,
) -> None:
    collection = appeals.appeals
    docs = corpus(copies=1)
    await collection.insert_many(docs)
    view = await started(collection, wait_s=5.0)
    appeals.write_watchers.append(view)
    try:
        signed = [d for d in docs if d["state"] == "signed" and d.get("holder") == LEAD]
        flips = 0
        for _ in range(10):  # back and forth, each change queried at once
            for doc in signed:
                before, after = (
                    ("signed", "responded") if flips % 2 == 0 else ("responded", "signed")
                )
                version = doc["version"] + flips
                await appeals.append(doc["_id"], version, version + 1, {"state": after}, [])
                # No polling: the answer waits for the stream to bring this process's write.
                answer = await view.answer(
                    [{"holder": LEAD, "state": after}, {"holder": LEAD, "state": before}]
                )
                assert answer is not None, "the view declined: the stream did not bring it"
                assert doc["_id"] in [d["_id"] for d in answer[0]], flips
                assert doc["_id"] not in [d["_id"] for d in answer[1]], flips
            flips += 1
        assert signed
    finally:
        await view.stop()


async def test_a_query_served_while_the_write_is_on_its_way_waits_for_it(
    appeals: AppealStore,
) -> None:
    collection = appeals.appeals
    docs = corpus(copies=1)
    await collection.insert_many(docs)
    view = await started(collection, wait_s=5.0)
    appeals.write_watchers.append(view)
    try:
        signed = [d for d in docs if d["state"] == "signed" and d.get("holder") == LEAD]
        for doc in signed:
            version = doc["version"]
            writing = asyncio.create_task(
                appeals.append(doc["_id"], version, version + 1, {"state": "responded"}, [])
            )
            await asyncio.sleep(0)  # the write has started and awaits the database
            assert not writing.done()
            answer = await view.answer([{"holder": LEAD, "state": "responded"}])
            assert answer is not None, "the view declined: the stream did not bring it"
            assert doc["_id"] in [d["_id"] for d in answer[0]]
            await writing
        assert signed
        # A write that fails is withdrawn: the next query does not wait for it.
        with pytest.raises(VersionConflict):
            await appeals.append(signed[0]["_id"], 0, 99, {"state": "signed"}, [])
        assert view._expected == {}
    finally:
        await view.stop()


async def test_after_the_stream_ends_the_view_reloads_and_follows_again(
    appeals: AppealStore,
) -> None:
    collection = appeals.appeals
    await collection.insert_many(corpus(copies=1))
    view = await started(collection, wait_s=2.0)
    try:
        held_before = len(view)
        assert held_before > 0
        await collection.drop()  # ends the change stream (invalidate)
        deadline = time.monotonic() + 15
        while len(view) != 0 or not view.ready:
            assert time.monotonic() < deadline, (len(view), view.ready)
            await asyncio.sleep(0.1)
        # Reloaded from the (now empty) collection and following the new stream.
        await appeals.create_indexes()
        await QueueStore(collection).create_indexes()
        await collection.insert_many(corpus(copies=2))
        database, held = QueueStore(collection), QueueStore(collection, view)
        await until_the_same(database, held, "the view did not follow again")
        assert len(view) == 2 * held_before
    finally:
        await view.stop()
