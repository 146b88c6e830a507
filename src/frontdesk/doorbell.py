"""A doorbell: any thread rings it, one asyncio task waits for it.

A loop of the notification worker sleeps until its next due time; a transaction that makes
something due rings the bell after it commits, from whichever thread ran it, saying when
the new work falls due. A ring for work due no sooner than the task means to wake anyway is
let pass (a visitor message opening a notification due in ten minutes wakes nobody); any
other ring wakes it. A ring while the task is not waiting (it works, or reads its next due
time) is remembered with the earliest due time rung, so a ring is never lost between a
check and a wait; the next wait then returns at once unless that work falls due no sooner
than the task means to wake (a busy moment's rings, one per commit, would otherwise make a
loop that works for a few milliseconds run again and again for work due much later).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

# A ring remembered for work due now (or at a time not known).
_NOW = datetime.min.replace(tzinfo=UTC)


class Doorbell:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        # When the waiting task wakes by itself; None while it is not waiting.
        self._wakes_at: datetime | None = None
        self._waiting = False
        # The earliest due time rung while the task was not waiting; None: no ring.
        self._rung_for: datetime | None = None

    def attach(self) -> None:
        """Called by the waiting task, on its loop."""
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        self._wakes_at = None
        self._waiting = False
        self._rung_for = None

    def detach(self) -> None:
        self._loop = self._event = self._wakes_at = self._rung_for = None

    @property
    def attached(self) -> bool:
        return self._loop is not None

    def ring(self, due: datetime | None = None) -> None:
        """Safe from any thread; a no-op while nobody is attached. ``due``: when the new
        work falls due (``None``: now, or not known)."""
        loop, event = self._loop, self._event
        if loop is None or event is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed between check and call
            loop.call_soon_threadsafe(self._rung, event, due)

    def _rung(self, event: asyncio.Event, due: datetime | None) -> None:
        # On the loop: ``_wakes_at`` is the waiting task's, read where it is written.
        if not self._waiting:
            at = _NOW if due is None else due
            if self._rung_for is None or at < self._rung_for:
                self._rung_for = at
        elif due is None or self._wakes_at is None or due < self._wakes_at:
            event.set()

    async def wait(self, timeout: float, *, wakes_at: datetime | None = None) -> bool:
        """Wait until rung or ``timeout`` seconds passed; True if rung. Clears the bell.
        ``wakes_at``: the moment the timeout ends, on the clock the rings' due times are
        on; rings for work due at or after it are let pass."""
        assert self._event is not None, "attach() first"
        rung_for, self._rung_for = self._rung_for, None
        if rung_for is not None and (wakes_at is None or rung_for < wakes_at):
            return True
        self._wakes_at = wakes_at
        self._waiting = True
        try:
            await asyncio.wait_for(self._event.wait(), timeout=max(timeout, 0.0))
            return True
        except TimeoutError:
            return False
        finally:
            self._waiting = False
            self._wakes_at = None
            self._event.clear()
