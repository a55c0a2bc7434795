"""The embedded stack: broker, database, Prometheus and the four services, as child processes.

``appeals up`` runs it for people; the integration tests start the same service processes with
``start_service``. Every service gets its settings through ``APPEALS_*`` environment variables,
exactly as in production, so nothing here is a test-only path.
"""

from __future__ import annotations

import asyncio
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.errors import KafkaError

from shared.embedded import (
    DEFAULT_BROKER,
    BrokerKind,
    BrokerProcess,
    DatabaseProcess,
    ManagedProcess,
    PrometheusProcess,
    StartupError,
    mongod_cache_size,
    start_broker,
    start_database,
    start_prometheus,
    stop_together,
)
from shared.kafka import ensure_topics, rewind_groups_to_log_end
from shared.topics import consumer_groups

__all__ = ["SERVICES", "Stack", "StackConfig", "service_env", "start_service"]

# service -> the settings field that holds its HTTP port
SERVICES: dict[str, str] = {
    "appeals": "http_port",
    "metrics": "metrics_port",
    "routing": "routing_port",
    "notify": "notify_port",
}
# Stream workers wait for their consumer group before they answer /readyz; the appeals
# service is ready when the database answers.
READY_PATH = {"appeals": "/readyz", "metrics": "/readyz", "routing": "/readyz", "notify": "/readyz"}


def _http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    return check


