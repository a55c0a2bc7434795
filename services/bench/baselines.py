"""Raw speed of what the system is built on, measured on the same machine in the same run.

- broker: aiokafka produce and consume of 1 KB messages through the stack's broker with the
  services' client settings (shared.kafka profile), a consumer reading while the producer
  writes, on a topic of its own with as many partitions as ``appeals.events``;
- database: insert_one, update_one by ``_id`` and insert_many into a collection of its own,
  with the services' client (shared.mongo.make_client) and the same URL, some writes in flight
  at once as under load;
- HTTP: a no-op FastAPI endpoint under uvicorn in a process of its own, driven by the same
  HTTP client and concurrency as the system run.

Each stage of the system is then reported as a share of its baseline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from aiokafka import TopicPartition

from services.bench.stats import rate
from shared.embedded import REPO_ROOT, free_port
from shared.kafka import ensure_topics, make_consumer, make_producer
from shared.mongo import make_client
from shared.tasks import cancel_and_wait
from shared.topics import ALL_TOPICS, APPEAL_EVENTS

__all__ = ["broker_baseline", "database_baseline", "http_baseline"]


async def broker_baseline(
    bootstrap: str, profile: str, *, messages: int = 50_000, size: int = 1024
) -> dict[str, float]:
    """Messages per second: produce alone, consume alone, and both at once."""
    topic = f"bench.baseline.{uuid.uuid4().hex[:8]}"
    partitions = ALL_TOPICS[APPEAL_EVENTS]
    await ensure_topics(bootstrap, {topic: partitions})
    payload = os.urandom(size // 2).hex().encode()[:size]
    consumer = make_consumer(bootstrap=bootstrap, profile=profile, group_id=None)
    producer = make_producer(bootstrap, profile)
    await consumer.start()
    await producer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        consumed = 0
        consume_done = asyncio.get_running_loop().create_future()
        first_read: list[float] = []

        async def consume() -> None:
            nonlocal consumed
            while consumed < messages:
                batches = await consumer.getmany(timeout_ms=500, max_records=5000)
                if batches and not first_read:
                    first_read.append(time.perf_counter())
                consumed += sum(len(batch) for batch in batches.values())
            consume_done.set_result(time.perf_counter())

        reader = asyncio.create_task(consume())
        started = time.perf_counter()
        pending: list[asyncio.Future[Any]] = []
        for i in range(messages):
            pending.append(await producer.send(topic, key=str(i).encode(), value=payload))
            if len(pending) >= 2000:  # bounded in flight, as a relay batch would be
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        produced_at = time.perf_counter()
        try:
            finished = await asyncio.wait_for(consume_done, timeout=120)
        finally:
            await cancel_and_wait(reader)
        # Consume alone: read the whole topic again from the start with a fresh consumer.
        alone = make_consumer(bootstrap=bootstrap, profile=profile, group_id=None)
        await alone.start()
        try:
            alone.assign(tps)
            await alone.seek_to_beginning(*tps)
            read = 0
            t0 = time.perf_counter()
            while read < messages and time.perf_counter() - t0 < 120:
                batches = await alone.getmany(timeout_ms=500, max_records=5000)
                read += sum(len(batch) for batch in batches.values())
            consume_alone = rate(read, time.perf_counter() - t0)
        finally:
            await alone.stop()
    finally:
        await producer.stop()
        await consumer.stop()
    return {
        "messages": messages,
        "message_bytes": size,
        "produce_msgs_per_s": round(rate(messages, produced_at - started), 1),
        "consume_msgs_per_s": round(consume_alone, 1),
        # A message written and read back, as a stream stage does with each event.
        "produce_consume_msgs_per_s": round(rate(messages, finished - started), 1),
    }


async def _timed(count: int, concurrency: int, op: Callable[[int], Awaitable[Any]]) -> float:
    """Run ``op(i)`` for i < count with ``concurrency`` in flight; return ops per second."""
    queue = iter(range(count))

    async def worker() -> None:
        for i in queue:
            await op(i)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return rate(count, time.perf_counter() - started)


async def database_baseline(
    mongo_url: str,
    document: Callable[[int], dict[str, Any]],
    *,
    writes: int = 3000,
    many: int = 20_000,
    concurrency: int = 32,
) -> dict[str, float]:
    """Writes per second of insert_one, update_one by _id, and documents/s of insert_many."""
    client = make_client(mongo_url)
    database = client[f"bench_baseline_{uuid.uuid4().hex[:6]}"]
    try:
        single = database["insert_one"]

        async def insert(i: int) -> None:
            await single.insert_one({**document(i), "_id": f"b{i}"})

        insert_one = await _timed(writes, concurrency, insert)

        async def update(i: int) -> None:
            await single.update_one(
                {"_id": f"b{i}"}, {"$set": {"state": "dispatched"}, "$inc": {"version": 1}}
            )

        update_one = await _timed(writes, concurrency, update)
        bulk = database["insert_many"]
        batch = 1000
        started = time.perf_counter()
        for offset in range(0, many, batch):
            await bulk.insert_many(
                [{**document(i), "_id": f"m{i}"} for i in range(offset, offset + batch)],
                ordered=False,
            )
        insert_many = rate(many, time.perf_counter() - started)
        with contextlib.suppress(Exception):
            await client.drop_database(database.name)
    finally:
        await client.close()
    return {
        "concurrency": concurrency,
        "insert_one_per_s": round(insert_one, 1),
        "update_one_per_s": round(update_one, 1),
        "insert_many_docs_per_s": round(insert_many, 1),
    }


async def drive_http(
    base_url: str,
    path: str,
    bodies: list[dict[str, Any]],
    *,
    concurrency: int,
) -> float:
    """Closed loop: POST every body with ``concurrency`` requests in flight; requests/s."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:

        async def post(i: int) -> None:
            response = await client.post(path, json=bodies[i % len(bodies)])
            response.raise_for_status()

        await _timed(min(200, len(bodies)), concurrency, post)  # warm the connections
        return await _timed(len(bodies), concurrency, post)


async def http_baseline(bodies: list[dict[str, Any]], *, concurrency: int) -> dict[str, float]:
    """Requests per second of an empty FastAPI endpoint served by uvicorn in a subprocess."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uvicorn",
        "services.bench.noop_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        cwd=str(REPO_ROOT),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=2) as probe:
            for _ in range(200):
                with contextlib.suppress(httpx.HTTPError):
                    if (await probe.get(f"{url}/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the no-op HTTP server did not start")
        per_s = await drive_http(url, "/noop", bodies, concurrency=concurrency)
    finally:
        process.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 10)
    return {"requests": len(bodies), "concurrency": concurrency, "req_per_s": round(per_s, 1)}
