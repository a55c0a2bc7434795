"""Session-wide test infrastructure: one real Kafka-protocol broker and one SecantusDB.

Both run as child processes (shared.embedded) on free ports with their data and logs under the
session's temporary directory, so parallel test runs on one machine never collide. The broker
kind comes from ``APPEALS_TEST_BROKER`` (``noida``, the default, or ``tansu``); its name is
also the ``shared.kafka`` broker profile the clients must use (the ``broker_profile`` fixture).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from shared.embedded import (
    DEFAULT_BROKER,
    BrokerKind,
    BrokerProcess,
    DatabaseProcess,
    start_broker,
    start_database,
)
from shared.kafka import ensure_topics


def configured_broker_kind() -> BrokerKind:
    """The broker kind this run tests against (``APPEALS_TEST_BROKER``)."""
    kind = os.environ.get("APPEALS_TEST_BROKER", DEFAULT_BROKER)
    if kind not in ("noida", "tansu"):
        raise pytest.UsageError(f"APPEALS_TEST_BROKER={kind!r}: expected 'noida' or 'tansu'")
    return cast(BrokerKind, kind)


def pytest_report_header() -> str:
    return f"embedded broker: {configured_broker_kind()} (APPEALS_TEST_BROKER)"


@pytest.fixture(scope="session")
def infra_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Root of the session's process data dirs and logs (kept by pytest for post-mortems)."""
    return tmp_path_factory.mktemp("infra")


@pytest.fixture(scope="session")
def broker_profile() -> BrokerKind:
    """The shared.kafka profile name matching the session broker."""
    return configured_broker_kind()


@pytest.fixture(scope="session")
def broker(infra_dir: Path, broker_profile: BrokerKind) -> Iterator[BrokerProcess]:
    """A running broker with the project's topics created (``broker.bootstrap``)."""
    process = start_broker(broker_profile, data_dir=infra_dir / "broker")
    try:
        # A private loop: this fixture is synchronous and must not disturb the session loop
        # that pytest-asyncio owns.
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(ensure_topics(process.bootstrap))
        finally:
            loop.close()
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def mongo(infra_dir: Path) -> Iterator[DatabaseProcess]:
    """A running SecantusDB, durable on commit (``mongo.url``)."""
    process = start_database(data_dir=infra_dir / "mongo")
    try:
        yield process
    finally:
        process.stop()
