"""``Database.run_write`` on both backends: operations awaited together (on SQLite, one
group-committed transaction) each get their own outcome. A failing one raises to its caller
alone and leaves nothing behind; the others are stored, their after-commit callbacks run
once, and nobody is answered before the commit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from frontdesk.core.model import Plan
from frontdesk.store.database import Database
from frontdesk.store.models import Account, table_of

_accounts = table_of(Account)


def add_account(
    database: Database, key: str, *, then: Callable[[], None] | None = None
) -> Callable[[Session], int]:
    """An operation inserting an account with a plain statement; ``then`` runs after it,
    in the transaction (to fail on purpose)."""

    def operation(session: Session) -> int:
        account_id: int = (
            session.connection()
            .execute(
                insert(_accounts)
                .values(
                    name="G",
                    plan=Plan.FREE,
                    widget_key=key,
                    offline_message_email=True,
                    missed_conversation_email=False,
                    created_at=datetime.now(UTC),
                )
                .returning(_accounts.c.id)
            )
            .scalar_one()
        )
        database.after_commit(session, lambda: committed.append(key))
        if then is not None:
            then()
        return account_id

    return operation


committed: list[str] = []


def stored_keys(database: Database, prefix: str) -> set[str]:
    with database.read() as session:
        return set(
            session.scalars(select(Account.widget_key).where(Account.widget_key.startswith(prefix)))
        )


async def gather(database: Database, operations: list[Callable[[Session], Any]]) -> list[Any]:
    return await asyncio.gather(
        *(database.run_write(op) for op in operations), return_exceptions=True
    )


def fail() -> None:
    raise LookupError("refused on purpose")


def test_operations_awaited_together_are_each_stored_and_answered(database: Database) -> None:
    prefix = f"gc-{id(object())}-"
    keys = [f"{prefix}{n}" for n in range(40)]
    results = asyncio.run(gather(database, [add_account(database, k) for k in keys]))
    assert all(isinstance(r, int) for r in results)
    assert len(set(results)) == len(keys)
    assert stored_keys(database, prefix) == set(keys)
    assert sorted(k for k in committed if k.startswith(prefix)) == sorted(keys)


def test_a_failing_operation_fails_alone_and_leaves_nothing(database: Database) -> None:
    prefix = f"gc-fail-{id(object())}-"
    operations = [
        add_account(database, f"{prefix}{n}", then=fail if n in (3, 7) else None) for n in range(12)
    ]
    results = asyncio.run(gather(database, operations))
    failed = [n for n, r in enumerate(results) if isinstance(r, BaseException)]
    assert failed == [3, 7]
    assert all(isinstance(results[n], LookupError) for n in failed)
    expected = {f"{prefix}{n}" for n in range(12) if n not in (3, 7)}
    assert stored_keys(database, prefix) == expected
    # The failed operations' after-commit callbacks never ran; the others' ran once.
    assert sorted(k for k in committed if k.startswith(prefix)) == sorted(expected)


def test_an_operation_breaking_the_session_fails_alone(database: Database) -> None:
    """A failed ORM flush (a duplicate widget key) breaks SQLAlchemy's session; the batch is
    rolled back and the other operations run again and are stored once."""
    prefix = f"gc-broken-{id(object())}-"
    taken = f"{prefix}taken"
    asyncio.run(gather(database, [add_account(database, taken)]))

    def duplicate(session: Session) -> None:
        session.add(
            Account(name="D", plan=Plan.FREE, widget_key=taken, created_at=datetime.now(UTC))
        )
        session.flush()

    operations: list[Callable[[Session], Any]] = [
        add_account(database, f"{prefix}{n}") for n in range(5)
    ]
    operations.insert(2, duplicate)
    results = asyncio.run(gather(database, operations))
    assert isinstance(results[2], IntegrityError)
    assert all(isinstance(r, int) for n, r in enumerate(results) if n != 2)
    assert stored_keys(database, prefix) == {taken} | {f"{prefix}{n}" for n in range(5)}
    assert sum(1 for k in committed if k.startswith(prefix)) == 6


@pytest.mark.parametrize("count", [1, 300])
def test_more_operations_than_one_batch_takes(database: Database, count: int) -> None:
    prefix = f"gc-many-{count}-{id(object())}-"
    keys = [f"{prefix}{n}" for n in range(count)]
    results = asyncio.run(gather(database, [add_account(database, k) for k in keys]))
    assert all(isinstance(r, int) for r in results)
    assert stored_keys(database, prefix) == set(keys)


def test_a_thread_writes_while_the_loop_keeps_group_committing(database: Database) -> None:
    """The engine and the sweep write on threads of the same process: a stream of
    requests' operations on the event loop must not keep them out until it ends."""
    prefix = f"fair-{id(object())}-"
    stream = 3000
    stored_before_thread: list[int] = []

    def thread_write() -> None:
        with database.write() as session:
            stored_before_thread.append(
                session.scalar(select(func.count()).where(Account.widget_key.startswith(prefix)))
                or 0
            )
            session.connection().execute(
                insert(_accounts).values(
                    name="T",
                    plan=Plan.FREE,
                    widget_key=f"{prefix}thread",
                    offline_message_email=True,
                    missed_conversation_email=False,
                    created_at=datetime.now(UTC),
                )
            )

    async def scenario() -> None:
        async def connection(first: int) -> None:
            for n in range(first, stream, 512):  # 512 clients, each writing again at once
                await database.run_write(add_account(database, f"{prefix}{n}"))

        loop_writes = asyncio.gather(*(connection(first) for first in range(512)))
        await asyncio.sleep(0.05)  # the stream is under way
        await asyncio.to_thread(thread_write)
        await loop_writes

    asyncio.run(scenario())
    assert len(stored_before_thread) == 1
    assert 0 < stored_before_thread[0] < stream  # it got in while the stream ran
    assert len(stored_keys(database, prefix)) == stream + 1
