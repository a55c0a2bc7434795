"""Browser tests: real headless Chromium (Playwright) against the real running services.

The services come from the integration tests' ``services`` fixture (broker, database, appeals,
routing, notify, metrics as child processes). Staff accounts are made with the real
``appeals staff add --password-stdin`` CLI and log in through the login form, as a person
would. Screenshots of every page land in ``test-artifacts/screenshots/`` (gitignored).
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.integration.conftest import REPO, RunningServices, services  # noqa: F401

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
# Bounded waits: the router answers in well under a second; the live feed within ~1 s.
WAIT_MS = 30_000


@dataclass(frozen=True)
class Login:
    """A staff account made for one test: what a person types into the login form."""

    username: str
    password: str
    role: str
    unit: str | None


def add_staff(
    running: RunningServices, role: str, unit: str | None, *, language: str = "zh-CN"
) -> Login:
    """Create an account with the real CLI (``appeals staff add --password-stdin``)."""
    username = f"{role.replace('_', '-')}-{uuid.uuid4().hex[:8]}"
    password = f"pw-{uuid.uuid4().hex}"
    argv = [sys.executable, "-m", "services.cli.main", "staff", "add", "--username", username]
    argv += ["--role", role, "--password-stdin", "--language", language]
    if unit is not None:
        argv += ["--unit", unit]
    added = subprocess.run(
        argv, input=password + "\n", env=running.env, capture_output=True, text=True, timeout=60
    )
    assert added.returncode == 0, added.stderr
    return Login(username, password, role, unit)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the session (Debian's; Playwright's download is not used)."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[[], BrowserContext]]:
    """Make separate browser contexts (separate cookies: separate people); closed after."""
    made: list[BrowserContext] = []

    def make() -> BrowserContext:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        context.set_default_timeout(WAIT_MS)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


def log_in(page: Page, running: RunningServices, who: Login) -> None:
    """Log in through the form, keyboard only, and land on the account's desk."""
    page.goto(running.url("appeals", "/login"))
    page.fill("input[name=username]", who.username)
    page.keyboard.press("Tab")
    page.keyboard.type(who.password)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/login" not in page.url, page.content()
    # The live feed is open before the test acts: nothing it does can slip past it.
    expect(page.locator("body")).to_have_attribute("data-live-ready", "1")


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as test-artifacts/screenshots/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
