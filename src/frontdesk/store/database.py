"""The database engine and the two kinds of transaction Frontdesk uses.

``Database.write()`` is a read-write transaction: on SQLite it starts with
``BEGIN IMMEDIATE``, so the write lock is taken up front and two writers queue on
``busy_timeout`` instead of one failing half-way with "database is locked" when it upgrades
a read lock. ``Database.read()`` is a plain transaction for queries. SQLite runs in WAL mode
(readers never block the writer) with foreign keys enforced.

SQLite makes a waiting writer sleep and retry, up to 100 ms a sleep, until ``busy_timeout``.
Under a burst of writes (thousands of sockets connecting at once, each recording its
presence) a writer that keeps losing the race to fresher ones runs out of time and fails.
So the writers of one process first take turns (``WriteTurn``: in the order they asked,
the group commit only when no thread waits), and meet SQLite's lock only when nobody here
holds it; ``busy_timeout`` still covers other processes on the same file (the CLI beside a
running server).

``Database.run_write(operation)`` and ``Database.run_write_batched(batched, item)`` are the
hot paths' way in, from the event loop: their operations are group-committed, each caller
answered once the transaction holding its operation is committed (``group_commit``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TypeVar

import anyio.to_thread
from sqlalchemy import Connection, Engine, create_engine, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from frontdesk.store.after_commit import (
    AFTER_COMMIT,
    NOTIFIED,
    keep_after_commit,
)
from frontdesk.store.group_commit import Batched, GroupCommit, ThreadedGroupCommit
from frontdesk.store.on_loop import LoopWrites
from frontdesk.store.sqlite import (
    SQLITE_BUSY_TIMEOUT_MS,
    SQLITE_POOL_OVERFLOW,
    SQLITE_POOL_SIZE,
    SQLITE_WAL_PAGES_BEFORE_WRITERS_CHECKPOINT,
    WRITE,
    Checkpointer,
    configure_sqlite,
)
from frontdesk.store.turn import WriteTurn

T = TypeVar("T")
Item = TypeVar("Item")


class WriteTurnTimeout(TimeoutError):
    """Another write transaction of this process held the SQLite database too long."""


def unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be used just now (it is down or
    restarting, a connection to it broke, every connection is taken, another writer holds
    it) rather than that a statement is wrong: what may well succeed if tried again shortly.
    """
    if isinstance(
        error,
        exc.OperationalError | exc.InterfaceError | exc.DisconnectionError | exc.TimeoutError,
    ):
        return True
    if isinstance(error, WriteTurnTimeout):
        return True
    return isinstance(error, exc.DBAPIError) and error.connection_invalidated


