"""``appeals bench scale``: work queues, status look-ups and the metrics rebuild over N appeals.

The two targets nobody could measure by pushing appeals through intake (issue 7):

- "1M appeals: queues and status look-ups < 50 ms p95", and
- "rebuild 1M events < 2 min".

One run, on a database of its own (or ``--mongo-url``):

1. the real appeals service (``appeals serve appeals``) on that database, started *before*
   the data so its own ``create_indexes`` run on the empty collection and the seed pays for
   index maintenance as intake would (its open-work view off: the seed is not intake);
2. ``seed``: N appeals straight in with ``seed_appeals`` (insert_many; fills ``event_log``),
   counting on the way which unit, street and district desks hold the most open appeals;
   staff accounts for those desks are made with ``staff add`` and logged in over HTTP;
3. the service restarted as a city would run it, and given time to load its open work into
   memory (``open_work_load_s``; ``--no-open-work`` keeps it off, so every queue reads the
   database: the comparison);
   K requests of every queue/section/count/status endpoint over one httpx client, round-robin
   (so slow background work hits every endpoint alike), one request in flight;
4. the service stopped, ``appeals metrics rebuild`` over the seeded ``event_log``.

The service runs without a broker: it is ready once the database answers (its outbox keeps the
events), and nothing measured here reads the broker. The benchmark does not import a service:
it runs them as processes, as ``appeals up`` does.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from services.bench.phases import staff_tokens
from services.bench.seed import Backlog, seed_appeals
from services.bench.stackctl import reference_city
from services.bench.stats import summarize
from services.cli.stack import service_env, start_service
from shared.city import City, load_city
from shared.embedded import (
    REPO_ROOT,
    ManagedProcess,
    free_port,
    mongod_cache_size,
    start_database,
)

__all__ = [
    "LATENCY_TARGET_MS",
    "REBUILD_TARGET",
    "DeskTally",
    "Desks",
    "Probe",
    "ScaleOptions",
    "city_env",
    "deep_page",
    "judge",
    "parse_rebuild",
    "probes_for",
    "run_rebuild",
    "run_scale",
]

Say = Callable[[str], None]

LATENCY_TARGET_MS = 50.0
# (events, seconds): 1M events rebuilt in under two minutes.
REBUILD_TARGET = (1_000_000, 120.0)
# The API's own bounds (domain/queues.py: MAX_PAGE, MAX_PAGE_SIZE); restated, not imported.
MAX_PAGE = 100
UNIT_QUEUES = ("new", "in_progress", "waiting", "due_soon", "overdue", "co_handling")
STREET_SECTIONS = ("open", "returns", "extensions", "comprehensive", "due_soon", "overdue")


@dataclass
class ScaleOptions:
    """What ``appeals bench scale`` was asked to do."""

    appeals: int
    samples: int = 200
    data_dir: Path | None = None
    mongo_url: str | None = None
    database: str = "appeals"
    batch: int = 1000
    page_size: int = 20
    backlog: Backlog = "steady"
    # Queues from the open appeals in memory (services/appeals/adapters/open_work.py).
    open_work: bool = True
    # Without the event log the seed writes one document per appeal instead of ~8,
    # which is what reaching 1M appeals here takes; the rebuild, which reads it, is skipped.
    event_log: bool = True


# ---------------------------------------------------------------------------- desks


@dataclass(frozen=True)
class Desks:
    """The desks measured: the busiest of each kind, and how many open appeals each holds."""

    unit: str
    street: str
    coordinator: str
    district: str
    dispatch_center: str
    held: dict[str, int] = field(default_factory=dict)


class DeskTally:
    """Counts open appeals per desk while the seed runs (pure: fed documents one by one).

    A unit's desk is what it holds (``holder``); a street's every open appeal on it; a
    district's dispatch centre its triage queue. Only streets with a coordinator count: the
    street sections are a coordinator's view.
    """

    def __init__(self, coordinators: Mapping[str, str], centers: Mapping[str, str]) -> None:
        self.coordinators = coordinators  # street -> its city_ops unit
        self.centers = centers  # district -> its dispatch centre
        self.units: Counter[str] = Counter()
        self.streets: Counter[str] = Counter()
        self.triage: Counter[str] = Counter()

    def add(self, doc: Mapping[str, Any]) -> None:
        """Count one seeded appeal document."""
        if not doc.get("is_open"):
            return
        if doc.get("state") == "triage":
            if doc.get("district") in self.centers:
                self.triage[str(doc["district"])] += 1
        elif doc.get("holder"):
            self.units[str(doc["holder"])] += 1
        if doc.get("street") in self.coordinators:
            self.streets[str(doc["street"])] += 1

    def busiest(self) -> Desks:
        """The desk of each kind holding the most open appeals; ValueError if a kind has none."""
        if not (self.units and self.streets and self.triage):
            raise ValueError("too few appeals seeded to find a unit, a street and a district")
        unit, held_unit = self.units.most_common(1)[0]
        street, held_street = self.streets.most_common(1)[0]
        district, held_triage = self.triage.most_common(1)[0]
        return Desks(
            unit=unit,
            street=street,
            coordinator=self.coordinators[street],
            district=district,
            dispatch_center=self.centers[district],
            held={"unit": held_unit, "street": held_street, "district_triage": held_triage},
        )


def tally_for(city: City) -> DeskTally:
    """A DeskTally for ``city``'s streets and districts."""
    coordinators = {
        street.code: street.coordinator.code
        for district in city.jurisdiction.districts
        for street in district.streets
        if street.coordinator is not None
    }
    centers = {d.code: d.dispatch_center for d in city.jurisdiction.districts}
    return DeskTally(coordinators, centers)


