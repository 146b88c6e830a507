"""Group commit: the write operations of concurrent requests run in one transaction, and
each caller is answered once that transaction is committed.

``Database.run_write(operation)`` is the hot paths' way in (a visitor message): from the
event loop, without a thread of the pool per request. On SQLite the operations of
concurrent requests are *group-committed* (``GroupCommit``): the event loop runs every
operation waiting at that moment in one transaction (one that fails raises to its caller
alone: the others run again without it, each inside a savepoint), commits once, and only
then answers each caller. An operation is acknowledged only once the transaction holding it
is committed, so a crash never loses an acknowledged write (docs/performance.md). On
PostgreSQL, where writers run in parallel, each operation is its own transaction on a pool
thread.

``Database.run_write_batched(batched, item)`` is ``run_write`` for an operation that knows
how to run for many items at once (``Batched``): the items of one group commit go to its
``many``, which writes them with a statement per table, not per item. Should ``many``
fail, each item runs again alone, through ``one``, in a savepoint of its own. On
PostgreSQL these operations are group-committed too, on pool threads, BATCHES_IN_FLIGHT
batches at a time (``ThreadedGroupCommit``): their cost there is round trips, a dozen per
batch, and while the server runs one batch's statements the next one's Python runs. Items of
one key (a visitor's messages) are never in two batches at once, so they are written in the
order they came.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio.to_thread
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from frontdesk.store.after_commit import AFTER_COMMIT
from frontdesk.store.sqlite import WRITE

if TYPE_CHECKING:
    from frontdesk.store.database import Database

log = logging.getLogger("frontdesk.store")
# The most operations one group commit takes: enough to absorb the requests a server has in
# flight, few enough that one batch holds the event loop for milliseconds (256 visitor
# messages on SQLite: 8.5 ms at p50, 16 ms at p99). Only a server with more writes waiting
# than 128 fills more than half of one; halving it cost those writes 3-20 % of their rate
# in per-batch work (the commit, each statement's own cost), and their wait is the same:
# the second half waited for the first (docs/performance.md).
GROUP_COMMIT_MAX = 256
# How soon a group commit tries again when another writer of the process holds SQLite.
RETRY_TURN_AFTER = 0.001
# PostgreSQL's group commit: batches of one event loop in their transactions at once. With
# one, Python and the server took turns, each idle half of the time (docs/performance.md).
BATCHES_IN_FLIGHT = 2
# The most items of one of those batches: half of SQLite's, so that the writes of a busy
# moment fill both batches in flight (one batch of 256 left the other idle, 0.81-0.83 of
# the rate).
THREADED_BATCH_MAX = GROUP_COMMIT_MAX // BATCHES_IN_FLIGHT
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


class GroupCommit:
    """SQLite's group commit (see the module's first lines), run on the event loop that
    awaits the operations. The operations submitted while the loop handled its other
    callbacks (the requests of the moment) are flushed together by one callback.

    On the loop, not on a thread of its own: the server's Python runs on one core either
    way, and a writer thread spent more time waiting to take the interpreter lock back
    from the loop after each SQLite call than running its statements (docs/performance.md).
    A full batch of GROUP_COMMIT_MAX operations keeps the loop for 8-16 ms."""

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
        first: bool = False,
    ) -> asyncio.Future[T]:
        """``first``: ahead of the operations waiting, in the next batch (the sweep: a
        departure it has not recorded yet is already late)."""
        loop = asyncio.get_running_loop()
        key = batched.key(item) if batched is not None else None
        job = _Job(operation, loop.create_future(), batched=batched, item=item, key=key)
        self._enqueue(loop, job, first=first)
        return job.future

    def _enqueue(self, loop: asyncio.AbstractEventLoop, job: _Job, *, first: bool = False) -> None:
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            loop.call_soon(self._flush, loop)
        if first:
            pending.insert(0, job)
        else:
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
            connection = database.engine.execution_options(**{WRITE: True}).connect()
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
        if not turn.try_take():
            # A thread of this process writes or waits to (the engine, the sweep): its
            # turn first; try again in a moment rather than hold the loop until it is done.
            self._pending[loop] = jobs
            loop.call_later(RETRY_TURN_AFTER, self._flush, loop)
            return
        batch, rest = jobs[:GROUP_COMMIT_MAX], jobs[GROUP_COMMIT_MAX:]
        try:
            self._commit(batch)
        finally:
            turn.give_back()
        # Answered before the next batch is flushed: the tasks that awaited these resume
        # first, and what they submit next (the sweep's next round, behind its backlog)
        # joins that batch instead of the one after it.
        _answer(batch)
        if rest:
            self._pending[loop] = rest
            loop.call_soon(self._flush, loop)

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
            session.info.pop(AFTER_COMMIT, None)
            job.error = error
            transaction = session.get_transaction()
            if savepoint_of is None or transaction is None or not transaction.is_active:
                # Not isolated, or the session broke (a failed ORM flush): the
                # transaction is rolled back, and the others run again.
                raise _RunAgain from error
            savepoint_of.execute("ROLLBACK TO SAVEPOINT frontdesk_operation")
        else:
            job.callbacks = session.info.pop(AFTER_COMMIT, [])
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
            session.info.pop(AFTER_COMMIT, None)
            raise _RunAgain from error
        finally:
            session.expunge_all()
        assert len(results) == len(jobs)
        for job, result in zip(jobs, results, strict=True):
            job.result = result
        # They commit together or not at all: the first one carries the callbacks.
        jobs[0].callbacks = session.info.pop(AFTER_COMMIT, [])


class ThreadedGroupCommit(GroupCommit):
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

    def _enqueue(self, loop: asyncio.AbstractEventLoop, job: _Job, *, first: bool = False) -> None:
        # ``first`` is SQLite's: here only batched items come, each in order of its key.
        self._pending.setdefault(loop, []).append(job)
        draining = self._draining.setdefault(loop, set())
        if len(draining) < BATCHES_IN_FLIGHT:
            task = loop.create_task(self._drain(loop))
            draining.add(task)
            task.add_done_callback(draining.discard)

    def _take(self, loop: asyncio.AbstractEventLoop) -> tuple[list[_Job], set[Hashable]]:
        """The next batch: the oldest items waiting, up to THREADED_BATCH_MAX, but none of a
        key in flight (nor any after it of that key), and the keys it holds."""
        busy = self._busy.setdefault(loop, set())
        batch: list[_Job] = []
        held: list[_Job] = []
        keys: set[Hashable] = set()
        for job in self._pending.pop(loop, []):
            if len(batch) >= THREADED_BATCH_MAX or (job.key is not None and job.key in busy):
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
