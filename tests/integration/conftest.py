"""Service processes for integration tests, started once per session on free ports.

They run exactly as in production (``appeals serve NAME`` with ``APPEALS_*`` variables) against
the session's real broker and database from tests/conftest.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from services.cli.stack import service_env, start_service
from shared.embedded import BrokerProcess, DatabaseProcess, ManagedProcess, free_port

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
# Open311 hook: the one API key the test services accept (test_open311.py).
OPEN311_TEST_KEY = "open311-test-key-0123456789"


def reference_city() -> Path:
    """The reference city's directory (../shared/reference-city beside the repository)."""
    import os

    path = Path(os.environ.get("APPEALS_REFERENCE_CITY", REPO.parent / "shared" / "reference-city"))
    if not (path / "jurisdiction.yaml").is_file():
        raise pytest.UsageError(f"reference city not found at {path}; set APPEALS_REFERENCE_CITY")
    return path


@dataclass
class RunningServices:
    """The four services of one test session."""

    processes: dict[str, ManagedProcess]
    ports: dict[str, int]
    mongo_db: str
    env: dict[str, str]

    def url(self, service: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"


@pytest.fixture(scope="session")
def services(
    broker: BrokerProcess, mongo: DatabaseProcess, infra_dir: Path, broker_profile: str
) -> Iterator[RunningServices]:
    """appeals, routing, notify and metrics, ready."""
    ports = {name: free_port() for name in ("appeals", "routing", "notify", "metrics")}
    mongo_db = "appeals_it"
    env = service_env(
        bootstrap=broker.bootstrap,
        broker_profile=broker_profile,
        mongo_url=mongo.url,
        data_dir=infra_dir / "services",
        ports=ports,
        extra={
            "APPEALS_MONGO_DB": mongo_db,
            "APPEALS_JURISDICTION_FILE": str(reference_city() / "jurisdiction.yaml"),
            "APPEALS_MATTERS_FILE": str(reference_city() / "matters.yaml"),
            # Open311 hook: the key test_open311.py submits with.
            "APPEALS_OPEN311_API_KEYS": OPEN311_TEST_KEY,
            # The routing worker's second opinion, as by default (said here, so that a test run
            # with APPEALS_ROUTING_EMBEDDINGS=false in the environment still tests it).
            "APPEALS_ROUTING_EMBEDDINGS": "true",
        },
    )
    processes: dict[str, ManagedProcess] = {}
    try:
        for name in ("appeals", "routing", "notify", "metrics"):
            processes[name] = start_service(
                name, env=env, port=ports[name], data_dir=infra_dir / "services"
            )
        yield RunningServices(processes, ports, mongo_db, env)
    finally:
        for process in processes.values():
            process.stop()


def poll(check: Callable[[], T | None], *, timeout: float = 30.0, what: str = "") -> T:
    """Call ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def metric_value(text: str, name: str, labels: dict[str, str]) -> float:
    """The value of one sample in a Prometheus exposition (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def staff_login(
    services: RunningServices, role: str, unit: str | None, *, username: str | None = None
) -> dict[str, str]:
    """Create a staff account with the real ``appeals staff add`` CLI, log in over HTTP, and
    return the Authorization header to send."""
    import subprocess
    import sys
    import uuid

    username = username or f"{role}-{uuid.uuid4().hex[:8]}"
    password = f"pw-{uuid.uuid4().hex}"
    argv = [sys.executable, "-m", "services.cli.main", "staff", "add", "--username", username]
    argv += ["--role", role, "--password-stdin"]
    if unit is not None:
        argv += ["--unit", unit]
    added = subprocess.run(
        argv, input=password + "\n", env=services.env, capture_output=True, text=True, timeout=60
    )
    assert added.returncode == 0, added.stderr
    response = httpx.post(
        services.url("appeals", "/api/v1/auth/login"),
        json={"username": username, "password": password},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}
