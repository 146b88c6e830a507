"""The turn to write to SQLite inside one process (``WriteTurn``).

SQLite lets one writer in at a time. The writers of a process take turns here first, so
that they meet SQLite's own lock (whose waiters sleep and retry) only when another process
holds it (docs/performance.md, *Storms*).

The turn is handed over in the order it was asked for. A plain lock is not fair: whoever
asks at the moment it is let go takes it, waiters or not. The engine asks again and again
while it decides a burst of missed conversations, and under the engine benchmark the
sweep, waiting behind it, recorded departures up to 1.5 s late.

The event loop's group commit only ever *tries* (``try_take``): it never waits, and it
never goes before a thread that waits, which would otherwise wait for as long as requests
keep coming (the loop asks again the moment it has let go).
"""

from __future__ import annotations

import threading
from collections import deque


class WriteTurn:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held = False
        # One lock per thread waiting, oldest first, each held until the turn is its own.
        self._waiters: deque[threading.Lock] = deque()

    @property
    def waiting(self) -> int:
        """How many threads wait for the turn."""
        return len(self._waiters)

    def try_take(self) -> bool:
        """The turn, if nobody holds it and no thread waits for it; never waits."""
        with self._guard:
            if self._held or self._waiters:
                return False
            self._held = True
            return True

    def take(self, timeout: float) -> bool:
        """The turn, after those who asked before; False after ``timeout`` seconds."""
        with self._guard:
            if not self._held and not self._waiters:
                self._held = True
                return True
            waiter = threading.Lock()
            waiter.acquire()
            self._waiters.append(waiter)
        if waiter.acquire(timeout=timeout):
            return True  # handed over by ``give_back``
        with self._guard:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
                return False
        # Handed over as the wait ran out: the turn is this thread's.
        return True

    def give_back(self) -> None:
        """Hand the turn to the thread that has waited longest, or let it go."""
        with self._guard:
            if self._waiters:
                self._waiters.popleft().release()  # still held: now by that thread
            else:
                self._held = False
