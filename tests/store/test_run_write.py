"""``Database.run_write`` on both backends: operations awaited together (on SQLite, one
group-committed transaction) each get their own outcome. A failing one raises to its caller
alone and leaves nothing behind; the others are stored, their after-commit callbacks run
once, and nobody is answered before the commit."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest
from sqlalchemy import bindparam, event, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from frontdesk.core.model import Plan
from frontdesk.store.database import Database
from frontdesk.store.group_commit import GROUP_COMMIT_MAX, Batched
from frontdesk.store.models import Account, table_of
from frontdesk.store.plain import PlainStatement

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
                    webhook_events=0,
                    push_subscribed=False,
                    visitor_transcript=False,
                    expected_reply_time=False,
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
    prefix = f"gc-{uuid.uuid4().hex}-"
    keys = [f"{prefix}{n}" for n in range(40)]
    results = asyncio.run(gather(database, [add_account(database, k) for k in keys]))
    assert all(isinstance(r, int) for r in results)
    assert len(set(results)) == len(keys)
    assert stored_keys(database, prefix) == set(keys)
    assert sorted(k for k in committed if k.startswith(prefix)) == sorted(keys)


def test_a_failing_operation_fails_alone_and_leaves_nothing(database: Database) -> None:
    prefix = f"gc-fail-{uuid.uuid4().hex}-"
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
    prefix = f"gc-broken-{uuid.uuid4().hex}-"
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
    prefix = f"gc-many-{count}-{uuid.uuid4().hex}-"
    keys = [f"{prefix}{n}" for n in range(count)]
    results = asyncio.run(gather(database, [add_account(database, k) for k in keys]))
    assert all(isinstance(r, int) for r in results)
    assert stored_keys(database, prefix) == set(keys)


def test_a_thread_writes_while_the_loop_keeps_group_committing(database: Database) -> None:
    """The engine and the sweep write on threads of the same process: a stream of
    requests' operations on the event loop must not keep them out until it ends."""
    prefix = f"fair-{uuid.uuid4().hex}-"
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
                    webhook_events=0,
                    push_subscribed=False,
                    visitor_transcript=False,
                    expected_reply_time=False,
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