class Database:
    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        checkpoint_every: float | None = None,
        pool_size: int = 5,
        max_overflow: int = 10,
    ) -> None:
        """``checkpoint_every``: on an SQLite file, a thread checkpoints its write-ahead
        log this often (``Checkpointer``), and writers leave it to the thread.
        ``pool_size`` and ``max_overflow``: on PostgreSQL, the connections this process
        keeps open, and how many more it may open at a busy moment (docs/deployment.md)."""
        parsed = make_url(url)
        self.url = url
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.is_postgresql = parsed.get_backend_name() == "postgresql"
        self.checkpointer: Checkpointer | None = None
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
                if checkpoint_every is not None:
                    self.checkpointer = Checkpointer(parsed.database, checkpoint_every)
            # A connection for every thread of the pool and the event loop's own: with
            # SQLAlchemy's default of 5 (+10 overflow), a burst of sockets opened and closed
            # a connection (and its PRAGMAs) per query, or waited for one.
            self.engine = create_engine(
                url, echo=echo, pool_size=SQLITE_POOL_SIZE, max_overflow=SQLITE_POOL_OVERFLOW
            )
            configure_sqlite(
                self.engine,
                wal_autocheckpoint=(
                    SQLITE_WAL_PAGES_BEFORE_WRITERS_CHECKPOINT if self.checkpointer else None
                ),
            )
            if self.checkpointer is not None:
                self.checkpointer.start()
        else:
            # Pre-ping: a connection the server dropped (a restart) is replaced when it is
            # taken, so requests recover as soon as the database is back.
            self.engine = create_engine(
                url,
                echo=echo,
                pool_pre_ping=True,
                pool_size=pool_size,
                max_overflow=max_overflow,
            )
        # A read sees one snapshot of the database from its first query to its end, so an
        # answer built from several queries (a notification and its deliveries) never
        # mixes states from before and after another transaction's commit. SQLite's
        # read transactions already do (WAL); PostgreSQL's default gives each statement
        # its own snapshot.
        reads = (
            self.engine.execution_options(isolation_level="REPEATABLE READ")
            if self.is_postgresql
            else self.engine
        )
        self._reads = reads
        self._reader = sessionmaker(reads, expire_on_commit=False)
        self._writer = sessionmaker(
            self.engine.execution_options(**{WRITE: True}), expire_on_commit=False
        )
        keep_after_commit(self._writer)
        self._write_turn = WriteTurn() if self.is_sqlite else None
        self._group_commit = GroupCommit(self) if self.is_sqlite else None
        self._batched_commit = self._group_commit or ThreadedGroupCommit(self)
        self._on_loop = LoopWrites(parsed) if self.is_postgresql else None

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A read-write transaction: committed when the block ends, rolled back on error."""
        with self._turn_to_write(), self._writer.begin() as session:
            yield session

    async def run_write(self, operation: Callable[[Session], T], *, first: bool = False) -> T:
        """``operation`` in a write transaction, awaited from the event loop; it returns
        once the transaction is committed. ``operation`` may run beside others in one
        transaction (SQLite's group commit), so it returns plain values, not rows it
        loaded, and registers its after-commit callbacks with ``after_commit``. ``first``:
        on SQLite, in the next group commit, ahead of the operations already waiting."""
        if self._group_commit is not None:
            return await self._group_commit.submit(operation, first=first)

        def alone() -> T:
            with self.write() as session:
                return operation(session)

        return await anyio.to_thread.run_sync(alone)

    async def run_write_first(self, operation: Callable[[Session], T]) -> T:
        """``run_write`` for work that must not queue behind the requests' writes (the
        presence sweep): on SQLite in the next group commit, ahead of the operations
        already waiting; on PostgreSQL on the event loop itself (``LoopWrites``), not on a
        pool thread that waits for the interpreter after each round trip."""
        if self._on_loop is not None:
            return await self._on_loop.run(operation)
        return await self.run_write(operation, first=True)

    async def close_loop_writes(self) -> None:
        """Close the connections ``run_write_first`` opened on this event loop."""
        if self._on_loop is not None:
            await self._on_loop.close()

    async def run_write_batched(self, batched: Batched[Item, T], item: Item) -> T:
        """``run_write(partial(batched.one, item=item))``, but the items of one group
        commit run together through ``batched.many``: on SQLite in the group commit of
        all operations, on PostgreSQL in one of batched operations on a pool thread."""
        return await self._batched_commit.submit(
            partial(batched.one, item=item), batched=batched, item=item
        )

    @contextmanager
    def _turn_to_write(self) -> Iterator[None]:
        turn = self._write_turn
        if turn is None:
            yield
            return
        if not turn.take(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            raise WriteTurnTimeout(
                "another write transaction of this process has held the SQLite database "
                f"for {SQLITE_BUSY_TIMEOUT_MS / 1000:g} s"
            )
        try:
            yield
        finally:
            turn.give_back()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A transaction for queries. Closing it (not rolling it back, which would expire
        them) leaves the loaded rows usable after the block."""
        with self._reader() as session:
            yield session

    @contextmanager
    def read_plain(self) -> Iterator[Connection]:
        """``read`` as a Core connection, for plain statements alone: without the ORM
        session's own making and closing (~0.1 ms), which a reconnect storm's greetings
        pay ten thousand times. The transaction ends (rolled back) with the block."""
        with self._reads.connect() as connection:
            yield connection

    def after_commit(self, session: Session, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the session's transaction has committed; never if it rolls
        back. For news that must not be told before it is true (waking a worker)."""
        session.info.setdefault(AFTER_COMMIT, []).append(callback)

    def notify(self, session: Session, channel: str, payload: str = "") -> None:
        """Tell the other processes listening on ``channel`` when this transaction commits
        (PostgreSQL's NOTIFY; once per transaction, channel and payload). A no-op on SQLite,
        where one process serves the database."""
        if not self.is_postgresql:
            return
        notified: set[tuple[str, str]] = session.info.setdefault(NOTIFIED, set())
        if (channel, payload) not in notified:
            notified.add((channel, payload))
            # On the driver's connection, as a plain statement runs: through the session
            # it cost a batch of visitor messages 6 % of its Python (docs/performance.md).
            # The DB-API connection, which on the event loop (``LoopWrites``) is
            # SQLAlchemy's adapter of the asynchronous driver's.
            driver = session.connection().connection.dbapi_connection
            assert driver is not None
            cursor = driver.cursor()
            try:
                cursor.execute("SELECT pg_notify(%s, %s)", (channel, payload))
            finally:
                cursor.close()

    async def listen(
        self, channel: str, *, listening: Callable[[], None] | None = None
    ) -> AsyncIterator[str]:
        """Yield the payload of each notification on ``channel`` (PostgreSQL only);
        ``listening`` is called once the channel is listened to, before the first
        notification."""
        assert self.is_postgresql
        import psycopg  # only here: a SQLite installation never loads the driver

        url = make_url(self.url).set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as connection:
            await connection.execute(f'LISTEN "{channel}"')
            if listening is not None:
                listening()
            async for notice in connection.notifies():
                yield notice.payload

    def write_connection(self) -> Engine:
        """The engine whose transactions are write transactions (for migrations)."""
        return self.engine.execution_options(**{WRITE: True})

    def dispose(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self._batched_commit.stop()
        self.engine.dispose()
