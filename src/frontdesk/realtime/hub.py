"""Fan-out of frames to subscribed sockets, behind one small interface.

A frame is published to a *topic* (``agents:<account>``, ``visitor:<id>``, …) and reaches
every subscription to it. Each subscription has a bounded queue: a client too slow to keep
up fills it and is marked overflowed (its session then drops it) instead of blocking the
publisher or anyone else. ``publish`` is safe to call from any thread, because the HTTP
routes run in a thread pool. Design notes: docs/presence.md.

Delivery pushes: a subscription calls its ``on_ready`` when a frame waits for it, so a
socket's session writes only while there is something to write. Ten thousand idle sockets
then hold no task and no future each, only a short list (docs/presence.md, "Benchmark").
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
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
    """One socket's place in the hub: the frames waiting for it.

    ``offer`` runs on the event loop and calls ``on_ready`` after each frame it queues and
    once when the subscription overflows; ``take`` hands out the waiting frames in order.

    The consumer sets ``blocked`` while it waits for its client to take a frame (the
    connection's buffers are full). A subscription overflows when ``max_frames`` are
    waiting while its consumer is blocked: that client does not read fast enough. Frames
    that pile up while the consumer merely has not had its turn yet (a burst published in
    one go, such as a presence sweep recording hundreds of lapses) are no sign of a slow
    client. An overflowed subscription drops what waits and takes nothing more: its client
    gets no frame but the close.
    """

    __slots__ = ("_frames", "_max_frames", "_on_ready", "blocked", "overflowed", "topics")

    def __init__(
        self, topics: Iterable[str], *, on_ready: Callable[[], None], max_frames: int
    ) -> None:
        self.topics = frozenset(topics)
        self.blocked = False
        self.overflowed = False
        # A list, not a deque: it is nearly always empty, and an empty deque costs ten
        # times an empty list; taking from the front of a list of a few hundred pointers is
        # one short memmove.
        self._frames: list[Envelope] = []
        self._max_frames = max_frames
        self._on_ready = on_ready

    def offer(self, envelope: Envelope) -> None:
        if self.overflowed:
            return
        if self.blocked and len(self._frames) >= self._max_frames:
            self.overflowed = True
            self._frames.clear()
        else:
            self._frames.append(envelope)
        self._on_ready()

    def take(self) -> Envelope | None:
        """The oldest waiting frame, or ``None`` when nothing waits."""
        return self._frames.pop(0) if self._frames else None


class Hub(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def subscribe(
        self,
        topics: Iterable[str],
        *,
        on_ready: Callable[[], None],
        max_frames: int = DEFAULT_QUEUE_FRAMES,
    ) -> Subscription: ...

    def unsubscribe(self, subscription: Subscription) -> None: ...

    def publish(self, topic: str, frame: Frame) -> None: ...

    def listened(self, topic: str) -> bool:
        """False only when no subscriber anywhere can receive a frame on ``topic``."""
        ...


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
        self,
        topics: Iterable[str],
        *,
        on_ready: Callable[[], None],
        max_frames: int = DEFAULT_QUEUE_FRAMES,
    ) -> Subscription:
        subscription = Subscription(topics, on_ready=on_ready, max_frames=max_frames)
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

    def listened(self, topic: str) -> bool:
        return topic in self._subscriptions

    def deliver(self, topic: str, envelope: Envelope) -> None:
        for subscription in tuple(self._subscriptions.get(topic, ())):
            subscription.offer(envelope)

    def deliver_to_all(self, envelope: Envelope) -> None:
        """``envelope`` to every subscription, once each, whatever its topics."""
        for subscription in {s for subs in self._subscriptions.values() for s in subs}:
            subscription.offer(envelope)

    @property
    def subscription_count(self) -> int:
        return len({s for subs in self._subscriptions.values() for s in subs})
