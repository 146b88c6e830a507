"""SQLite as Frontdesk runs it: WAL mode with foreign keys enforced, ``BEGIN IMMEDIATE``
for a write transaction (marked with the ``WRITE`` execution option) so the write lock is
taken up front, and a thread that checkpoints the write-ahead log (``Checkpointer``)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection

log = logging.getLogger("frontdesk.store")
# The execution option of a write transaction's connections: BEGIN IMMEDIATE on SQLite.
WRITE = "frontdesk_write"
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Connections to SQLite kept open: the threads of anyio's pool (40) and the event loop.
SQLITE_POOL_SIZE = 48
SQLITE_POOL_OVERFLOW = 16
# With a checkpointer thread (``Checkpointer``), writers leave the write-ahead log to it
# until it holds this many pages (64 MB at SQLite's 4 kB), where SQLite's default is 1,000.
SQLITE_WAL_PAGES_BEFORE_WRITERS_CHECKPOINT = 16_000


class Checkpointer:
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
        # Here, not at the top: a process on PostgreSQL never maps SQLite's library.
        import sqlite3

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


def _write_ahead(cursor: Any) -> None:
    """``PRAGMA journal_mode=WAL``. On a new file that another process is opening at the same
    moment (two ``frontdesk db upgrade`` or two servers started at once), SQLite answers
    "database is locked" at once, without waiting for the busy timeout: tried again every
    10 ms until the busy timeout has passed."""
    import sqlite3

    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def configure_sqlite(engine: Engine, *, wal_autocheckpoint: int | None) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's "begin" event below instead of letting
        # the sqlite3 module start deferred transactions on its own.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            _write_ahead(cursor)
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            if wal_autocheckpoint is not None:
                cursor.execute(f"PRAGMA wal_autocheckpoint={wal_autocheckpoint}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE, False)
        # On the driver's connection: through SQLAlchemy, the statement took more time
        # than SQLite's BEGIN and COMMIT together.
        driver = connection.connection.driver_connection
        assert driver is not None
        driver.execute("BEGIN IMMEDIATE" if write else "BEGIN")
