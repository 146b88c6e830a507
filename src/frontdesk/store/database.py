"""The database engine and the two kinds of transaction Frontdesk uses.

``Database.write()`` is a read-write transaction: on SQLite it starts with
``BEGIN IMMEDIATE``, so the write lock is taken up front and two writers queue on
``busy_timeout`` instead of one failing half-way with "database is locked" when it upgrades
a read lock. ``Database.read()`` is a plain transaction for queries. SQLite runs in WAL mode
(readers never block the writer) with foreign keys enforced.

SQLite makes a waiting writer sleep and retry, up to 100 ms a sleep, until ``busy_timeout``.
Under a burst of writes (thousands of sockets connecting at once, each recording its
presence) a writer that keeps losing the race to fresher ones runs out of time and fails.
So the writers of one process first take turns on a lock, which hands over as soon as it is
free, and meet SQLite's lock only when nobody here holds it; ``busy_timeout`` still covers
other processes on the same file (the CLI beside a running server).

``Database.run_write(operation)`` is the hot paths' way in (a visitor message): from the
event loop, without a thread of the pool per request. On SQLite the operations of
concurrent requests are *group-committed*: the event loop runs every operation waiting at
that moment in one transaction (one that fails raises to its caller alone: the others run
again without it, each inside a savepoint), commits once, and only then answers each
caller. An operation is acknowledged only once the transaction holding it is committed, so
a crash never loses an acknowledged write (docs/performance.md). On PostgreSQL, where
writers run in parallel, each operation is its own transaction on a pool thread.

``Database.run_write_batched(batched, item)`` is ``run_write`` for an operation that knows
how to run for many items at once (``Batched``): the items of one group commit go to its
``many``, which writes them with a statement per table, not per item. Should ``many``
fail, each item runs again alone, through ``one``, in a savepoint of its own. On
PostgreSQL these operations are group-committed too, on pool threads, BATCHES_IN_FLIGHT
batches at a time (``_ThreadedGroupCommit``): their cost there is round trips, a dozen per
batch, and while the server runs one batch's statements the next one's Python runs. Items of
one key (a visitor's messages) are never in two batches at once, so they are written in the
order they came.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Generic, TypeVar

import anyio.to_thread
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("frontdesk.store")
_WRITE = "frontdesk_write"
_AFTER_COMMIT = "frontdesk_after_commit"
_NOTIFIED = "frontdesk_notified"
SQLITE_BUSY_TIMEOUT_MS = 10_000
# The most operations one group commit takes: enough to absorb the requests a server has in
# flight, few enough that one batch holds the event loop for a few milliseconds only.
GROUP_COMMIT_MAX = 128
# Connections to SQLite kept open: the threads of anyio's pool (40) and the event loop.
SQLITE_POOL_SIZE = 48
SQLITE_POOL_OVERFLOW = 16
# How soon a group commit tries again when another writer of the process holds SQLite.
RETRY_TURN_AFTER = 0.001
# With a checkpointer thread (``_Checkpointer``), writers leave the write-ahead log to it
# until it holds this many pages (64 MB at SQLite's 4 kB), where SQLite's default is 1,000.
SQLITE_WAL_PAGES_BEFORE_WRITERS_CHECKPOINT = 16_000
# PostgreSQL's group commit: batches of one event loop in their transactions at once. With
# one, Python and the server took turns, each idle half of the time (docs/performance.md).
BATCHES_IN_FLIGHT = 2
T = TypeVar("T")
Item = TypeVar("Item")


class Batched(Generic[Item, T]):
    """An operation that can run for many items in one transaction at a lower cost than
    once per item (a visitor message). ``many`` must give each item the outcome ``one``
    would have given it had the items run one after another in some order: the items of a
    group commit come from concurrent requests, none of them answered yet."""

    def one(self, session: Session, item: Item) -> T:
        raise NotImplementedError

    def many(self, session: Session, items: list[Item]) -> list[T]:
        return [self.one(session, item) for item in items]

    def key(self, item: Item) -> Hashable | None:
        """Items of one key must not be in two transactions at once (they are written in
        the order they came); None for an item that may."""
        return None


class Database:
    def __init__(
        self, url: str, *, echo: bool = False, checkpoint_every: float | None = None
    ) -> None:
        """``checkpoint_every``: on an SQLite file, a thread checkpoints its write-ahead
        log this often (``_Checkpointer``), and writers leave it to the thread."""
        parsed = make_url(url)
        self.url = url
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.is_postgresql = parsed.get_backend_name() == "postgresql"
        self.checkpointer: _Checkpointer | None = None
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
                if checkpoint_every is not None:
                    self.checkpointer = _Checkpointer(parsed.database, checkpoint_every)
            # A connection for every thread of the pool and the event loop's own: with
            # SQLAlchemy's default of 5 (+10 overflow), a burst of sockets opened and closed
            # a connection (and its PRAGMAs) per query, or waited for one.
            self.engine = create_engine(
                url, echo=echo, pool_size=SQLITE_POOL_SIZE, max_overflow=SQLITE_POOL_OVERFLOW
            )
            _configure_sqlite(
                self.engine,
                wal_autocheckpoint=(
                    SQLITE_WAL_PAGES_BEFORE_WRITERS_CHECKPOINT if self.checkpointer else None
                ),
            )
            if self.checkpointer is not None:
                self.checkpointer.start()
        else:
            self.engine = create_engine(url, echo=echo, pool_pre_ping=True)
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
        self._reader = sessionmaker(reads, expire_on_commit=False)
        self._writer = sessionmaker(
            self.engine.execution_options(**{_WRITE: True}), expire_on_commit=False
        )
        event.listen(self._writer, "after_commit", _run_after_commit)
        event.listen(self._writer, "after_soft_rollback", _forget_after_commit)
        self._write_turn = threading.Lock() if self.is_sqlite else None
        # Threads waiting for the turn to write. The event loop's group commit leaves the
        # turn to them while there are any: a lock is not fair, and the loop, which takes
        # it again the moment it has let it go, would keep the sweep and the engine out
        # for as long as requests keep coming.
        self._threads_waiting = 0
        self._waiting_count_lock = threading.Lock()
        self._group_commit = _GroupCommit(self) if self.is_sqlite else None
        self._batched_commit = self._group_commit or _ThreadedGroupCommit(self)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A read-write transaction: committed when the block ends, rolled back on error."""
        with self._turn_to_write(), self._writer.begin() as session:
            yield session

    async def run_write(self, operation: Callable[[Session], T]) -> T:
        """``operation`` in a write transaction, awaited from the event loop; it returns
        once the transaction is committed. ``operation`` may run beside others in one
        transaction (SQLite's group commit), so it returns plain values, not rows it
        loaded, and registers its after-commit callbacks with ``after_commit``."""
        if self._group_commit is not None:
            return await self._group_commit.submit(operation)

        def alone() -> T:
            with self.write() as session:
                return operation(session)

        return await anyio.to_thread.run_sync(alone)

    async def run_write_batched(self, batched: Batched[Item, T], item: Item) -> T:
        """``run_write(partial(batched.one, item=item))``, but the items of one group
        commit run together through ``batched.many``: on SQLite in the group commit of
        all operations, on PostgreSQL in one of batched operations on a pool thread."""
        return await self._batched_commit.submit(
            partial(batched.one, item=item), batched=batched, item=item
        )

    @contextmanager
    def _turn_to_write(self) -> Iterator[None]:
        if self._write_turn is None:
            yield
            return
        if not self._write_turn.acquire(blocking=False) and not self._wait_for_turn():
            raise TimeoutError(
                "another write transaction of this process has held the SQLite database "
                f"for {SQLITE_BUSY_TIMEOUT_MS / 1000:g} s"
            )
        try:
            yield
        finally:
            self._write_turn.release()

    def _wait_for_turn(self) -> bool:
        assert self._write_turn is not None
        with self._waiting_count_lock:
            self._threads_waiting += 1
        try:
            return self._write_turn.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        finally:
            with self._waiting_count_lock:
                self._threads_waiting -= 1

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A transaction for queries. Closing it (not rolling it back, which would expire
        them) leaves the loaded rows usable after the block."""
        with self._reader() as session:
            yield session

    def after_commit(self, session: Session, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the session's transaction has committed; never if it rolls
        back. For news that must not be told before it is true (waking a worker)."""
        session.info.setdefault(_AFTER_COMMIT, []).append(callback)

    def notify(self, session: Session, channel: str) -> None:
        """Tell the other processes listening on ``channel`` when this transaction commits
        (PostgreSQL's NOTIFY; once per transaction and channel). A no-op on SQLite, where
        one process serves the database."""
        if not self.is_postgresql:
            return
        notified: set[str] = session.info.setdefault(_NOTIFIED, set())
        if channel not in notified:
            notified.add(channel)
            session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})

    async def listen(
        self, channel: str, *, listening: Callable[[], None] | None = None
    ) -> AsyncIterator[None]:
        """Yield once per notification on ``channel`` (PostgreSQL only); ``listening`` is
        called once the channel is listened to, before the first notification."""
        assert self.is_postgresql
        import psycopg  # only here: a SQLite installation never loads the driver

        url = make_url(self.url).set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as connection:
            await connection.execute(f'LISTEN "{channel}"')
            if listening is not None:
                listening()
            async for _notice in connection.notifies():
                yield

    def write_connection(self) -> Engine:
        """The engine whose transactions are write transactions (for migrations)."""
        return self.engine.execution_options(**{_WRITE: True})

    def dispose(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self._batched_commit.stop()
        self.engine.dispose()


@dataclass(slots=True)
class _Job:
    operation: Callable[[Session], Any]
    future: asyncio.Future[Any]
    result: Any = None
    error: BaseException | None = None
    callbacks: list[Callable[[], None]] = field(default_factory=list)
    batched: Batched[Any, Any] | None = None
    item: Any = None
    key: Hashable | None = None


class _GroupCommit:
    """SQLite's group commit (see the module's first lines), run on the event loop that
    awaits the operations. The operations submitted while the loop handled its other
    callbacks (the requests of the moment) are flushed together by one callback.

    On the loop, not on a thread of its own: the server's Python runs on one core either
    way, and a writer thread spent more time waiting to take the interpreter lock back
    from the loop after each SQLite call than running its statements (docs/performance.md).
    A batch of GROUP_COMMIT_MAX operations keeps the loop for a few milliseconds."""

    def __init__(self, database: Database) -> None:
        self._database = database
        # Operations waiting, per loop; a loop has a list here iff a flush is scheduled.
        self._pending: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        # The session (and its connection) the batches run in, kept between them: a
        # session made and a connection taken from the pool for each batch cost 160 µs,
        # where SQLite's own BEGIN IMMEDIATE and COMMIT take 4 (docs/performance.md). One
        # for all the loops: it is used only by whoever holds the turn to write.
        self._session: Session | None = None

    def submit(
        self,
        operation: Callable[[Session], T],
        *,
        batched: Batched[Any, T] | None = None,
        item: Any = None,
    ) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        key = batched.key(item) if batched is not None else None
        job = _Job(operation, loop.create_future(), batched=batched, item=item, key=key)
        self._enqueue(loop, job)
        return job.future

    def _enqueue(self, loop: asyncio.AbstractEventLoop, job: _Job) -> None:
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            loop.call_soon(self._flush, loop)
        pending.append(job)

    def stop(self) -> None:
        self._pending.clear()
        self._forget_session()

    def _forget_session(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        bind = session.bind
        session.close()
        if isinstance(bind, Connection):
            bind.close()

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        """The kept session in a new transaction, committed when the block ends (the caller
        holds the turn to write). After anything but an operation's own failure
        (``_RunAgain``, rolled back like any other), the session and its connection are
        let go, and the next batch starts from a fresh connection."""
        session = self._session
        if session is None:
            database = self._database
            connection = database.engine.execution_options(**{_WRITE: True}).connect()
            session = self._session = database._writer(bind=connection)
        try:
            with session.begin():
                yield session
        except _RunAgain:
            raise
        except BaseException:
            self._forget_session()
            raise

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        jobs = self._pending.pop(loop)
        turn = self._database._write_turn
        assert turn is not None
        if self._database._threads_waiting or not turn.acquire(blocking=False):
            # A thread of this process writes or waits to (the engine, the sweep): its
            # turn first; try again in a moment rather than hold the loop until it is done.
            self._pending[loop] = jobs
            loop.call_later(RETRY_TURN_AFTER, self._flush, loop)
            return
        batch, rest = jobs[:GROUP_COMMIT_MAX], jobs[GROUP_COMMIT_MAX:]
        try:
            self._commit(batch)
        finally:
            turn.release()
        if rest:
            self._pending[loop] = rest
            loop.call_soon(self._flush, loop)
        _answer(batch)

    def _commit(self, batch: list[_Job]) -> None:
        """Run the batch in one transaction and commit it. Operations rarely fail, so the
        first run takes no savepoints; when one fails, its error is kept, the transaction
        is rolled back, and the others run again, each in a savepoint of its own."""
        pending = batch
        isolated = False
        while pending:
            try:
                self._run_batch(pending, isolated=isolated)
            except _RunAgain:
                pending = [job for job in pending if job.error is None]
                isolated = True
                continue
            except Exception as error:  # the commit failed: nothing of the batch is stored
                for job in pending:
                    if job.error is None:
                        job.error = error
                return
            for job in pending:
                if job.error is not None:
                    continue
                for callback in job.callbacks:
                    try:
                        callback()
                    except Exception:
                        log.exception("an after-commit callback failed")
            return

    def _run_batch(self, batch: list[_Job], *, isolated: bool) -> None:
        """One transaction (the caller holds the turn to write). ``isolated``: each
        operation inside a savepoint of its own, issued on the driver's connection
        (SQLAlchemy's savepoints cost more than the operation); otherwise the first
        failure rolls the whole transaction back (``_RunAgain``), and the batched
        operations run together, a ``Batched.many`` call for each kind."""
        with self._transaction() as session:
            driver = session.connection().connection.driver_connection
            assert driver is not None
            if isolated:
                for job in batch:
                    driver.execute("SAVEPOINT frontdesk_operation")
                    self._run_job(session, job, savepoint_of=driver)
                    driver.execute("RELEASE SAVEPOINT frontdesk_operation")
                return
            kinds: dict[int, list[_Job]] = {}
            for job in batch:
                if job.batched is None:
                    self._run_job(session, job, savepoint_of=None)
                else:
                    kinds.setdefault(id(job.batched), []).append(job)
            for jobs in kinds.values():
                self._run_together(session, jobs)

    def _run_job(self, session: Session, job: _Job, *, savepoint_of: Any) -> None:
        """One operation; ``savepoint_of``: the driver's connection, when the operation
        runs inside a savepoint of its own, which its failure is rolled back to."""
        try:
            job.result = job.operation(session)
            session.flush()
        except Exception as error:
            session.info.pop(_AFTER_COMMIT, None)
            job.error = error
            transaction = session.get_transaction()
            if savepoint_of is None or transaction is None or not transaction.is_active:
                # Not isolated, or the session broke (a failed ORM flush): the
                # transaction is rolled back, and the others run again.
                raise _RunAgain from error
            savepoint_of.execute("ROLLBACK TO SAVEPOINT frontdesk_operation")
        else:
            job.callbacks = session.info.pop(_AFTER_COMMIT, [])
        finally:
            # Each operation starts from the database, not from rows another one
            # loaded and may have changed with plain statements.
            session.expunge_all()

    def _run_together(self, session: Session, jobs: list[_Job]) -> None:
        batched = jobs[0].batched
        assert batched is not None
        try:
            results = batched.many(session, [job.item for job in jobs])
            session.flush()
        except Exception as error:
            # Which item failed is not known: all of them run again, each alone.
            session.info.pop(_AFTER_COMMIT, None)
            raise _RunAgain from error
        finally:
            session.expunge_all()
        assert len(results) == len(jobs)
        for job, result in zip(jobs, results, strict=True):
            job.result = result
        # They commit together or not at all: the first one carries the callbacks.
        jobs[0].callbacks = session.info.pop(_AFTER_COMMIT, [])


class _ThreadedGroupCommit(_GroupCommit):
    """PostgreSQL's group commit, for batched operations (``run_write_batched``) only: the
    items waiting at a moment run in one transaction on a pool thread (the database's
    round trips are the cost there, and a batch makes a dozen of them however many items
    it holds, where each item alone made nine), while the next moment's items gather; up to
    BATCHES_IN_FLIGHT batches at a time per event loop, none holding an item of a key
    another one in flight holds (that item waits for the next batch). Other operations
    keep a transaction each."""

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self._draining: dict[asyncio.AbstractEventLoop, set[asyncio.Task[None]]] = {}
        # The keys of the items in the batches in flight, per loop.
        self._busy: dict[asyncio.AbstractEventLoop, set[Hashable]] = {}

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        # On a pool thread: a session of its own each time (a dozen round trips to the
        # server are the cost here, not the session).
        with self._database._writer.begin() as session:
            yield session

    def _enqueue(self, loop: asyncio.AbstractEventLoop, job: _Job) -> None:
        self._pending.setdefault(loop, []).append(job)
        draining = self._draining.setdefault(loop, set())
        if len(draining) < BATCHES_IN_FLIGHT:
            task = loop.create_task(self._drain(loop))
            draining.add(task)
            task.add_done_callback(draining.discard)

    def _take(self, loop: asyncio.AbstractEventLoop) -> tuple[list[_Job], set[Hashable]]:
        """The next batch: the oldest items waiting, up to GROUP_COMMIT_MAX, but none of a
        key in flight (nor any after it of that key), and the keys it holds."""
        busy = self._busy.setdefault(loop, set())
        batch: list[_Job] = []
        held: list[_Job] = []
        keys: set[Hashable] = set()
        for job in self._pending.pop(loop, []):
            if len(batch) >= GROUP_COMMIT_MAX or (job.key is not None and job.key in busy):
                held.append(job)
                continue
            batch.append(job)
            if job.key is not None:
                keys.add(job.key)
        if held:
            self._pending[loop] = held
        busy |= keys
        return batch, keys

    async def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        busy = self._busy.setdefault(loop, set())
        try:
            while True:
                batch, keys = self._take(loop)
                if not batch:
                    # What waits is of a key in flight: that batch's drain takes it next.
                    return
                try:
                    await anyio.to_thread.run_sync(self._commit, batch)
                finally:
                    busy -= keys
                _answer(batch)
        finally:
            # Out of the count the moment it stops taking items, not when the task's done
            # callback runs: the callers answered above run before that callback, and an
            # item one of them submits meanwhile would find every drain still counted,
            # start none, and wait for ever.
            self._draining.get(loop, set()).discard(asyncio.current_task())


def _answer(batch: list[_Job]) -> None:
    for job in batch:
        if job.future.cancelled():
            continue
        if job.error is not None:
            job.future.set_exception(job.error)
        else:
            job.future.set_result(job.result)


class _RunAgain(Exception):
    pass


class _Checkpointer:
    """A thread that checkpoints an SQLite file's write-ahead log every ``every`` seconds.

    By default SQLite makes the writer whose commit takes the log past 1,000 pages copy the
    log into the database file, an fsync included; for the group commit that writer is the
    event loop, and the copying was 12 % of a visitor message's time (docs/performance.md).
    A PASSIVE checkpoint runs beside the writers and readers, copies what no reader still
    needs, and never waits for a lock; SQLite does it with the interpreter lock released,
    on the other core. Writers still checkpoint once the log holds
    SQLITE_WAL_PAGES_BEFORE_WRITERS_CHECKPOINT pages, should this thread fall behind."""

    def __init__(self, path: str, every: float) -> None:
        self._path = path
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpointer", daemon=True)
        # SQLite's answer to the last checkpoint: (busy, frames in the log, frames copied).
        self.last: tuple[int, int, int] | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        failing = ""
        try:
            while not self._stop.wait(self._every):
                try:
                    self.last = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    failing = ""
                except sqlite3.Error as error:
                    if str(error) != failing:  # once per kind of failure, not every tick
                        log.warning("checkpointing the SQLite log failed: %s", error)
                    failing = str(error)
        finally:
            connection.close()


def _configure_sqlite(engine: Engine, *, wal_autocheckpoint: int | None) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's "begin" event below instead of letting
        # the sqlite3 module start deferred transactions on its own.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            if wal_autocheckpoint is not None:
                cursor.execute(f"PRAGMA wal_autocheckpoint={wal_autocheckpoint}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(_WRITE, False)
        # On the driver's connection: through SQLAlchemy, the statement took more time
        # than SQLite's BEGIN and COMMIT together.
        driver = connection.connection.driver_connection
        assert driver is not None
        driver.execute("BEGIN IMMEDIATE" if write else "BEGIN")


def _run_after_commit(session: Session) -> None:
    session.info.pop(_NOTIFIED, None)
    for callback in session.info.pop(_AFTER_COMMIT, []):
        try:
            callback()
        except Exception:  # the commit stands; a failed callback must not undo that
            log.exception("an after-commit callback failed")


def _forget_after_commit(session: Session, _previous_transaction: Any) -> None:
    session.info.pop(_AFTER_COMMIT, None)
    session.info.pop(_NOTIFIED, None)
