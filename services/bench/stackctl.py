"""The stack a benchmark runs against: one it starts itself on free ports, or one already up.

A stack of its own is the embedded stack of ``appeals up`` (services.cli.stack.Stack) with the
reference city, free ports, a throw-away data directory and no Prometheus (it would only take
CPU from what is measured). ``workers`` > 1 adds routing and metrics worker processes: faust
workers of the same app id join the same consumer group and split the topics' partitions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from services.cli.stack import Stack, StackConfig, service_env, start_service
from shared.embedded import DEFAULT_BROKER, REPO_ROOT, BrokerKind, ManagedProcess, free_port

__all__ = ["BenchStack", "Endpoints", "cpu_seconds", "reference_city", "rss_mb"]

SCALED_SERVICES = ("routing", "metrics")


def reference_city() -> Path:
    """The reference city's directory (``$APPEALS_REFERENCE_CITY`` or beside the repository)."""
    return Path(
        os.environ.get("APPEALS_REFERENCE_CITY", REPO_ROOT.parent / "shared" / "reference-city")
    )


@dataclass
class Endpoints:
    """Where the system under test answers."""

    appeals_url: str
    bootstrap: str | None = None
    mongo_url: str | None = None
    profile: str = DEFAULT_BROKER
    service_urls: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class BenchStack:
    """A stack started for one benchmark run, stopped when the run ends."""

    data_dir: Path
    workers: int = 1
    broker: BrokerKind = DEFAULT_BROKER
    city_dir: Path = field(default_factory=reference_city)
    stack: Stack | None = None
    extra: dict[str, ManagedProcess] = field(default_factory=dict)

    def start(self, say: object = print) -> Endpoints:
        """Start broker, database, the four services and any extra workers; wait for each."""
        host = "127.0.0.1"
        ports = {name: free_port(host) for name in ("appeals", "metrics", "routing", "notify")}
        city_env = {
            "APPEALS_JURISDICTION_FILE": str(self.city_dir / "jurisdiction.yaml"),
            "APPEALS_MATTERS_FILE": str(self.city_dir / "matters.yaml"),
            "APPEALS_MONGO_DB": "appeals",
        }
        labelled = self.city_dir / "dev-appeals.jsonl"
        if labelled.is_file():
            city_env["APPEALS_ROUTING_TRAINING_DATA"] = str(labelled)
        config = StackConfig(
            data_dir=self.data_dir,
            broker=self.broker,
            host=host,
            broker_port=free_port(host),
            db_port=free_port(host),
            prometheus_port=free_port(host),
            ports=ports,
            prometheus=False,
            extra_env=city_env,
        )
        self.stack = Stack(config)
        self.stack.start(say=say)  # type: ignore[arg-type]
        assert self.stack.broker is not None and self.stack.database is not None
        urls = {name: [f"http://{host}:{port}"] for name, port in ports.items()}
        for n in range(2, self.workers + 1):
            for name in SCALED_SERVICES:
                port = free_port(host)
                data = self.data_dir.resolve() / f"worker-{n}"
                env = service_env(
                    bootstrap=self.stack.broker.bootstrap,
                    broker_profile=self.broker,
                    mongo_url=self.stack.database.url,
                    data_dir=data,
                    ports={**ports, name: port},
                    host=host,
                    # Each worker of a group needs its own static identity (docs/brokers.md):
                    # two with the same one fence each other off in a rebalance loop.
                    extra={**city_env, "APPEALS_WORKER_ID": str(n)},
                )
                say(f"starting {name} worker {n} on {host}:{port} ...")  # type: ignore[operator]
                self.extra[f"{name}-{n}"] = start_service(
                    name, env=env, port=port, data_dir=data / "services", host=host
                )
                urls[name].append(f"http://{host}:{port}")
        return Endpoints(
            appeals_url=urls["appeals"][0],
            bootstrap=self.stack.broker.bootstrap,
            mongo_url=self.stack.database.url,
            profile=self.broker,
            service_urls=urls,
        )

    def processes(self) -> dict[str, int]:
        """name -> pid of every process of the stack that is running."""
        found: dict[str, int] = {}
        if self.stack is None:
            return found
        parts: list[ManagedProcess | None] = [
            self.stack.broker,
            self.stack.database,
            *self.stack.services.values(),
            *self.extra.values(),
        ]
        for part in parts:
            if part is not None and part.alive and part.pid is not None:
                name = part.name
                if part in self.extra.values():
                    name = next(k for k, v in self.extra.items() if v is part)
                found[name] = part.pid
        return found

    def stop(self) -> None:
        """Stop the extra workers, then the stack."""
        for process in self.extra.values():
            process.stop()
        if self.stack is not None:
            self.stack.stop()


def rss_mb(pids: dict[str, int]) -> dict[str, float]:
    """Resident memory of each process and its children, in MB (gone processes are left out)."""
    sizes: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            proc = psutil.Process(pid)
            total = proc.memory_info().rss
            for child in proc.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass
        except psutil.Error:
            continue
        sizes[name] = round(total / 2**20, 1)
    return sizes


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU time (user + system) each process and its children have used so far."""
    used: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            proc = psutil.Process(pid)
            procs = [proc, *proc.children(recursive=True)]
        except psutil.Error:
            continue
        total = 0.0
        for each in procs:
            try:
                times = each.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
        used[name] = round(total, 2)
    return used
