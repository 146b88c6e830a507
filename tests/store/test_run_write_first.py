"""``Database.run_write_first``, the presence sweep's way to write: on the event loop's own
thread on both backends (on SQLite in the group commit, on PostgreSQL through the asyncio
driver, ``store/on_loop.py``), committed before it returns, with its after-commit callbacks
and notifications; rolled back whole when it fails. On PostgreSQL the loop serves others
while a statement waits on the server."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from frontdesk.settings import Settings
from frontdesk.store.database import Database
from frontdesk.store.migrate import upgrade
from frontdesk.store.models import Account
from tests.store.test_run_write import add_account


def test_it_runs_on_the_loops_thread_and_answers_after_the_commit(database: Database) -> None:
    key = f"first-{uuid.uuid4().hex[:8]}"
    committed: list[str] = []
    seen: dict[str, int] = {}

    def operation(session: Session) -> int:
        seen["thread"] = threading.get_ident()
        account_id = add_account(database, key)(session)
        database.after_commit(session, lambda: committed.append(key))
        return account_id

    async def main() -> tuple[int, int]:
        loop_thread = threading.get_ident()
        account_id = await database.run_write_first(operation)
        assert committed == [key], "answered before its after-commit callbacks ran"
        await database.close_loop_writes()
        return loop_thread, account_id

    loop_thread, account_id = asyncio.run(main())

    assert seen["thread"] == loop_thread
    with database.read() as session:
        assert session.get(Account, account_id) is not None


def test_a_failing_operation_leaves_nothing_and_runs_no_callback(database: Database) -> None:
    key = f"failing-{uuid.uuid4().hex[:8]}"
    called: list[str] = []

    def operation(session: Session) -> None:
        add_account(database, key)(session)
        database.after_commit(session, lambda: called.append(key))
        raise LookupError("on purpose")

    async def main() -> None:
        with pytest.raises(LookupError, match="on purpose"):
            await database.run_write_first(operation)
        await database.close_loop_writes()

    asyncio.run(main())

    assert called == []
    with database.read() as session:
        assert session.scalar(select(func.count()).where(Account.widget_key == key)) == 0


def test_each_event_loop_gets_connections_of_its_own(database: Database) -> None:
    """A server restarted in one process (or a test's next client) runs a new loop; the
    connections the last one opened cannot serve it."""

    def answer(session: Session) -> int:
        return int(session.scalar(text("SELECT 41 + 1")))

    # Not closed on purpose after the first loop: the next one must not reuse its pool.
    first = asyncio.run(database.run_write_first(answer))

    async def second() -> int:
        try:
            return await database.run_write_first(answer)
        finally:
            await database.close_loop_writes()

    assert (first, asyncio.run(second())) == (42, 42)


@pytest.mark.postgres
def test_on_postgresql_the_loop_serves_others_while_a_statement_waits(
    postgres_database_only: Database,
) -> None:
    database = postgres_database_only

    def slow(session: Session) -> None:
        session.execute(text("SELECT pg_sleep(0.5)"))

    async def main() -> int:
        ticks = 0

        async def ticking() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(ticking())
        await asyncio.sleep(0)
        try:
            await database.run_write_first(slow)
        finally:
            ticker.cancel()
            await database.close_loop_writes()
        return ticks

    # A loop held by the statement would tick once, after it; here it ticks throughout.
    assert asyncio.run(main()) >= 10


@pytest.mark.postgres
def test_on_postgresql_its_notifications_reach_a_listener(
    postgres_database_only: Database,
) -> None:
    database = postgres_database_only
    channel = f"first_{uuid.uuid4().hex[:8]}"

    def notifying(session: Session) -> None:
        database.notify(session, channel, "swept")

    async def main() -> str:
        listening = asyncio.Event()
        heard: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def listen() -> None:
            async for payload in database.listen(channel, listening=listening.set):
                heard.set_result(payload)
                return

        listener = asyncio.create_task(listen())
        try:
            await asyncio.wait_for(listening.wait(), timeout=10)
            await database.run_write_first(notifying)
            return await asyncio.wait_for(heard, timeout=10)
        finally:
            listener.cancel()
            await database.close_loop_writes()

    assert asyncio.run(main()) == "swept"


@pytest.fixture
def postgres_database_only(postgres_url: str) -> Iterator[Database]:
    database = Database(Settings(database_url=postgres_url).effective_database_url)
    upgrade(database)
    yield database
    database.dispose()