class Accounts(Batched[tuple[str, bool], int]):
    """Accounts added by key, many at once with one multi-row plain INSERT; an item with
    True fails (after the insert, in ``many`` as in ``one``)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.together: list[int] = []  # the size of each ``many`` call
        self.alone: list[str] = []

    def one(self, session: Session, item: tuple[str, bool]) -> int:
        self.alone.append(item[0])
        account_id: int = add_account(self.database, item[0], then=fail if item[1] else None)(
            session
        )
        return account_id

    def many(self, session: Session, items: list[tuple[str, bool]]) -> list[int]:
        self.together.append(len(items))
        rows = _NEW_ACCOUNT.inserted(
            session.connection(),
            [{"key": key, "at": datetime.now(UTC)} for key, _ in items],
        )
        ids = {key: account_id for account_id, key in rows}
        for key, _ in items:
            self.database.after_commit(session, partial(committed.append, key))
        if any(failing for _, failing in items):
            fail()
        return [ids[key] for key, _ in items]


_NEW_ACCOUNT = PlainStatement(
    insert(_accounts)
    .values(
        name="B",
        plan=Plan.FREE,
        widget_key=bindparam("key"),
        offline_message_email=True,
        missed_conversation_email=False,
        webhook_events=0,
        push_subscribed=False,
        visitor_transcript=False,
        expected_reply_time=False,
        created_at=bindparam("at"),
    )
    .returning(_accounts.c.id, _accounts.c.widget_key)
)


@pytest.mark.parametrize("failing", [(), (4,)])
def test_batched_operations_run_together_and_fail_alone(
    database: Database, failing: tuple[int, ...]
) -> None:
    """The items of one group commit go to ``many`` in one call (on PostgreSQL too, in a
    group commit of batched operations); when it fails, each runs again alone and only
    the failing one fails."""
    prefix = f"batched-{len(failing)}-{uuid.uuid4().hex}-"
    batched = Accounts(database)
    keys = [f"{prefix}{n}" for n in range(10)]

    async def scenario() -> list[Any]:
        return await asyncio.gather(
            *(
                database.run_write_batched(batched, (key, n in failing))
                for n, key in enumerate(keys)
            ),
            return_exceptions=True,
        )

    results = asyncio.run(scenario())
    stored = {keys[n] for n in range(10) if n not in failing}
    assert stored_keys(database, prefix) == stored
    assert [n for n, r in enumerate(results) if isinstance(r, LookupError)] == list(failing)
    assert all(isinstance(r, int) for n, r in enumerate(results) if n not in failing)
    with database.read() as session:
        by_key = dict(
            session.execute(
                select(Account.widget_key, Account.id).where(Account.widget_key.startswith(prefix))
            ).all()
        )
    assert [by_key[keys[n]] for n in range(10) if n not in failing] == [
        r for n, r in enumerate(results) if n not in failing
    ]
    # Every stored item's callback ran once; the failed one's never.
    assert sorted(k for k in committed if k.startswith(prefix)) == sorted(stored)
    assert batched.together == [10]
    assert sorted(batched.alone) == (sorted(keys) if failing else [])


class Gated(Batched[tuple[str, str], int]):
    """Accounts added by (key, name), keyed by the first: the first batch holds its
    transaction open until a second batch has started (or 10 s have passed)."""

    def __init__(self, database: Database, prefix: str) -> None:
        self.database = database
        self.prefix = prefix
        self.batches: list[list[str]] = []
        self.first_started = threading.Event()
        self.second_started = threading.Event()
        self.overlapped = False

    def key(self, item: tuple[str, str]) -> str:
        return item[0]

    def one(self, session: Session, item: tuple[str, str]) -> int:
        return self.many(session, [item])[0]

    def many(self, session: Session, items: list[tuple[str, str]]) -> list[int]:
        self.batches.append([name for _, name in items])
        rows = _NEW_ACCOUNT.inserted(
            session.connection(),
            [{"key": f"{self.prefix}{name}", "at": datetime.now(UTC)} for _, name in items],
        )
        if len(self.batches) == 1:
            self.first_started.set()
            self.overlapped = self.second_started.wait(timeout=10)
        else:
            self.second_started.set()
        ids = {key: account_id for account_id, key in rows}
        return [ids[f"{self.prefix}{name}"] for _, name in items]


@pytest.mark.postgres
def test_postgresql_runs_batches_side_by_side_but_a_key_in_one_at_a_time(
    postgres_database: Database,
) -> None:
    """On PostgreSQL (SQLite group-commits on the event loop, one batch at a time) a second
    batch starts while the first is in its transaction; an item whose key the first holds
    waits for the batch after it, and is written after it."""
    database = postgres_database
    prefix = f"in-flight-{uuid.uuid4().hex}-"
    gated = Gated(database, prefix)

    async def scenario() -> list[int]:
        first = asyncio.ensure_future(database.run_write_batched(gated, ("a", "a1")))
        assert await asyncio.to_thread(gated.first_started.wait, 10)
        rest = [database.run_write_batched(gated, item) for item in (("a", "a2"), ("b", "b1"))]
        return list(await asyncio.gather(first, *rest))

    ids = asyncio.run(scenario())
    assert gated.overlapped  # the second batch started while the first was open
    assert gated.batches == [["a1"], ["b1"], ["a2"]]
    assert stored_keys(database, prefix) == {f"{prefix}a1", f"{prefix}a2", f"{prefix}b1"}
    assert ids[0] < ids[1]  # a's items in the order they came


class Echo(Batched[tuple[str, str], str]):
    """Writes nothing: each item's answer is its name; items of a key go one at a time."""

    def one(self, session: Session, item: tuple[str, str]) -> str:
        return item[1]

    def key(self, item: tuple[str, str]) -> str:
        return item[0]


