"""The suite's guard against synchronous PostgreSQL calls on an event loop
(``tests/support/loop_guard.py``, applied to every test by ``tests/conftest.py``): it sees
a checkout of the synchronous driver on a loop's thread, and passes those on a pool thread
and the asynchronous driver's on the loop."""

from __future__ import annotations

import asyncio

import anyio.to_thread
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from frontdesk.store.database import Database
from tests.support import loop_guard

pytestmark = pytest.mark.postgres


def _one(session: Session) -> int:
    return int(session.execute(text("SELECT 1")).scalar_one())


def _read_one(database: Database) -> int:
    with database.read() as session:
        return _one(session)


def test_a_synchronous_read_on_the_loop_is_seen(postgres_database: Database) -> None:
    async def on_the_loop() -> int:
        return _read_one(postgres_database)

    assert asyncio.run(on_the_loop()) == 1
    taken = loop_guard.taken_on_loop()
    assert len(taken) == 1
    assert taken[0].startswith("store/test_loop_guard.py:"), taken[0]
    assert " _one < " in taken[0]
    assert " _read_one < " in taken[0]


def test_a_pool_thread_and_the_asynchronous_driver_pass(postgres_database: Database) -> None:
    async def as_the_product_does() -> list[int]:
        on_a_thread = await anyio.to_thread.run_sync(_read_one, postgres_database)
        on_the_loop = await postgres_database.run_write_first(_one)
        await postgres_database.close_loop_writes()
        return [on_a_thread, on_the_loop]

    assert asyncio.run(as_the_product_does()) == [1, 1]
    assert loop_guard.taken_on_loop() == []
    # Outside any loop (a test's own setup, a command) nothing is counted either.
    assert _read_one(postgres_database) == 1
    assert loop_guard.taken_on_loop() == []
