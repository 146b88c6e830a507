"""Real Chromium for the tests of what people see: Debian's ``chromium`` package (never a
downloaded browser), driven by Playwright. ``./scripts/test`` installs the package when it
is missing and it can; with ``CI=true`` a missing browser fails the run instead of skipping.

Every page records the JavaScript dialogs it opens (an ``alert`` that should never run) and
the errors it throws, so a test can assert that hostile text stayed text.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, sync_playwright

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


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
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