# ---------------------------------------------------------------------------- probes


@dataclass(frozen=True)
class Probe:
    """One endpoint timed K times: who asks (``staff`` key, or None for a resident)."""

    name: str
    kind: str
    path: str
    staff: str | None
    params: tuple[tuple[str, int], ...] = ()


def probes_for(desks: Desks, page_size: int) -> list[Probe]:
    """Page 1 of every unit queue and street section, district triage, the count endpoints.

    Deep pages are added after a first look at each queue's total (``deep_page``); the status
    look-up is added by the caller (its path changes with every sample).
    """
    size = (("size", page_size),)
    unit = f"/api/v1/queues/units/{desks.unit}"
    street = f"/api/v1/queues/streets/{desks.street}"
    probes = [
        Probe(f"unit:{q}:p1", "unit_queue_page1", f"{unit}/{q}", "unit", size) for q in UNIT_QUEUES
    ]
    probes += [
        Probe(f"street:{s}:p1", "street_section", f"{street}/{s}", "coordinator", size)
        for s in STREET_SECTIONS
    ]
    probes.append(
        Probe(
            "district:triage:p1",
            "district_triage",
            f"/api/v1/queues/districts/{desks.district}/triage",
            "dispatcher",
            size,
        )
    )
    probes += [
        Probe("unit:counts", "queue_counts", unit, "unit"),
        Probe("street:counts", "queue_counts", street, "coordinator"),
    ]
    return probes


def deep_page(total: int, size: int, max_page: int = MAX_PAGE) -> int | None:
    """The last page of a queue of ``total`` (at most ``max_page``); None if it fits on one."""
    last = min(max_page, math.ceil(total / size)) if size > 0 else 0
    return last if last >= 2 else None


# ---------------------------------------------------------------------------- figures


_DONE = re.compile(
    r"done: (?P<events>\d+) events of (?P<appeals>\d+) appeals in (?P<seconds>[\d.]+) s"
)


def parse_rebuild(line: str) -> dict[str, float] | None:
    """The figures of ``appeals metrics rebuild``'s last line, or None for any other line."""
    found = _DONE.search(line)
    if found is None:
        return None
    events, seconds = int(found["events"]), float(found["seconds"])
    return {
        "events": events,
        "appeals": int(found["appeals"]),
        "seconds": seconds,
        "events_per_s": round(events / seconds, 1) if seconds else 0.0,
    }


