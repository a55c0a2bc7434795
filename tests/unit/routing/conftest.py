"""Fixtures for the router's unit tests: the reference city and routers trained on it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.routing.adapters.training_data import AppealRecord, read_appeals
from services.routing.domain.router import Router
from shared.city import City, load_city

REPO_ROOT = Path(__file__).resolve().parents[3]


def reference_city_dir() -> Path:
    """$APPEALS_REFERENCE_CITY, else ../shared/reference-city beside the repository."""
    configured = os.environ.get("APPEALS_REFERENCE_CITY")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "reference-city"


@pytest.fixture(scope="session")
def city_dir() -> Path:
    path = reference_city_dir()
    assert (path / "jurisdiction.yaml").is_file(), f"reference city not found at {path}"
    return path


@pytest.fixture(scope="session")
def city(city_dir: Path) -> City:
    return load_city(city_dir / "jurisdiction.yaml", city_dir / "matters.yaml")


@pytest.fixture(scope="session")
def dev_records(city_dir: Path) -> list[AppealRecord]:
    return read_appeals(city_dir / "dev-appeals.jsonl")


@pytest.fixture(scope="session")
def router(city: City) -> Router:
    """Trained on the catalog only, at the default threshold."""
    return Router.from_city(city)


@pytest.fixture(autouse=True)
def _words_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI's default asks the sentence encoder (a 91 MB model, and a vector cache written
    # under .appeals): the unit tests judge the words alone; the encoder is tested for real in
    # tests/integration/test_routing_embeddings.py.
    monkeypatch.setenv("APPEALS_ROUTING_EMBEDDINGS", "false")
