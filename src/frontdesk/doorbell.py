"""A doorbell: any thread rings it, one asyncio task waits for it.

The notification worker sleeps until its next due time; a transaction that makes something
due sooner rings the bell after it commits, from whichever thread ran it. Ringing before a
task waits is remembered, so a ring is never lost between a check and a wait.
"""

from __future__ import annotations

import asyncio
import contextlib


class Doorbell:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def attach(self) -> None:
        """Called by the waiting task, on its loop."""
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()

    def detach(self) -> None:
        self._loop = self._event = None

    def ring(self) -> None:
        """Safe from any thread; a no-op while nobody is attached."""
        loop, event = self._loop, self._event
        if loop is None or event is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed between check and call
            loop.call_soon_threadsafe(event.set)

    async def wait(self, timeout: float) -> bool:
        """Wait until rung or ``timeout`` seconds passed; True if rung. Clears the bell."""
        assert self._event is not None, "attach() first"
        try:
            await asyncio.wait_for(self._event.wait(), timeout=max(timeout, 0.0))
            return True
        except TimeoutError:
            return False
        finally:
            self._event.clear()
