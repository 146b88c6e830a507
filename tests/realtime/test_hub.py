"""The in-process hub: topics, bounded queues, publishing from other threads."""

from __future__ import annotations

import asyncio
import threading

from frontdesk.realtime.hub import LocalHub


def run(coroutine_function):  # type: ignore[no-untyped-def]
    return asyncio.run(coroutine_function())


def test_a_frame_reaches_the_subscribers_of_its_topic_only() -> None:
    async def scenario() -> None:
        hub = LocalHub()
        await hub.start()
        shop_a = hub.subscribe(["agents:1"])
        shop_b = hub.subscribe(["agents:2"])
        hub.publish("agents:1", {"type": "message.created", "n": 1})
        envelope = await asyncio.wait_for(shop_a.next(), 1)
        assert envelope.frame == {"type": "message.created", "n": 1}
        assert envelope.text == '{"type":"message.created","n":1}'
        assert shop_b._queue.empty()

    run(scenario)


def test_a_subscriber_that_does_not_read_overflows_without_blocking_others() -> None:
    async def scenario() -> None:
        hub = LocalHub()
        await hub.start()
        slow = hub.subscribe(["agents:1"], max_frames=4)
        fast = hub.subscribe(["agents:1"], max_frames=1000)
        for n in range(10):
            hub.publish("agents:1", {"type": "tick", "n": n})
        assert slow.overflowed.is_set()
        assert not fast.overflowed.is_set()
        received = [(await fast.next()).frame["n"] for _ in range(10)]
        assert received == list(range(10))

    run(scenario)


def test_publishing_from_another_thread_is_delivered_on_the_loop() -> None:
    async def scenario() -> None:
        hub = LocalHub()
        await hub.start()
        subscription = hub.subscribe(["visitor:7"])
        thread = threading.Thread(target=hub.publish, args=("visitor:7", {"type": "x"}))
        thread.start()
        thread.join()
        envelope = await asyncio.wait_for(subscription.next(), 1)
        assert envelope.frame == {"type": "x"}

    run(scenario)


def test_unsubscribing_stops_delivery_and_forgets_the_topic() -> None:
    async def scenario() -> None:
        hub = LocalHub()
        await hub.start()
        subscription = hub.subscribe(["agents:1", "agent:5"])
        assert hub.subscription_count == 1
        hub.unsubscribe(subscription)
        hub.publish("agents:1", {"type": "x"})
        assert subscription._queue.empty()
        assert hub.subscription_count == 0

    run(scenario)
