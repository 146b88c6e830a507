"""The engine's notices between processes on PostgreSQL (``ENGINE_CHANNEL``): a runtime
hears the other runtimes' notices, not its own (its own events told it already), and a
notice rings only the bell it names, with its due time, so that a visitor message opening a
notification due in an hour wakes no engine anywhere."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from frontdesk.clock import SystemClock
from frontdesk.doorbell import Doorbell
from frontdesk.security import PasswordHasher
from frontdesk.service.runtime import ENGINE_CHANNEL, Runtime
from frontdesk.settings import Settings
from frontdesk.store.database import Database

WAKES_AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def runtime(database: Database, passwords: PasswordHasher, tmp_path: Path) -> Runtime:
    settings = Settings(data_dir=tmp_path, database_url=database.url, password_hashing="fast")
    return Runtime(settings=settings, database=database, clock=SystemClock(), passwords=passwords)


# The scenario's own writes run on its loop, standing in for other processes.
@pytest.mark.loop_may_block
def test_a_runtime_hears_the_other_runtimes_notices_and_passes_over_its_own(
    postgres_database: Database, passwords: PasswordHasher, tmp_path: Path
) -> None:
    one = runtime(postgres_database, passwords, tmp_path)
    other = runtime(postgres_database, passwords, tmp_path)
    due = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)

    async def scenario() -> str:
        listening = asyncio.Event()
        heard = one.hear_others(ENGINE_CHANNEL, listening=listening.set)
        first = asyncio.ensure_future(anext(heard))
        await asyncio.wait_for(listening.wait(), 10)
        # Committed in this order, so delivered in this order: had ``one`` heard its own
        # notice, it would be the first.
        with postgres_database.write() as session:
            one.notifications_due(session, due)
        with postgres_database.write() as session:
            other.pushes_due(session, due + timedelta(minutes=1))
        try:
            return await asyncio.wait_for(first, 10)
        finally:
            await heard.aclose()

    assert asyncio.run(scenario()) == f"pushes {(due + timedelta(minutes=1)).isoformat()}"


async def settle() -> None:
    """Let the loop run what a ring scheduled (no time passes)."""
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_notice_rings_the_bell_it_names_with_its_due_time(
    postgres_database: Database, passwords: PasswordHasher, tmp_path: Path
) -> None:
    rt = runtime(postgres_database, passwords, tmp_path)
    bells = {
        "decisions": rt.decisions_bell,
        "pushes": rt.pushes_bell,
        "webhooks": rt.webhooks_bell,
        "deliveries": rt.deliveries_bell,
    }

    async def scenario() -> None:
        for bell in bells.values():
            bell.attach()
        waits = {
            name: asyncio.create_task(bell.wait(30, wakes_at=WAKES_AT))
            for name, bell in bells.items()
        }
        await settle()
        # Due after the decisions loop wakes anyway: it sleeps on, and nobody else wakes.
        rt.hear_engine_notice(f"decisions {(WAKES_AT + timedelta(hours=1)).isoformat()}")
        await settle()
        assert not any(wait.done() for wait in waits.values())
        # Due before: that loop alone.
        rt.hear_engine_notice(f"decisions {(WAKES_AT - timedelta(seconds=1)).isoformat()}")
        assert await asyncio.wait_for(waits["decisions"], 5) is True
        # Due now (no time given).
        rt.hear_engine_notice("webhooks ")
        assert await asyncio.wait_for(waits["webhooks"], 5) is True
        await settle()
        assert not waits["pushes"].done()
        assert not waits["deliveries"].done()
        # A notice this version cannot read rings every bell, now.
        rt.hear_engine_notice("reminders 2026-01-05T10:00:00+00:00")
        assert await asyncio.wait_for(waits["pushes"], 5) is True
        assert await asyncio.wait_for(waits["deliveries"], 5) is True
        for bell in bells.values():
            bell.detach()

    asyncio.run(scenario())


def test_an_unreadable_due_time_rings_every_bell(
    postgres_database: Database, passwords: PasswordHasher, tmp_path: Path
) -> None:
    rt = runtime(postgres_database, passwords, tmp_path)
    bells: list[Doorbell] = [
        rt.decisions_bell,
        rt.pushes_bell,
        rt.webhooks_bell,
        rt.deliveries_bell,
    ]

    async def scenario() -> None:
        for bell in bells:
            bell.attach()
        waits = [asyncio.create_task(bell.wait(30, wakes_at=WAKES_AT)) for bell in bells]
        await settle()
        rt.hear_engine_notice("decisions yesterday")
        assert await asyncio.wait_for(asyncio.gather(*waits), 5) == [True] * len(bells)
        for bell in bells:
            bell.detach()

    asyncio.run(scenario())
