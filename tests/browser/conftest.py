"""Real Chromium for the tests of what people see: Debian's ``chromium`` package (never a
downloaded browser), driven by Playwright. ``./scripts/test`` installs the package when it
is missing and it can; with ``CI=true`` a missing browser fails the run instead of skipping.

Every page records the JavaScript dialogs it opens (an ``alert`` that should never run) and
the errors it throws, so a test can assert that hostile text stayed text.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Dialog, Page, sync_playwright

from frontdesk.security import PasswordHasher
from frontdesk.settings import Settings
from frontdesk.store.database import Database
from frontdesk.store.migrate import upgrade
from tests.support import LiveServer, loop_guard, postgres_database, serving

CHROMIUM = Path(os.environ.get("FRONTDESK_TEST_CHROMIUM", "/usr/bin/chromium"))
# Chromium runs as root in CI containers (no sandbox there) and must not phone home: the
# machine's network is closed, and its background requests only fail and slow it down.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]


# Package scope, not session: Playwright's sync API runs an event loop on the main thread
# while it is open, and the tests after these (asyncio.run, click's runner) need none running.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"no Chromium at {CHROMIUM} (./scripts/test installs Debian's chromium as root)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        loop_guard.drives_tests(asyncio.get_running_loop())
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Watched:
    page: Page
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def assert_nothing_ran(watched: Watched) -> None:
    """The page opened no dialog and threw no error: hostile text stayed text."""
    assert watched.dialogs == []
    assert watched.errors == []


@contextmanager
def watching(browser: Browser) -> Iterator[Watched]:
    """A page in a context of its own (its own storage: another person's browser) that
    records the dialogs it opens and the errors it throws."""
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    found = Watched(page)

    def on_dialog(dialog: Dialog) -> None:
        found.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: found.errors.append(str(error)))
    try:
        yield found
    finally:
        context.close()


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    with watching(browser) as found:
        yield found


SiteFactory = Callable[..., AbstractContextManager[LiveServer]]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def site_database(request: pytest.FixtureRequest) -> str:
    """What each site of a browser test stores in: the embedded default (a fresh SQLite
    file), or a fresh PostgreSQL database, so every browser test runs on both."""
    if request.param == "postgresql":
        request.getfixturevalue("postgres_url")  # skipped, or failed in CI, if unreachable
    return str(request.param)


@pytest.fixture
def serve_site(tmp_path: Path, passwords: PasswordHasher, site_database: str) -> SiteFactory:
    """``with serve_site(offline_email_delay=2) as server:`` the whole product on a real
    uvicorn with the built-in mail catcher, on a database of its own (``site_database``),
    with an offline-message delay of half a second unless a test says otherwise."""

    @contextmanager
    def serve(**overrides: Any) -> Iterator[LiveServer]:
        data_dir = tmp_path / f"site-{len(list(tmp_path.glob('site-*')))}"
        data_dir.mkdir()
        chosen: dict[str, Any] = {
            "data_dir": data_dir,
            "password_hashing": "fast",
            "offline_email_delay": 0.5,
        }
        with ExitStack() as stack:
            if site_database == "postgresql":
                chosen["database_url"] = stack.enter_context(postgres_database("frontdesk_site"))
            settings = Settings(**(chosen | overrides))
            database = Database(settings.effective_database_url)
            stack.callback(database.dispose)
            upgrade(database)
            with serving(settings, database, passwords) as server:
                yield server

    return serve
