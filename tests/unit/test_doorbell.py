"""The doorbell: a ring wakes the waiting task, is remembered while nobody waits, and is let
pass when the work it announces falls due no sooner than the task wakes anyway, whether it
rang during the wait or before it."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

from frontdesk.doorbell import Doorbell

WAKES_AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


async def settle() -> None:
    """Let the loop run what a ring scheduled (no time passes)."""
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_ring_for_work_due_before_the_wake_up_wakes_the_task() -> None:
    async def scenario() -> None:
        bell = Doorbell()
        bell.attach()
        waiting = asyncio.create_task(bell.wait(30, wakes_at=WAKES_AT))
        await settle()
        bell.ring(WAKES_AT - timedelta(seconds=1))
        assert await asyncio.wait_for(waiting, 5) is True

    asyncio.run(scenario())


def test_a_ring_for_work_due_at_or_after_the_wake_up_is_let_pass() -> None:
    async def scenario() -> None:
        bell = Doorbell()
        bell.attach()
        waiting = asyncio.create_task(bell.wait(30, wakes_at=WAKES_AT))
        await settle()
        bell.ring(WAKES_AT)
        bell.ring(WAKES_AT + timedelta(minutes=10))
        await settle()
        assert not waiting.done()
        bell.ring()  # due now
        assert await asyncio.wait_for(waiting, 5) is True

    asyncio.run(scenario())


def test_a_ring_while_nobody_waits_is_remembered() -> None:
    async def scenario() -> None:
        bell = Doorbell()
        bell.attach()
        ringer = threading.Thread(target=bell.ring, args=(WAKES_AT - timedelta(seconds=1),))
        ringer.start()
        ringer.join()
        await settle()
        assert await asyncio.wait_for(bell.wait(30, wakes_at=WAKES_AT), 5) is True
        # … once: the next wait sleeps until its time.
        assert await bell.wait(0.01, wakes_at=WAKES_AT) is False

    asyncio.run(scenario())


def test_a_ring_while_nobody_waits_counts_its_earliest_due_time() -> None:
    """Rings for work due after the wake-up, rung while the task worked, let the next wait
    sleep; one among them for work due sooner (or now) ends it at once."""

    async def scenario() -> None:
        bell = Doorbell()
        bell.attach()
        bell.ring(WAKES_AT + timedelta(hours=1))
        bell.ring(WAKES_AT)
        await settle()
        assert await bell.wait(0.05, wakes_at=WAKES_AT) is False
        bell.ring(WAKES_AT + timedelta(hours=1))
        bell.ring(WAKES_AT - timedelta(milliseconds=1))
        await settle()
        assert await asyncio.wait_for(bell.wait(30, wakes_at=WAKES_AT), 5) is True
        bell.ring(WAKES_AT + timedelta(hours=1))
        bell.ring()  # due now
        await settle()
        assert await asyncio.wait_for(bell.wait(30, wakes_at=WAKES_AT), 5) is True
        # Without a wake-up time, any ring remembered ends the wait.
        bell.ring(WAKES_AT + timedelta(hours=1))
        await settle()
        assert await asyncio.wait_for(bell.wait(30), 5) is True

    asyncio.run(scenario())
