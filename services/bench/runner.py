"""One benchmark run, start to end: stack, baselines, system run, extra phases, figures.

The order matters on a small machine: the baselines run first, each alone, against the same
broker and database the system then uses; the system run follows with nothing else of the
benchmark's running beside it but the sender and the event observer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from services.bench.baselines import broker_baseline, database_baseline, http_baseline
from services.bench.phases import routing_burst, staff_phase, staff_tokens
from services.bench.seed import appeal_document, targets_of
from services.bench.stackctl import BenchStack, Endpoints, cpu_seconds, reference_city, rss_mb
from services.bench.system import SystemRun
from services.bench.workload import peak_factor, plan_day, samples_from_city
from shared.city import load_city

__all__ = ["BenchOptions", "run_bench"]


@dataclass
class BenchOptions:
    """What ``appeals bench`` was asked to do."""

    duration: float = 60.0
    rate: float = 200.0
    workers: int = 1
    concurrency: int = 64
    data_dir: Path | None = None
    target: str | None = None
    bootstrap: str | None = None
    mongo_url: str | None = None
    profile: str = "noida"
    soak: bool = False
    shape: Literal["day", "flat"] = "day"
    baselines: bool = True
    baseline_messages: int = 50_000
    burst: int = 5000
    staff: int = 200
    py_spy: Path | None = None
    drain_seconds: float = 60.0
    seed: int = 12345
    keep_data: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _ratio(value: float | None, baseline: float | None) -> float | None:
    if not value or not baseline:
        return None
    return round(value / baseline, 3)


def _start_profilers(
    pids: dict[str, int], out: Path, seconds: float
) -> list[subprocess.Popen[bytes]]:
    """py-spy on the appeals and routing processes for the system run (raw collapsed stacks)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out.mkdir(parents=True, exist_ok=True)
    started = []
    for name in ("appeals", "routing"):
        if name not in pids:
            continue
        argv = [spy, "record", "--pid", str(pids[name]), "--duration", str(int(seconds)),
                "--rate", "50", "--format", "raw", "--nonblocking",
                "-o", str(out / f"{name}.txt")]  # fmt: skip
        with contextlib.suppress(OSError):
            started.append(
                subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
    return started


def run_bench(options: BenchOptions, say: Any = print) -> dict[str, Any]:
    """Run everything ``options`` asks for; return the result document."""
    city_dir = reference_city()
    city = load_city(city_dir / "jurisdiction.yaml", city_dir / "matters.yaml")
    samples = samples_from_city(city, city_dir / "dev-appeals.jsonl")
    shape: Literal["day", "flat"] = "flat" if options.soak else options.shape
    # Hotline intake needs logged-in operators, whose accounts are made in the database; a
    # target given without its database gets web appeals only.
    hotline = options.target is None or options.mongo_url is not None
    plan = plan_day(
        samples,
        rate=options.rate,
        duration=options.duration,
        shape=shape,
        seed=options.seed,
        hotline_share=0.55 if hotline else 0.0,
    )
    if options.target and not options.bootstrap:
        raise SystemExit("--target needs --bootstrap (the broker) to observe the events")
    own_stack: BenchStack | None = None
    temp_dir: Path | None = None
    result: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "options": {
            "duration_s": options.duration,
            "rate": options.rate,
            "shape": shape,
            "peak_rate": round(options.rate * peak_factor(shape), 1),
            "workers": options.workers,
            "concurrency": options.concurrency,
            "soak": options.soak,
            "target": options.target,
        },
    }
    try:
        if options.target:
            endpoints = Endpoints(
                appeals_url=options.target.rstrip("/"),
                bootstrap=options.bootstrap,
                mongo_url=options.mongo_url,
                profile=options.profile,
            )
        else:
            if options.data_dir is None:
                temp_dir = Path(tempfile.mkdtemp(prefix="appeals-bench-"))
            data_dir = options.data_dir or temp_dir
            assert data_dir is not None
            own_stack = BenchStack(data_dir, workers=options.workers, city_dir=city_dir)
            t0 = time.perf_counter()
            endpoints = own_stack.start(say=say)
            result["stack_start_s"] = round(time.perf_counter() - t0, 1)
            result["data_dir"] = str(data_dir)
        result["baselines"] = {}
        if options.baselines:
            result["baselines"] = asyncio.run(_baselines(endpoints, options, plan, city, say))
        pids = own_stack.processes() if own_stack else {}
        rss_samples: list[dict[str, Any]] = [{"t": 0.0, "rss_mb": rss_mb(pids)}]
        last_sample = [0.0]

        def tick(elapsed: float) -> None:
            # Every 10 s: enough points to see a leak in a soak, cheap on the rest.
            if elapsed - last_sample[0] >= 10:
                last_sample[0] = elapsed
                rss_samples.append({"t": round(elapsed, 1), "rss_mb": rss_mb(pids)})

        env = {
            "APPEALS_MONGO_URL": endpoints.mongo_url or "",
            "APPEALS_MONGO_DB": "appeals",
            "APPEALS_JURISDICTION_FILE": str(city_dir / "jurisdiction.yaml"),
            "APPEALS_MATTERS_FILE": str(city_dir / "matters.yaml"),
        }
        operators: list[str] = []
        if hotline:
            say("logging in hotline operators ...")
            tokens = asyncio.run(
                staff_tokens(
                    endpoints.appeals_url, env, {f"op{n}": ("operator", None) for n in range(4)}
                )
            )
            operators = list(tokens.values())
        assert endpoints.bootstrap is not None
        system = SystemRun(
            appeals_url=endpoints.appeals_url,
            bootstrap=endpoints.bootstrap,
            profile=endpoints.profile,
            plan=plan,
            concurrency=options.concurrency,
            service_urls=endpoints.service_urls,
            mongo_url=endpoints.mongo_url,
            drain_seconds=options.drain_seconds,
            say=say,
            tick=tick,
            operator_tokens=operators,
        )
        profilers = (
            _start_profilers(pids, options.py_spy, options.duration + 5) if options.py_spy else []
        )
        say(f"system run: {len(plan)} requests over {options.duration:.0f} s ({shape}) ...")
        cpu_before, wall_before = cpu_seconds(pids), time.perf_counter()
        result["system"] = asyncio.run(system.run())
        # Share of one core each process used during the run: tells CPU-bound from waiting.
        wall = time.perf_counter() - wall_before
        cpu_after = cpu_seconds(pids)
        result["cpu_core_share"] = {
            name: round((cpu_after[name] - before) / wall, 3)
            for name, before in cpu_before.items()
            if name in cpu_after
        }
        result["machine_load"] = list(os.getloadavg())
        result["progress"] = system.progress
        for profiler in profilers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                profiler.wait(30)
        rss_samples.append({"t": round(system.progress[-1]["t"], 1) if system.progress else 0,
                            "rss_mb": rss_mb(pids)})  # fmt: skip
        result["rss_samples"] = rss_samples
        if own_stack is not None and options.burst > 0 and endpoints.bootstrap:
            say(f"routing burst: {options.burst} events straight onto the topic ...")
            result["routing_burst"] = asyncio.run(
                routing_burst(endpoints.bootstrap, endpoints.profile, samples, count=options.burst)
            )
        if options.staff > 0 and endpoints.mongo_url:
            say(f"staff phase: up to {options.staff} appeals signed ... closed ...")
            try:
                result["staff"] = asyncio.run(
                    staff_phase(
                        endpoints.appeals_url,
                        system.observer_dispatched,
                        env=env,
                        appeals=options.staff,
                    )
                )
            except Exception as exc:  # report and go on: the other figures still stand
                result["staff"] = {"error": f"{type(exc).__name__}: {exc}"}
        result["rss_mb"] = rss_mb(pids)
    finally:
        if own_stack is not None:
            say("stopping the stack ...")
            own_stack.stop()
        if temp_dir is not None and not options.keep_data:
            shutil.rmtree(temp_dir, ignore_errors=True)
    return _headline(result)


