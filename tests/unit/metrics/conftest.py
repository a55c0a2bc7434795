"""Fixtures of the metrics unit tests: one generated month of appeals (see metrics_month.py)."""

from __future__ import annotations

import pytest
from metrics_month import Month, generate_month


@pytest.fixture(scope="session")
def month() -> Month:
    """One generated month, shared by the tests that only read it."""
    return generate_month()