@pytest.mark.postgres
@pytest.mark.loop_may_block  # the batches commit on the loop, to end in one turn of it
def test_an_item_submitted_as_both_batches_end_is_still_committed(
    postgres_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both batches in flight end in one turn of the event loop; the first one's caller
    submits its next item at once, before the ends of the two drains are counted, and
    nobody submits anything after it. That item must start a drain of its own: it once
    found both drains still counted, started none, and waited until some other item came
    (for ever, at the end of a benchmark in CI)."""
    database = postgres_database
    echo = Echo()
    gate = asyncio.Event()

    async def both_at_once(function: Callable[..., Any], *args: Any) -> Any:
        # Both batches wait for one event and commit on the loop, so they end in the same
        # turn of it.
        await gate.wait()
        return function(*args)

    async def caller(first: tuple[str, str], then: tuple[str, str] | None) -> list[str]:
        answers = [await database.run_write_batched(echo, first)]
        if then is not None:
            # In this task, as a request does: submitted the moment the answer arrives.
            async with asyncio.timeout(5):
                answers.append(await database.run_write_batched(echo, then))
        return answers

    async def scenario() -> list[list[str]]:
        one = asyncio.ensure_future(caller(("a", "a1"), ("c", "c1")))
        for _ in range(3):  # the first drain takes a1
            await asyncio.sleep(0)
        two = asyncio.ensure_future(caller(("b", "b1"), None))
        for _ in range(3):  # the second drain takes b1
            await asyncio.sleep(0)
        gate.set()
        return list(await asyncio.gather(one, two))

    monkeypatch.setattr(anyio.to_thread, "run_sync", both_at_once)
    assert asyncio.run(scenario()) == [["a1", "c1"], ["b1"]]


def test_an_operation_asked_first_runs_ahead_of_those_waiting(database: Database) -> None:
    """The sweep's way in on SQLite: in the next group commit, before the writes that were
    waiting when it asked. On PostgreSQL each operation is a transaction of its own."""
    ran: list[str] = []

    def noting(name: str) -> Callable[[Session], str]:
        def operation(session: Session) -> str:
            ran.append(name)
            return name

        return operation

    async def scenario() -> list[str]:
        # Started in this order in one turn of the loop: the three messages ask first, and
        # the sweep asks before the group commit they wait for runs.
        tasks = [
            asyncio.ensure_future(database.run_write(noting(f"message {n}"))) for n in range(3)
        ]
        sweep = asyncio.ensure_future(database.run_write(noting("sweep"), first=True))
        return list(await asyncio.gather(*tasks, sweep))

    assert asyncio.run(scenario()) == ["message 0", "message 1", "message 2", "sweep"]
    if database.is_sqlite:
        assert ran == ["sweep", "message 0", "message 1", "message 2"]
    else:
        assert sorted(ran) == ["message 0", "message 1", "message 2", "sweep"]


def test_an_operation_asked_again_once_answered_joins_the_very_next_group_commit(
    tmp_path: Path,
) -> None:
    """The sweep behind its backlog asks for its next round as soon as one is answered. With
    more writes waiting than one group commit takes, the next group commit holds that round:
    those waiting are answered before the rest are flushed, so it is not left a group commit
    behind each time, settling half as many departures as it could."""
    # SQLite's group commit (on PostgreSQL each operation is a transaction of its own).
    database = Database(f"sqlite:///{tmp_path / 'group.sqlite3'}")
    transactions: list[tuple[str, int]] = []  # (operation, the transaction it ran in)
    begun: list[object] = []

    def count_begin(_connection: object) -> None:
        begun.append(_connection)

    def noting(name: str) -> Callable[[Session], str]:
        def operation(session: Session) -> str:
            transactions.append((name, len(begun)))
            return name

        return operation

    async def sweep_twice() -> None:
        await database.run_write(noting("sweep 1"), first=True)
        await database.run_write(noting("sweep 2"), first=True)

    async def scenario() -> None:
        # More messages waiting than one group commit takes, and the sweep ahead of them.
        waiting = [
            asyncio.ensure_future(database.run_write(noting(f"message {n}")))
            for n in range(GROUP_COMMIT_MAX + 10)
        ]
        sweeping = asyncio.ensure_future(sweep_twice())
        await asyncio.gather(*waiting, sweeping)

    event.listen(database.engine, "begin", count_begin)
    try:
        asyncio.run(scenario())
    finally:
        database.dispose()

    commit_of = dict(transactions)
    assert commit_of["sweep 1"] == commit_of["message 0"]
    assert commit_of["sweep 2"] == commit_of[f"message {GROUP_COMMIT_MAX + 9}"], (
        "the sweep's second round waited for a third group commit"
    )
    assert [name for name, _ in transactions].index("sweep 2") == GROUP_COMMIT_MAX
    assert commit_of["sweep 2"] == commit_of["sweep 1"] + 1
