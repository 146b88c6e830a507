"""The hub for several processes (frontdesk.realtime.redis_hub) against a Redis server of
the test's own (tests/support/private_redis.py), killed and started again: frames published
while the subscription is away are lost to Redis pub/sub, so every socket is told to read
the state again once the subscription is back."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from frontdesk.realtime.hub import Subscription
from frontdesk.realtime.redis_hub import RESYNC, RedisHub
from tests.support.private_redis import private_redis


def ignore() -> None:
    pass


async def frames_of(subscription: Subscription, *, until: Any, timeout: float = 15) -> list[Any]:
    """The frames ``subscription`` receives until one equals ``until``."""
    frames: list[Any] = []
    deadline = time.monotonic() + timeout
    while until not in frames:
        envelope = subscription.take()
        if envelope is not None:
            frames.append(envelope.frame)
            continue
        assert time.monotonic() < deadline, f"not within {timeout} s: {until}; got {frames}"
        await asyncio.sleep(0.02)
    return frames


def test_every_socket_is_told_to_resync_when_redis_comes_back() -> None:
    async def scenario() -> None:
        with private_redis() as redis_server:
            hub = RedisHub(redis_server.url, prefix="frontdesk-test")
            await hub.start()
            try:
                agents = hub.subscribe(["agents:1"], on_ready=ignore)
                visitor = hub.subscribe(["visitor:7"], on_ready=ignore)
                hub.publish("agents:1", {"type": "message.created", "n": 1})
                assert await frames_of(agents, until={"type": "message.created", "n": 1}) == [
                    {"type": "message.created", "n": 1}
                ]

                redis_server.stop()
                hub.publish("agents:1", {"type": "message.created", "n": 2})
                await asyncio.sleep(0.5)  # the frame is published, or waits, while Redis is away
                redis_server.start()

                # The frame of the outage may come late or never: either way each socket
                # is told, those of every topic.
                await frames_of(agents, until=RESYNC)
                assert await frames_of(visitor, until=RESYNC) == [RESYNC]
                hub.publish("agents:1", {"type": "message.created", "n": 3})
                later = await frames_of(agents, until={"type": "message.created", "n": 3})
                assert later[-1] == {"type": "message.created", "n": 3}
                assert RESYNC not in later
            finally:
                await hub.stop()

    asyncio.run(scenario())