def judge(latency: Mapping[str, Mapping[str, float]], rebuild: Mapping[str, float] | None) -> (
    dict[str, Any]
):  # fmt: skip
    """Each target: the figure that decides it and whether it was met (None: not measured)."""
    p95 = {kind: s["p95"] for kind, s in latency.items() if not math.isnan(s.get("p95", math.nan))}
    worst = max(p95, key=lambda k: p95[k]) if p95 else None
    targets: dict[str, Any] = {
        "queues_and_status_p95_ms": {
            "target": LATENCY_TARGET_MS,
            "worst_kind": worst,
            "worst_p95": p95[worst] if worst else None,
            "met": (p95[worst] < LATENCY_TARGET_MS) if worst else None,
        }
    }
    events, limit = REBUILD_TARGET
    rate = (rebuild or {}).get("events_per_s") or 0.0
    projected = round(events / rate, 1) if rate else None
    targets["rebuild_1m_events_s"] = {
        "target": limit,
        "projected": projected,
        "met": (projected < limit) if projected is not None else None,
    }
    return targets


def _eta(done: int, total: int, seconds: float) -> str:
    if done <= 0 or seconds <= 0:
        return "?"
    left = (total - done) * seconds / done
    return f"{left / 60:.1f} min" if left >= 90 else f"{left:.0f} s"


# ---------------------------------------------------------------------------- steps


def city_env(city_dir: Path, database: str) -> dict[str, str]:
    return {
        "APPEALS_JURISDICTION_FILE": str(city_dir / "jurisdiction.yaml"),
        "APPEALS_MATTERS_FILE": str(city_dir / "matters.yaml"),
        "APPEALS_MONGO_DB": database,
    }


def _seed(
    options: ScaleOptions, url: str, city: City, say: Say
) -> tuple[dict[str, Any], list[dict[str, str]], Desks]:
    tally = tally_for(city)
    last = [0.0]

    def progress(done: int, seconds: float) -> None:
        if seconds - last[0] >= 5 or done == options.appeals:
            last[0] = seconds
            say(
                f"  seed: {done:>9,} / {options.appeals:,} appeals  {done / seconds:7,.0f}/s"
                f"  ETA {_eta(done, options.appeals, seconds)}"
            )

    say(
        f"seeding {options.appeals:,} appeals, {options.backlog} backlog "
        f"(insert_many, {'with' if options.event_log else 'without'} event_log) ..."
    )
    result = asyncio.run(
        seed_appeals(
            url,
            city,
            options.appeals,
            database=options.database,
            batch=options.batch,
            progress=progress,
            tokens=options.samples,
            observe=tally.add,
            backlog=options.backlog,
            with_event_log=options.event_log,
        )
    )
    figures = {
        "seconds": round(result.seconds, 1),
        "appeals_per_s": round(result.appeals_per_s, 1),
        "events": result.events,
        "events_per_s": round(result.events / result.seconds, 1) if result.seconds else 0.0,
    }
    return figures, result.samples, tally.busiest()


# The seeded open appeals carry no overdue flags, so the sweeper would spend the run flagging
# a backlog that a running system never has (hundreds of writes a minute beside the measured
# reads). It still sweeps once at start-up; after that, not within the run.
_SWEEPER_INTERVAL_S = "3600"