async def _baselines(
    endpoints: Endpoints, options: BenchOptions, plan: list[Any], city: Any, say: Any
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if endpoints.bootstrap:
        say(f"baseline: broker, {options.baseline_messages} x 1 KB messages ...")
        found["broker"] = await broker_baseline(
            endpoints.bootstrap, endpoints.profile, messages=options.baseline_messages
        )
        say(f"  {found['broker']}")
    if endpoints.mongo_url:
        say("baseline: database insert_one / update_one / insert_many ...")
        import random

        rng = random.Random(1)
        targets = targets_of(city)
        now = datetime.now(UTC)
        template = [appeal_document(rng, targets, now, "-") for _ in range(50)]
        found["database"] = await database_baseline(
            endpoints.mongo_url, lambda i: dict(template[i % len(template)])
        )
        say(f"  {found['database']}")
    say("baseline: no-op FastAPI endpoint ...")
    bodies = [item.body for item in plan[: max(2000, min(len(plan), 10_000))]]
    while len(bodies) < 2000:
        bodies = bodies + bodies
    found["http"] = await http_baseline(bodies[:2000], concurrency=options.concurrency)
    say(f"  {found['http']}")
    return found


def _headline(result: dict[str, Any]) -> dict[str, Any]:
    """The flat figures ``--json`` promises, beside the detail."""
    system = result.get("system", {})
    base = result.get("baselines", {})
    latency = system.get("latency_ms", {})
    broker = base.get("broker", {}).get("produce_consume_msgs_per_s")
    db = base.get("database", {})
    http = base.get("http", {}).get("req_per_s")
    burst = result.get("routing_burst", {}).get("decisions_per_s")
    headline = {
        "appeals_per_s": system.get("appeals_per_s"),
        "accepted_per_s": system.get("accepted_per_s"),
        "p50_ms": latency.get("p50"),
        "p95_ms": latency.get("p95"),
        "p99_ms": latency.get("p99"),
        "routing_events_per_s": system.get("routing_events_per_s"),
        "routing_capacity_per_s": burst,
        "notify_events_per_s": system.get("service_events_per_s", {}).get("notify"),
        "metrics_events_per_s": system.get("service_events_per_s", {}).get("metrics"),
        "db_writes_per_s": system.get("db_writes_per_s"),
        "baseline_broker_msgs_per_s": broker,
        "baseline_db_writes_per_s": db.get("insert_one_per_s"),
        "baseline_db_updates_per_s": db.get("update_one_per_s"),
        "baseline_db_insert_many_docs_per_s": db.get("insert_many_docs_per_s"),
        "baseline_http_req_per_s": http,
        "rss_mb": result.get("rss_mb", {}),
        "lag_end": system.get("lag_end", {}),
    }
    headline["ratios"] = {
        "intake_vs_http": _ratio(system.get("accepted_per_s"), http),
        "routing_vs_broker": _ratio(system.get("routing_events_per_s"), broker),
        "routing_capacity_vs_broker": _ratio(burst, broker),
        "db_writes_vs_insert_one": _ratio(
            system.get("db_writes_per_s"), db.get("insert_one_per_s")
        ),
        "appeals_vs_http": _ratio(system.get("appeals_per_s"), http),
    }
    return {"headline": headline, **result}
