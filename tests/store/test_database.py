"""The store on both backends: the migrations build exactly the models, and SQLite's writers
queue instead of failing."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text

from frontdesk.core.model import Plan
from frontdesk.store.database import Database
from frontdesk.store.migrate import (
    SCHEMA_HEAD,
    current_revision,
    head_revision,
    schema_revision,
    upgrade,
)
from frontdesk.store.models import Account, Base


def test_the_migrations_build_exactly_the_models(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_upgrading_again_changes_nothing(database: Database) -> None:
    assert current_revision(database) == head_revision()
    upgrade(database)
    assert current_revision(database) == head_revision()


def test_the_schema_head_is_alembic_s_and_is_read_without_it(
    database: Database, tmp_path: Path
) -> None:
    """A start at ``SCHEMA_HEAD`` skips Alembic, so the constant must be the newest
    migration; a database without the version table is at no revision."""
    assert head_revision() == SCHEMA_HEAD
    assert schema_revision(database) == current_revision(database) == SCHEMA_HEAD
    empty = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        assert schema_revision(empty) is None
        upgrade(empty)
        assert schema_revision(empty) == SCHEMA_HEAD
    finally:
        empty.dispose()


def test_datetimes_come_back_aware_and_naive_ones_are_refused(database: Database) -> None:
    written = datetime(2026, 5, 1, 8, 30, 15, 123456, tzinfo=UTC)
    with database.write() as session:
        account = Account(
            name="T", plan=Plan.FREE, widget_key=f"k{id(written)}", created_at=written
        )
        session.add(account)
    with database.read() as session:
        assert session.get_one(Account, account.id).created_at == written
    with pytest.raises(Exception, match="naive datetime"), database.write() as session:
        session.add(
            Account(name="T", plan=Plan.FREE, widget_key="naive", created_at=datetime(2026, 1, 1))
        )


def test_a_failed_write_leaves_nothing_behind(database: Database) -> None:
    key = f"rollback-{uuid.uuid4().hex}"

    def crash_half_way() -> None:
        with database.write() as session:
            session.add(
                Account(name="T", plan=Plan.FREE, widget_key=key, created_at=datetime.now(UTC))
            )
            session.flush()
            raise RuntimeError("crash half-way")

    with pytest.raises(RuntimeError):
        crash_half_way()
    with database.read() as session:
        assert session.scalar(select(Account).where(Account.widget_key == key)) is None


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'pragmas.sqlite3'}")
    with database.read() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert session.execute(text("PRAGMA busy_timeout")).scalar() == 10_000
    database.dispose()


def test_a_thread_checkpoints_the_sqlite_log_and_writers_leave_it(tmp_path: Path) -> None:
    """With a checkpointer, the log's frames are copied into the database file by its
    thread (writers would only at 16,000 pages); without one, by SQLite's default."""
    path = tmp_path / "checkpointed.sqlite3"
    database = Database(f"sqlite:///{path}", checkpoint_every=0.01)
    upgrade(database)
    with database.write() as session:
        assert session.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 16_000
        for n in range(200):
            session.add(
                Account(
                    name="C",
                    plan=Plan.FREE,
                    widget_key=f"checkpointed-{n}",
                    created_at=datetime.now(UTC),
                )
            )
    checkpointer = database.checkpointer
    assert checkpointer is not None
    deadline = time.monotonic() + 10
    # The last account's frames in the log, and all of them copied by the thread.
    while time.monotonic() < deadline and not (
        checkpointer.last is not None and 0 < checkpointer.last[1] == checkpointer.last[2]
    ):
        time.sleep(0.01)
    assert checkpointer.last is not None
    busy, frames, copied = checkpointer.last
    assert busy == 0
    assert frames > 0
    assert copied == frames
    database.dispose()
    assert not checkpointer._thread.is_alive()  # stopped with the database
    plain = Database(f"sqlite:///{tmp_path / 'plain.sqlite3'}")
    assert plain.checkpointer is None
    with plain.read() as session:
        assert session.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 1_000
    plain.dispose()


def test_concurrent_read_then_write_transactions_all_succeed(database: Database) -> None:
    """Each writer reads, then writes. With SQLite's default deferred BEGIN two such
    transactions deadlock on the lock upgrade and one fails at once with 'database is
    locked'; BEGIN IMMEDIATE makes them queue. On PostgreSQL they simply interleave."""
    prefix = f"race-{uuid.uuid4().hex}-"
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(10):
                with database.write() as session:
                    session.scalar(select(func.count()).select_from(Account))
                    session.add(
                        Account(
                            name="R",
                            plan=Plan.FREE,
                            widget_key=f"{prefix}{n}-{i}",
                            created_at=datetime.now(UTC),
                        )
                    )
        except BaseException as exc:  # reported below, with the thread's error
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with database.read() as session:
        count = session.scalar(
            select(func.count()).select_from(Account).where(Account.widget_key.startswith(prefix))
        )
    assert count == 80
