"""Fault-injection scenarios: the session-end summary of what each scenario found.

Each scenario (tests/faults/test_*.py) starts its own broker, database and services under its
``tmp_path`` (harness.FaultStack), injects its faults, and records one ``harness.Row``. The
table printed at the end of the session is the one docs/faults.md quotes.
"""

from __future__ import annotations

import pytest

from tests.faults.harness import HEADER, ROWS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not ROWS:
        return
    terminalreporter.section("fault scenarios: appeals sent, accepted, stored, lost")
    terminalreporter.write_line(HEADER)
    for row in ROWS:
        terminalreporter.write_line(row.line())
