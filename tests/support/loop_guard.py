"""A guard for the whole suite: a synchronous PostgreSQL connection taken from a pool on an
event loop's thread fails the test that took it.

Such a checkout holds the event loop for the round trips of a whole transaction: every
request, socket and timer of the server waits, and under load a sweep or an engine turn that
does it stalls them all (the VAPID key read on the loop was one, docs/performance.md). On
PostgreSQL the hot paths await their writes (the group commit's batches on pool threads,
the sweep on the asynchronous driver); on SQLite the loop writes on purpose (its group
commit), so only PostgreSQL's synchronous driver is watched. The asynchronous driver's
connections (``store/on_loop.py``) are SQLAlchemy's adapters, not psycopg's own, and pass.
"""

from __future__ import annotations

import asyncio
import traceback
import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.pool import Pool

# The checkouts on a loop since the last ``taken_on_loop`` call: the frames of the product
# and of the tests that led to each, innermost first.
_taken: list[str] = []
_OURS = ("/src/frontdesk/", "/tests/")
# Loops that drive a test, not the product: Playwright's sync API keeps its loop marked as
# running on the test's thread while the test's own synchronous code runs beside it.
_drivers: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


def _where() -> str:
    frames = [
        f
        for f in traceback.extract_stack()
        if any(part in f.filename for part in _OURS) and f.filename != __file__
    ]
    return " < ".join(
        f"{f.filename.rsplit('/src/', 1)[-1].rsplit('/tests/', 1)[-1]}:{f.lineno} {f.name}"
        for f in reversed(frames)
    )


def on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return  # a pool thread or a test's own thread: where synchronous calls belong
    if loop in _drivers:
        return
    if type(dbapi_connection).__module__.startswith("psycopg"):
        _taken.append(_where())


def watch() -> None:
    """Watch every pool of the process, those made later included (once)."""
    if not event.contains(Pool, "checkout", on_checkout):
        event.listen(Pool, "checkout", on_checkout)


def drives_tests(loop: asyncio.AbstractEventLoop) -> None:
    """``loop`` is a test driver's (Playwright's): what runs while it is marked running on
    the test's thread is the test's synchronous code, not a coroutine of the product."""
    _drivers.add(loop)


def taken_on_loop() -> list[str]:
    """The checkouts on a loop since the last call, and forget them."""
    taken = list(_taken)
    _taken.clear()
    return taken