def _start_appeals(
    url: str, options: ScaleOptions, city_dir: Path, work: Path, say: Say, *, open_work: bool
) -> tuple[ManagedProcess, str, dict[str, str]]:
    host = "127.0.0.1"
    port = free_port(host)
    extra = {
        "APPEALS_OPEN_WORK_VIEW": "true" if open_work else "false",
        **city_env(city_dir, options.database),
        # One bench client makes thousands of look-ups: the per-IP limit is against scraping.
        "APPEALS_STATUS_RATE_LIMIT_PER_MINUTE": "10000",
        "APPEALS_SWEEPER_INTERVAL_SECONDS": _SWEEPER_INTERVAL_S,
    }
    env = service_env(
        # Nothing listens there: the service needs no broker to serve reads (see module doc).
        bootstrap=f"{host}:{free_port(host)}",
        broker_profile="noida",
        mongo_url=url,
        data_dir=work,
        ports={"appeals": port},
        host=host,
        extra=extra,
    )
    say(f"starting the appeals service on {host}:{port} (it creates its indexes) ...")
    # Generous: with --mongo-url the collection may already hold data to index.
    process = start_service(
        "appeals", env=env, port=port, data_dir=work / "services", host=host, ready_timeout=600
    )
    return process, f"http://{host}:{port}", extra | {"APPEALS_MONGO_URL": url}


def _open_work_loaded(url: str, say: Say, timeout: float = 900.0) -> float:
    """Seconds until the service holds its open work in memory (``/readyz``)."""
    started = last = time.perf_counter()
    while True:
        body = httpx.get(f"{url}/readyz", timeout=30).json()
        held = body.get("open_work") or {}
        now = time.perf_counter()
        if held.get("ready"):
            say(f"  open work in memory: {held['appeals']:,} appeals after {now - started:.1f} s")
            return now - started
        if now - started > timeout:
            raise RuntimeError(f"the open work did not load within {timeout:.0f} s: {body}")
        if now - last >= 5:
            last = now
            say(f"  loading open work into memory ... {now - started:.0f} s")
        time.sleep(0.2)


async def _get(client: httpx.AsyncClient, path: str, **kwargs: Any) -> tuple[float, httpx.Response]:
    t0 = time.perf_counter()
    response = await client.get(path, **kwargs)
    return time.perf_counter() - t0, response


async def _add_deep_pages(
    client: httpx.AsyncClient, probes: list[Probe], headers: Mapping[str, dict[str, str]],
    size: int,
) -> tuple[list[Probe], dict[str, int]]:  # fmt: skip
    """One untimed pass (warms caches, checks every endpoint answers), plus the deep pages."""
    totals: dict[str, int] = {}
    deep: list[Probe] = []
    for probe in probes:
        _, response = await _get(
            client, probe.path, params=dict(probe.params), headers=headers[probe.staff or ""]
        )
        response.raise_for_status()
        body = response.json()
        if "total" not in body:
            continue
        totals[probe.name] = int(body["total"])
        page = deep_page(totals[probe.name], size)
        if probe.kind == "unit_queue_page1" and page is not None:
            name = probe.name.replace(":p1", f":p{page}")
            deep.append(
                Probe(
                    name,
                    "unit_queue_deep",
                    probe.path,
                    probe.staff,
                    (*probe.params, ("page", page)),
                )
            )
    return probes + deep, totals


async def _measure(
    url: str,
    tokens: Mapping[str, str],
    samples: Sequence[Mapping[str, str]],
    options: ScaleOptions,
    desks: Desks,
    say: Say,
) -> dict[str, Any]:
    headers = {key: {"Authorization": f"Bearer {token}"} for key, token in tokens.items()}
    headers[""] = {}
    rounds = options.samples
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        probes, totals = await _add_deep_pages(
            client, probes_for(desks, options.page_size), headers, options.page_size
        )
        times: dict[str, list[float]] = {p.name: [] for p in probes}
        times["status"] = []
        errors: Counter[str] = Counter()
        say(f"timing {len(probes) + 1} endpoints x {rounds} requests, one at a time ...")
        started = last = time.perf_counter()
        for n in range(rounds):
            for probe in probes:
                seconds, response = await _get(
                    client,
                    probe.path,
                    params=dict(probe.params),
                    headers=headers[probe.staff or ""],
                )
                _record(times[probe.name], errors, probe.name, seconds, response)
            sample = samples[n % len(samples)]
            seconds, response = await _get(
                client,
                f"/api/v1/status/{sample['tracking_no']}",
                headers={"X-Appeal-Token": sample["token"]},
            )
            _record(times["status"], errors, "status", seconds, response)
            now = time.perf_counter()
            if now - last >= 5 or n == rounds - 1:
                last = now
                done = (n + 1) * (len(probes) + 1)
                say(
                    f"  round {n + 1}/{rounds}  {done / (now - started):6.0f} req/s"
                    f"  ETA {_eta(n + 1, rounds, now - started)}"
                )
    kinds = {p.name: p.kind for p in probes} | {"status": "status"}
    return _latency_figures(times, kinds, totals, errors)


