"""Fan-out of frames to subscribed sockets, behind one small interface.

A frame is published to a *topic* (``agents:<account>``, ``visitor:<id>``, …) and reaches
every subscription to it. Each subscription has a bounded queue: a client too slow to keep
up fills it and is marked overflowed (its session then drops it) instead of blocking the
publisher or anyone else. ``publish`` is safe to call from any thread, because the HTTP
routes run in a thread pool.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

Frame = dict[str, Any]
DEFAULT_QUEUE_FRAMES = 256


@dataclass(frozen=True, slots=True)
class Envelope:
    """A published frame, serialised once for all of its subscribers."""

    frame: Frame
    text: str


def agents_topic(account_id: int) -> str:
    """Every agent device of an account."""
    return f"agents:{account_id}"


def visitors_topic(account_id: int) -> str:
    """Every visitor socket of an account (for widget.status)."""
    return f"visitors:{account_id}"


def visitor_topic(visitor_id: int) -> str:
    return f"visitor:{visitor_id}"


class Subscription:
    def __init__(self, topics: Iterable[str], *, max_frames: int) -> None:
        self.topics = frozenset(topics)
        self._queue: asyncio.Queue[Envelope] = asyncio.Queue(max_frames)
        self.overflowed = asyncio.Event()

    def offer(self, envelope: Envelope) -> None:
        if self.overflowed.is_set():
            return
        try:
            self._queue.put_nowait(envelope)
        except asyncio.QueueFull:
            self.overflowed.set()

    async def next(self) -> Envelope:
        return await self._queue.get()


class Hub(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def subscribe(
        self, topics: Iterable[str], *, max_frames: int = DEFAULT_QUEUE_FRAMES
    ) -> Subscription: ...

    def unsubscribe(self, subscription: Subscription) -> None: ...

    def publish(self, topic: str, frame: Frame) -> None: ...


class LocalHub:
    """The in-process hub: enough for one ``frontdesk serve`` process."""

    def __init__(self) -> None:
        self._subscriptions: dict[str, set[Subscription]] = defaultdict(set)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()

    async def stop(self) -> None:
        self._subscriptions.clear()

    def subscribe(
        self, topics: Iterable[str], *, max_frames: int = DEFAULT_QUEUE_FRAMES
    ) -> Subscription:
        subscription = Subscription(topics, max_frames=max_frames)
        for topic in subscription.topics:
            self._subscriptions[topic].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        for topic in subscription.topics:
            subscribers = self._subscriptions.get(topic)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscriptions[topic]

    def publish(self, topic: str, frame: Frame) -> None:
        envelope = Envelope(frame=frame, text=json.dumps(frame, separators=(",", ":")))
        if self._loop is None or threading.get_ident() == self._loop_thread:
            self.deliver(topic, envelope)
        else:
            self._loop.call_soon_threadsafe(self.deliver, topic, envelope)

    def deliver(self, topic: str, envelope: Envelope) -> None:
        for subscription in tuple(self._subscriptions.get(topic, ())):
            subscription.offer(envelope)

    @property
    def subscription_count(self) -> int:
        return len({s for subs in self._subscriptions.values() for s in subs})
