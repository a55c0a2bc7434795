"""Two more phases after the system run.

- ``routing_burst``: the routing stage's own capacity. Appeal events are written straight to
  ``appeals.events`` as fast as the broker takes them, so neither HTTP intake nor the database
  stands in front of the router; decisions are counted as they appear on ``routing.decisions``.
  Only against a stack of the benchmark's own: the injected appeals do not exist in the
  database, which the appeals service notes and ignores.
- ``staff_phase``: units sign, respond and resolve dispatched appeals, and the hotline's
  callback (an operator recording the resident's answer) reviews and closes them, through the
  staff command API with logged-in accounts. Accounts are made with the service's own
  ``staff add`` command (the benchmark does not import the service).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import httpx

from services.bench.stats import rate, summarize
from services.bench.system import EventObserver
from services.bench.workload import AppealSample
from shared.embedded import REPO_ROOT
from shared.events import Actor, AppealReceived, encode, new_event
from shared.kafka import make_producer
from shared.topics import APPEAL_EVENTS

__all__ = ["routing_burst", "staff_phase", "staff_tokens"]


async def routing_burst(
    bootstrap: str,
    profile: str,
    samples: list[AppealSample],
    *,
    count: int = 5000,
    wait_s: float = 120.0,
) -> dict[str, Any]:
    """Decisions per second when ``count`` received events arrive at once."""
    observer = EventObserver(bootstrap, profile)
    await observer.start()
    producer = make_producer(bootstrap, profile)
    await producer.start()
    actor = Actor(kind="system", id="bench")
    try:
        encoded = []
        for i in range(count):
            sample = samples[i % len(samples)]
            event = new_event(
                "appeal.received",
                appeal_id=f"burst{secrets.token_hex(8)}",
                actor=actor,
                data=AppealReceived(
                    channel="web",
                    tracking_no=f"B{i:011d}",
                    text=sample.text,
                    address=sample.address,
                    location=(
                        {"lon": sample.location[0], "lat": sample.location[1]}
                        if sample.location
                        else None
                    ),
                ),
            )
            encoded.append((event.appeal_id.encode(), encode(event)))
        started = time.time()
        pending = [
            await producer.send(APPEAL_EVENTS, key=key, value=value) for key, value in encoded
        ]
        await asyncio.gather(*pending)
        produced = time.time()
        # Polled, not awaited on an event: the observer only appends to a list.
        while len(observer.decisions) < count and time.time() - started < wait_s:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        seen = sorted(observer.decisions)
    finally:
        await producer.stop()
        await observer.stop()
    finished = seen[-1] if seen else time.time()
    return {
        "events": count,
        "produce_s": round(produced - started, 2),
        "decisions": len(seen),
        "seconds": round(finished - started, 2),
        "decisions_per_s": round(rate(len(seen), finished - started), 1),
    }


def _add_account(env: dict[str, str], username: str, role: str, unit: str | None) -> str:
    password = secrets.token_urlsafe(18)
    argv = [
        sys.executable,
        "-m",
        "services.appeals.entrypoints.staff_cli",
        "staff",
        "add",
        "--username",
        username,
        "--role",
        role,
        "--password-stdin",
    ]
    if unit:
        argv += ["--unit", unit]
    done = subprocess.run(
        argv,
        input=password + "\n",
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"staff add {username}: {done.stderr.strip() or done.stdout.strip()}")
    return password


async def staff_tokens(
    appeals_url: str, env: dict[str, str], accounts: dict[str, tuple[str, str | None]]
) -> dict[str, str]:
    """Create one account per entry (key -> (role, unit)), log each in; key -> bearer token."""
    run = secrets.token_hex(3)
    tokens: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=appeals_url, timeout=60) as client:
        for key, (role, unit) in accounts.items():
            user = f"bench-{run}-{key}".lower()
            password = await asyncio.to_thread(_add_account, env, user, role, unit)
            response = await client.post(
                "/api/v1/auth/login", json={"username": user, "password": password}
            )
            response.raise_for_status()
            tokens[key] = response.json()["token"]
    return tokens


async def staff_phase(
    appeals_url: str,
    dispatched: dict[str, str],
    *,
    env: dict[str, str],
    appeals: int = 200,
    units: int = 5,
    concurrency: int = 16,
) -> dict[str, Any]:
    """Sign, respond, resolve, review and close up to ``appeals`` dispatched appeals."""
    busiest = [u for u, _ in Counter(dispatched.values()).most_common(units)]
    chosen = [(a, u) for a, u in dispatched.items() if u in busiest][:appeals]
    wanted: dict[str, tuple[str, str | None]] = {u: ("unit_staff", u) for u in busiest}
    wanted["operator"] = ("operator", None)
    tokens = await staff_tokens(appeals_url, env, wanted)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=appeals_url, limits=limits, timeout=30) as client:
        steps: list[tuple[str, str, dict[str, Any]]] = [
            ("unit", "sign", {}),
            ("unit", "respond", {"message": "已联系诉求人，正在处理"}),
            ("unit", "resolve", {"result": "已现场处理完毕", "solved": True}),
            ("operator", "review", {"satisfaction": "satisfied", "solved": True}),
            ("operator", "close", {"reason": "回访满意"}),
        ]
        latencies: dict[str, list[float]] = {name: [] for _, name, _ in steps}
        failures: Counter[str] = Counter()
        slots = asyncio.Semaphore(concurrency)

        async def lifecycle(appeal_id: str, unit: str) -> None:
            async with slots:
                for who, command, body in steps:
                    token = tokens[unit if who == "unit" else "operator"]
                    t0 = time.perf_counter()
                    response = await client.post(
                        f"/api/v1/appeals/{appeal_id}/{command}",
                        json=body,
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    if response.status_code != 200:
                        failures[f"{command}:{response.status_code}"] += 1
                        return
                    latencies[command].append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(lifecycle(a, u) for a, u in chosen))
        seconds = time.perf_counter() - started
    done = sum(len(v) for v in latencies.values())
    return {
        "appeals": len(chosen),
        "units": len(busiest),
        "closed": len(latencies["close"]),
        "commands": done,
        "commands_per_s": round(rate(done, seconds), 1),
        "latency_ms": {name: summarize(values) for name, values in latencies.items()},
        "failures": dict(failures),
    }