def _record(
    into: list[float], errors: Counter[str], name: str, seconds: float, response: httpx.Response
) -> None:
    if response.status_code == 200:
        into.append(seconds)
    else:
        errors[f"{name}:{response.status_code}"] += 1


def _latency_figures(
    times: Mapping[str, list[float]],
    kinds: Mapping[str, str],
    totals: Mapping[str, int],
    errors: Counter[str],
) -> dict[str, Any]:
    by_kind: dict[str, list[float]] = {}
    for name, values in times.items():
        by_kind.setdefault(kinds[name], []).extend(values)
    endpoints = {}
    for name, values in times.items():
        endpoints[name] = {**summarize(values), "kind": kinds[name]}
        if name in totals:
            endpoints[name]["queue_total"] = totals[name]
    return {
        "latency_ms": {kind: dict(summarize(values)) for kind, values in by_kind.items()},
        "endpoints": endpoints,
        "errors": dict(errors),
    }


def run_rebuild(
    url: str,
    database: str,
    city_dir: Path,
    say: Say,
    *,
    label: str = "rebuild",
    code_dir: Path = REPO_ROOT,
) -> dict[str, Any]:
    """``appeals metrics rebuild`` as a process run from ``code_dir`` (a checkout of this
    project), its progress passed on under ``label``, its last line parsed, its wall time."""
    argv = [sys.executable, "-m", "services.cli.main", "metrics", "rebuild"]
    argv += ["--mongo-url", url, "--mongo-db", database]
    env = {**os.environ, **city_env(city_dir, database), "APPEALS_MONGO_URL": url}
    env["PYTHONPATH"] = str(code_dir)  # that checkout's code, not this one's
    t0 = time.perf_counter()
    found: dict[str, Any] | None = None
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=code_dir
    ) as process:
        assert process.stdout is not None
        tail: list[str] = []
        for line in process.stdout:
            say(f"  {label}: {line.rstrip()}")
            tail = [*tail[-9:], line.rstrip()]
            found = parse_rebuild(line) or found
        code = process.wait()
    if code != 0 or found is None:
        raise RuntimeError(f"{label}: metrics rebuild exited {code}: " + " | ".join(tail))
    return {**found, "wall_s": round(time.perf_counter() - t0, 1)}


# ---------------------------------------------------------------------------- the run


