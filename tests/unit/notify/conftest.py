"""Fixtures of the notify unit tests: the demo city and a composer over the real templates."""

from __future__ import annotations

import jinja2
import pytest

from services.notify.domain.messages import TEMPLATE_DIR, MessageComposer
from shared.city import City, load_city
from shared.settings import DEMO_CITY


@pytest.fixture(scope="session")
def city() -> City:
    return load_city(DEMO_CITY / "jurisdiction.yaml", DEMO_CITY / "matters.yaml")


@pytest.fixture
def composer(city: City) -> MessageComposer:
    return MessageComposer(
        jinja2.FileSystemLoader(TEMPLATE_DIR),
        public_base_url="https://12345.example.org/",
        city=city,
    )