def service_env(
    *,
    bootstrap: str,
    broker_profile: str,
    mongo_url: str,
    data_dir: Path,
    ports: dict[str, int],
    host: str = "127.0.0.1",
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment every service process gets."""
    env = {
        **os.environ,
        "APPEALS_KAFKA_BOOTSTRAP": bootstrap,
        "APPEALS_BROKER_PROFILE": broker_profile,
        "APPEALS_MONGO_URL": mongo_url,
        "APPEALS_DATA_DIR": str(data_dir),
        "APPEALS_BIND_HOST": host,
        "PYTHONUNBUFFERED": "1",
    }
    for service, port in ports.items():
        env[f"APPEALS_{SERVICES[service].upper()}"] = str(port)
    # --- Staff UI hook: the appeals service's operator console asks the routing service for
    # suggestions over HTTP, on whatever port this stack gave it.
    if "routing" in ports:
        env["APPEALS_ROUTING_URL"] = f"http://{host}:{ports['routing']}"
    env.update(extra or {})
    return env


def start_service(
    name: str,
    *,
    env: dict[str, str],
    port: int,
    data_dir: Path,
    host: str = "127.0.0.1",
    ready_timeout: float = 60.0,
) -> ManagedProcess:
    """Start one service as ``appeals serve NAME`` and wait until it is ready."""
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}: expected one of {sorted(SERVICES)}")
    data_dir.mkdir(parents=True, exist_ok=True)
    process = ManagedProcess(
        name,
        [sys.executable, "-m", "services.cli.main", "serve", name],
        log_path=data_dir / f"{name}.log",
        ready_check=_http_ok(f"http://{host}:{port}{READY_PATH[name]}"),
        port=port,
        host=host,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    process.start()
    try:
        process.wait_ready(ready_timeout)
    except BaseException:
        process.stop()
        raise
    return process


@dataclass
class StackConfig:
    """Where the stack keeps its data and which ports it uses."""

    data_dir: Path = Path(".appeals")
    broker: BrokerKind = DEFAULT_BROKER
    host: str = "127.0.0.1"
    broker_port: int = 9092
    db_port: int = 27017
    prometheus_port: int = 9090
    ports: dict[str, int] = field(
        default_factory=lambda: {"appeals": 8000, "metrics": 8001, "routing": 8002, "notify": 8003}
    )
    prometheus: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)


@dataclass
class Stack:
    """The running embedded stack."""

    config: StackConfig
    broker: BrokerProcess | None = None
    database: DatabaseProcess | None = None
    prometheus: PrometheusProcess | None = None
    services: dict[str, ManagedProcess] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    def start(self, say: Callable[[str], None] = print) -> None:
        """Start every part in order, waiting for each; raise StartupError naming the part."""
        cfg = self.config
        data = cfg.data_dir.resolve()
        data.mkdir(parents=True, exist_ok=True)
        say(f"starting broker ({cfg.broker}) on {cfg.host}:{cfg.broker_port} ...")
        self.broker = start_broker(
            cfg.broker, data_dir=data / "broker", port=cfg.broker_port, host=cfg.host
        )
        say(f"starting database (SecantusDB) on {cfg.host}:{cfg.db_port} ...")
        self.database = start_database(
            data_dir=data / "database",
            port=cfg.db_port,
            host=cfg.host,
            cache_size=mongod_cache_size(),
        )
        say("creating topics ...")
        asyncio.run(ensure_topics(self.broker.bootstrap))
        env = service_env(
            bootstrap=self.broker.bootstrap,
            broker_profile=cfg.broker,
            mongo_url=self.database.url,
            data_dir=data,
            ports=cfg.ports,
            host=cfg.host,
            extra=cfg.extra_env,
        )
        self.env = env
        for name in ("appeals", "routing", "notify", "metrics"):
            say(f"starting {name} service on {cfg.host}:{cfg.ports[name]} ...")
            try:
                self.services[name] = start_service(
                    name, env=env, port=cfg.ports[name], data_dir=data / "services", host=cfg.host
                )
            except StartupError as exc:
                raise StartupError(f"the {name} service did not start: {exc}") from exc
        if cfg.prometheus:
            config_file = data / "prometheus" / "prometheus.yml"
            config_file.parent.mkdir(parents=True, exist_ok=True)
            config_file.write_text(self.prometheus_config())
            self.prometheus = start_prometheus(
                data_dir=data / "prometheus",
                config_file=config_file,
                port=cfg.prometheus_port,
                host=cfg.host,
            )
            if self.prometheus is None:
                say("prometheus is not installed (apt-get install prometheus); skipping it")

    def prometheus_config(self) -> str:
        """A scrape configuration for every service of this stack."""
        cfg = self.config
        rules = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules"
        lines = [
            "global:",
            "  scrape_interval: 5s",
            "  evaluation_interval: 5s",
            "rule_files:",
            f"  - {rules}/*.yml",
            "scrape_configs:",
        ]
        for name, port in cfg.ports.items():
            lines += [
                f"  - job_name: {name}",
                "    static_configs:",
                f"      - targets: ['{cfg.host}:{port}']",
                f"        labels: {{service: {name}}}",
            ]
        return "\n".join(lines) + "\n"

    def urls(self) -> dict[str, str]:
        """What a person opens."""
        cfg = self.config
        base = f"http://{cfg.host}"
        urls = {
            "intake API docs": f"{base}:{cfg.ports['appeals']}/docs",
            "staff UI": f"{base}:{cfg.ports['appeals']}/",
            "Open311": f"{base}:{cfg.ports['appeals']}/open311/v2/services.json",
            "metrics service": f"{base}:{cfg.ports['metrics']}/metrics",
            "routing": f"{base}:{cfg.ports['routing']}/metrics",
            "notify": f"{base}:{cfg.ports['notify']}/metrics",
        }
        if self.prometheus is not None:
            urls["Prometheus"] = self.prometheus.url
        return urls

    def recover_broker(self) -> None:
        """Bring a crashed broker back, with every service restarted around it.

        The embedded brokers can come back in the past (noida writes to disk about once a
        second). A service still running when the broker returns would go on from where it had
        read to, past offsets the broker has since reused, and could commit that position or
        de-duplicate against state the broker no longer has. So the services are stopped
        *before* the broker starts, and started after: they resume from their committed
        offsets, rolled back with the data. Nothing is lost: the outbox relay republishes what
        the broker may have dropped, and consumers de-duplicate.
        """
        if self.broker is None:
            return
        stop_together(list(self.services.values()))
        self.broker.restart()
        asyncio.run(ensure_topics(self.broker.bootstrap))
        # noida keeps committed offsets newer than its log snapshot: before anyone writes,
        # pull them back to the log end, or the groups would skip what is written next.
        groups = consumer_groups(self.env)
        try:
            moved = asyncio.run(rewind_groups_to_log_end(self.broker.bootstrap, groups))
        except KafkaError as exc:
            # The broker may refuse a commit from outside a group that still lists a member;
            # the services then resume from their committed offsets as they are.
            print(f"could not check the groups' committed offsets: {exc}", flush=True)
            moved = {}
        for group, partitions in moved.items():
            print(f"the broker came back in the past: {group} rewound {partitions}", flush=True)
        for process in self.services.values():
            process.start()
        for process in self.services.values():
            process.wait_ready(120)

    def dead(self) -> list[str]:
        """Names of parts that have exited."""
        parts: list[ManagedProcess | None] = [
            self.broker,
            self.database,
            self.prometheus,
            *self.services.values(),
        ]
        return [p.name for p in parts if p is not None and not p.alive]

    def stop(self) -> None:
        """Stop services first (they drain), then the infrastructure."""
        for process in reversed(list(self.services.values())):
            process.stop()
        for part in (self.prometheus, self.database, self.broker):
            if part is not None:
                part.stop()