def run_scale(options: ScaleOptions, say: Say) -> dict[str, Any]:
    """Seed, serve, time, rebuild; return the result document (see the module docstring)."""
    city_dir = reference_city()
    city = load_city(city_dir / "jurisdiction.yaml", city_dir / "matters.yaml")
    temp = None if options.data_dir else Path(tempfile.mkdtemp(prefix="appeals-scale-"))
    work = (options.data_dir or temp or Path(".")).resolve()
    database = None
    service: ManagedProcess | None = None
    result: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "appeals": options.appeals,
        "samples": options.samples,
        "page_size": options.page_size,
        "backlog": options.backlog,
    }
    try:
        url = options.mongo_url
        if url is None:
            say(f"starting a database (SecantusDB) in {work / 'database'} ...")
            # mongod's cache, as `appeals up` runs it: with the server's 1G the seed stalled at
            # 113,000 appeals (shared/embedded.py); session 4's runs used 4G.
            database = start_database(data_dir=work / "database", cache_size=mongod_cache_size())
            url = database.url
        # The service first, so its indexes exist before the data, as in production: SecantusDB
        # builds an index over existing documents at ~1 ms per document per index (70 s for
        # the service's ~20 indexes over 3,000 appeals), but keeps them up to date on insert
        # for far less. The seed rate below therefore includes index maintenance.
        service, appeals_url, env = _start_appeals(
            url, options, city_dir, work, say, open_work=False
        )
        result["service_ready_s"] = round(service.startup_seconds or 0.0, 1)
        result["seed"], samples, desks = _seed(options, url, city, say)
        service.stop()
        result["open_work"] = options.open_work
        service, appeals_url, env = _start_appeals(
            url, options, city_dir, work, say, open_work=options.open_work
        )
        if options.open_work:
            result["open_work_load_s"] = round(_open_work_loaded(appeals_url, say), 1)
        result["events"] = result["seed"]["events"]
        result["desks"] = asdict(desks)
        say(f"  desks: {result['desks']}; logging in staff ...")
        wanted: dict[str, tuple[str, str | None]] = {
            "unit": ("unit_staff", desks.unit),
            "coordinator": ("coordinator", desks.coordinator),
            "dispatcher": ("dispatcher", desks.dispatch_center),
        }
        tokens = asyncio.run(staff_tokens(appeals_url, env, wanted))
        result.update(asyncio.run(_measure(appeals_url, tokens, samples, options, desks, say)))
        service.stop()
        service = None
        result["event_log"] = options.event_log
        result["rebuild"] = None
        if options.event_log:
            say("rebuilding metrics from event_log (appeals metrics rebuild) ...")
            result["rebuild"] = run_rebuild(url, options.database, city_dir, say)
        result["targets"] = judge(result["latency_ms"], result["rebuild"])
        result["machine_load"] = [round(x, 2) for x in os.getloadavg()]
        if options.data_dir:
            result["data_dir"] = str(work)
    finally:
        if service is not None:
            service.stop()
        if database is not None:
            database.stop()
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
    return result


def summary_lines(result: Mapping[str, Any]) -> list[str]:
    """The figures a person reads first."""
    seed = result["seed"]
    lines = [
        f"appeals {result['appeals']:,}, events {result['events']:,}; seeded at "
        f"{seed['appeals_per_s']:,.0f} appeals/s ({seed['events_per_s']:,.0f} events/s); "
        f"service ready after {result['service_ready_s']} s; queues from "
        + (
            f"the open work in memory (loaded in {result.get('open_work_load_s')} s)"
            if result.get("open_work", False)
            else "the database"
        ),
        f"{'endpoint kind':<20} {'n':>5} {'p50':>8} {'p95':>8} {'p99':>8}   (ms)",
    ]
    for kind, s in result["latency_ms"].items():
        lines.append(
            f"{kind:<20} {s['count']:>5.0f} {s['p50']:>8.1f} {s['p95']:>8.1f} {s['p99']:>8.1f}"
        )
    rebuild = result["rebuild"]
    targets = result["targets"]
    latency = targets["queues_and_status_p95_ms"]
    if rebuild is None:
        lines.append("rebuild: not run (seeded without the event log)")
    else:
        lines.append(
            f"rebuild: {rebuild['events']:,} events in {rebuild['seconds']} s "
            f"({rebuild['events_per_s']:,.0f} events/s)"
        )
    lines.append(
        f"target p95 < {latency['target']:.0f} ms: worst {latency['worst_kind']} "
        f"{latency['worst_p95']} ms -> {'met' if latency['met'] else 'NOT met'}"
    )
    if rebuild is not None:
        lines.append(
            f"target 1M events rebuilt < {targets['rebuild_1m_events_s']['target']:.0f} s: "
            f"projected {targets['rebuild_1m_events_s']['projected']} s -> "
            f"{'met' if targets['rebuild_1m_events_s']['met'] else 'NOT met'}"
        )
    if result.get("errors"):
        lines.append(f"non-200 answers: {result['errors']}")
    return lines
