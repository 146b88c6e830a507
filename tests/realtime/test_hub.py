"""The in-process hub: topics, bounded queues, publishing from other threads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from frontdesk.realtime.hub import LocalHub


def run(coroutine_function: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(coroutine_function())


def ignore() -> None:
    pass


def test_a_frame_reaches_the_subscribers_of_its_topic_only() -> None:
    async def scenario() -> None:
        hub = LocalHub()
        await hub.start()
        shop_a = hub.subscribe(["agents:1"], on_ready=ignore)
        shop_b = hub.subscribe(["agents:2"], on_ready=ignore)
        hub.publish("agents:1", {"type": "message.created", "n": 1})
        envelope = shop_a.take()
        assert envelope is not None
        assert envelope.frame == {"type": "message.created", "n": 1}
        assert envelope.text == '{"type":"message.created","n":1}'
        assert shop_a.take() is None
        assert shop_b.take() is None

    run(scenario)


def test_a_subscriber_is_told_of_each_frame_waiting_for_it() -> None:
    async def scenario() -> None:
        hub = LocalHub()
        await hub.start()
        told: list[str] = []
        hub.subscribe(["agents:1"], on_ready=lambda: told.append("ready"))
        hub.publish("agents:1", {"type": "a"})
        hub.publish("agents:2", {"type": "b"})
        hub.publish("agents:1", {"type": "c"})
        assert told == ["ready", "ready"]

    run(scenario)


def test_a_subscriber_that_does_not_read_overflows_without_blocking_others() -> None:
    async def scenario() -> None:
        hub = LocalHub()
        await hub.start()
        slow = hub.subscribe(["agents:1"], on_ready=ignore, max_frames=4)
        slow.blocked = True  # its session waits for a client that takes nothing
        other = hub.subscribe(["agents:1"], on_ready=ignore, max_frames=4)
        for n in range(10):
            hub.publish("agents:1", {"type": "tick", "n": n})
        assert slow.overflowed
        assert slow.take() is None  # an overflowed client gets nothing but the close
        assert not other.overflowed
        received = []
        while (envelope := other.take()) is not None:
            received.append(envelope.frame["n"])
        assert received == list(range(10))

    run(scenario)


def test_a_burst_is_no_sign_of_a_slow_client_until_its_session_is_blocked() -> None:
    async def scenario() -> None:
        hub = LocalHub()
        await hub.start()
        subscription = hub.subscribe(["agents:1"], on_ready=ignore, max_frames=4)
        for n in range(10):  # published in one go: the session has not had its turn yet
            hub.publish("agents:1", {"type": "tick", "n": n})
        assert not subscription.overflowed
        assert subscription.take() is not None
        subscription.blocked = True  # now it waits for its client with 9 frames queued
        hub.publish("agents:1", {"type": "tick", "n": 10})
        assert subscription.overflowed

    run(scenario)


def test_publishing_from_another_thread_is_delivered_on_the_loop() -> None:
    async def scenario() -> None:
        hub = LocalHub()
        await hub.start()
        loop_thread = threading.get_ident()
        delivered = asyncio.Event()

        def ready() -> None:
            assert threading.get_ident() == loop_thread
            delivered.set()

        subscription = hub.subscribe(["visitor:7"], on_ready=ready)
        thread = threading.Thread(target=hub.publish, args=("visitor:7", {"type": "x"}))
        thread.start()
        thread.join()
        await asyncio.wait_for(delivered.wait(), 1)
        envelope = subscription.take()
        assert envelope is not None
        assert envelope.frame == {"type": "x"}

    run(scenario)


def test_unsubscribing_stops_delivery_and_forgets_the_topic() -> None:
    async def scenario() -> None:
        hub = LocalHub()
        await hub.start()
        subscription = hub.subscribe(["agents:1", "agent:5"], on_ready=ignore)
        assert hub.subscription_count == 1
        hub.unsubscribe(subscription)
        hub.publish("agents:1", {"type": "x"})
        assert subscription.take() is None
        assert hub.subscription_count == 0

    run(scenario)
