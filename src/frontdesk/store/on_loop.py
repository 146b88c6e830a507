"""PostgreSQL write transactions run on the event loop, for the presence sweep.

A write transaction on a pool thread, beside an event loop busy with requests, gets a
small share of the interpreter: after each of its round trips the thread waits for the
interpreter lock that the loop holds, and under the engine benchmark a sweep of ~190
departures spent 116 ms in its Python where the same work takes ~10 ms on the loop
(docs/performance.md). ``LoopWrites`` runs the same synchronous operation (ORM and plain
statements alike) on the loop itself, through SQLAlchemy's asyncio extension: the
operation's Python holds the loop while it computes, and each round trip is awaited on
the asynchronous driver, so the loop serves requests while PostgreSQL works and a database
that stops answering holds the operation, not the server.

Its connections belong to the event loop that opened them: a different loop (a test's
next client, a restarted server in one process) gets a pool of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from frontdesk.store.after_commit import keep_after_commit
from frontdesk.store.sqlite import WRITE

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

T = TypeVar("T")

# The sweep is one task: one connection, and one more for a moment of overlap (a sweep
# cancelled while its rollback is under way).
POOL_SIZE = 1
MAX_OVERFLOW = 1


class LoopSession(Session):
    """The synchronous session an operation on the loop is given, with the after-commit
    callbacks and notifications of ``Database.write`` sessions."""


keep_after_commit(LoopSession)


class LoopWrites:
    def __init__(self, url: URL) -> None:
        # The asyncio variant of the same dialect and driver (psycopg's AsyncConnection).
        self._url = url.set(drivername="postgresql+psycopg")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None

    async def run(self, operation: Callable[[Session], T]) -> T:
        """``operation`` in a write transaction on this event loop; returns once it is
        committed (after its after-commit callbacks ran), rolled back if it raises."""
        sessions = self._sessions_of_this_loop()
        async with sessions() as session, session.begin():
            return await session.run_sync(operation)

    async def close(self) -> None:
        """Close this loop's connections (the server stopping)."""
        engine, self._engine, self._loop, self._sessions = self._engine, None, None, None
        if engine is not None:
            await engine.dispose()

    def _sessions_of_this_loop(self) -> async_sessionmaker[AsyncSession]:
        loop = asyncio.get_running_loop()
        if self._sessions is None or self._loop is not loop:
            # Loaded here, by the serve's sweep on PostgreSQL alone: a `frontdesk worker`
            # never runs it, and its peak memory is a goal (docs/performance.md).
            from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

            # A pool opened on a loop that has ended cannot be closed from this one; its
            # connections close with it when it is collected.
            self._engine = create_async_engine(
                self._url,
                pool_pre_ping=True,
                pool_size=POOL_SIZE,
                max_overflow=MAX_OVERFLOW,
            )
            self._sessions = async_sessionmaker(
                self._engine.execution_options(**{WRITE: True}),
                expire_on_commit=False,
                sync_session_class=LoopSession,
            )
            self._loop = loop
        return self._sessions
