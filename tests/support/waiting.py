"""Waiting for what happens in the background (``eventually``), and each test's own manual
clock (``manual_clock``)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from frontdesk.clock import ManualClock

T = TypeVar("T")


_CLOCK_STARTS = itertools.count()


def manual_clock() -> ManualClock:
    """A test's own manual clock, starting a day before the previous test's. Tests share a
    database, and some work is installation-wide (a sweep, the engine's due notifications):
    since every other test's rows lie later, none of them looks lapsed or due to this test.
    (A test that moves its clock more than a day ahead may reach later tests' days.)"""
    return ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC) - timedelta(days=next(_CLOCK_STARTS)))


def eventually(
    probe: Callable[[], T | None], *, timeout: float = 10, interval: float = 0.05, what: str = ""
) -> T:
    """The first truthy answer of ``probe``, asked every ``interval`` seconds for up to
    ``timeout``: for what the server does in the background (an e-mail that goes out after a
    delay). A probe may instead fail an assertion to say what it saw; the TimeoutError is
    raised from the last such failure. Any other error ends the wait at once."""
    deadline = time.monotonic() + timeout
    while True:
        failure: AssertionError | None = None
        try:
            answer = probe()
        except AssertionError as error:
            answer, failure = None, error
        if answer:
            return answer
        if time.monotonic() > deadline:
            last = "" if failure else f"; last: {answer!r}"
            raise TimeoutError(f"not within {timeout}s: {what or probe}{last}") from failure
        time.sleep(interval)
