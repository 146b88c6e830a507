"""The hub for several processes: frames travel through Redis pub/sub.

Every process publishes to Redis and delivers to its own sockets only what comes back from
Redis, so frames reach local and remote subscribers by the same path and in the same order.
Publishing never blocks the caller: frames queue in memory and one task writes them to
Redis. Each process listens on the whole prefix (``<prefix>:*``) and drops frames for topics
nobody here subscribes to; that is simple and fine for a handful of processes, and the place
to change when there are hundreds.

Redis pub/sub keeps nothing: a frame published while a process's subscription is away (Redis
restarting, a connection cut) never reaches that process's sockets. So when the
subscription is back after a loss, every socket of the process is sent ``RESYNC``, and the
dashboard and the widget read again from the API what the frames would have told them
(docs/presence.md, live frames).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterable

import redis.asyncio as aioredis

from frontdesk.realtime.hub import DEFAULT_QUEUE_FRAMES, Envelope, Frame, LocalHub, Subscription

log = logging.getLogger("frontdesk.realtime.redis")
RECONNECT_DELAY = 0.5
# To every socket of a process whose subscription came back after a loss: frames may have
# been missed, read the state again.
RESYNC: Frame = {"type": "resync", "reason": "live_frames_missed"}


class RedisHub:
    def __init__(self, url: str, *, prefix: str) -> None:
        self._url = url
        self._prefix = prefix
        self._local = LocalHub()
        self._redis: aioredis.Redis | None = None
        self._outbox: asyncio.Queue[tuple[str, str]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._listening = asyncio.Event()

    async def start(self) -> None:
        await self._local.start()
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._redis = aioredis.Redis.from_url(self._url)
        await self._redis.ping()  # fail at start, not at the first frame, if Redis is away
        self._outbox = asyncio.Queue()
        self._listening = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._listen(), name="redis-hub-listen"),
            asyncio.create_task(self._send(), name="redis-hub-send"),
        ]
        await asyncio.wait_for(self._listening.wait(), timeout=10)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._redis is not None:
            await self._redis.aclose()
        await self._local.stop()

    def subscribe(
        self,
        topics: Iterable[str],
        *,
        on_ready: Callable[[], None],
        max_frames: int = DEFAULT_QUEUE_FRAMES,
    ) -> Subscription:
        return self._local.subscribe(topics, on_ready=on_ready, max_frames=max_frames)

    def unsubscribe(self, subscription: Subscription) -> None:
        self._local.unsubscribe(subscription)

    def publish(self, topic: str, frame: Frame) -> None:
        text = json.dumps(frame, separators=(",", ":"))
        channel = f"{self._prefix}:{topic}"
        if self._loop is None or self._outbox is None:
            raise RuntimeError("the Redis hub publishes only while it runs")
        if threading.get_ident() == self._loop_thread:
            self._outbox.put_nowait((channel, text))
        else:
            self._loop.call_soon_threadsafe(self._outbox.put_nowait, (channel, text))

    def listened(self, topic: str) -> bool:
        return True  # other processes' subscribers are not known here

    @property
    def subscription_count(self) -> int:
        return self._local.subscription_count

    async def _send(self) -> None:
        assert self._outbox is not None
        assert self._redis is not None
        while True:
            channel, text = await self._outbox.get()
            while True:
                try:
                    await self._redis.publish(channel, text)
                    break
                except (aioredis.ConnectionError, aioredis.TimeoutError, OSError):
                    log.warning("publishing to Redis failed; retrying")
                    await asyncio.sleep(RECONNECT_DELAY)

    async def _listen(self) -> None:
        assert self._redis is not None
        pattern = f"{self._prefix}:*"
        skip = len(self._prefix) + 1
        lost = False
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.psubscribe(pattern)
                    self._listening.set()
                    if lost:
                        lost = False
                        log.info("the Redis subscription is back; sockets told to resync")
                        text = json.dumps(RESYNC, separators=(",", ":"))
                        self._local.deliver_to_all(Envelope(RESYNC, text))
                    async for message in pubsub.listen():
                        if message.get("type") != "pmessage":
                            continue
                        channel = message["channel"].decode()
                        text = message["data"].decode()
                        self._local.deliver(channel[skip:], Envelope(json.loads(text), text))
            except (aioredis.ConnectionError, aioredis.TimeoutError, OSError):
                if not lost:
                    log.warning("lost the Redis subscription; reconnecting")
                lost = True
                await asyncio.sleep(RECONNECT_DELAY)
