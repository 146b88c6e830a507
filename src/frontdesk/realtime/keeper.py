"""The background side of presence in one server process.

``PresenceKeeper`` remembers the sockets this process holds and renews their leases every
third of the shorter lease, so an open socket never lapses while the process lives and the
sockets of a killed process lapse by themselves. It also runs the presence sweep: it sleeps
until the next lease of someone online is due to end (or until woken because presence
changed here), records what lapsed, and announces it. Every transition is announced as a
``presence.changed`` frame to the account's agents, and visitor sockets get the account's
online agents so each can recompute its widget status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

import anyio.to_thread

from frontdesk.realtime.heap import HeapKeeper, collector_actions
from frontdesk.realtime.hub import Hub, agents_topic, visitors_topic
from frontdesk.service import presence
from frontdesk.service.presence import PresenceEvent, SocketClosed, SocketOpened, VisitorSocket
from frontdesk.service.presence.sweeping import sweep_batch
from frontdesk.service.runtime import Runtime

log = logging.getLogger("frontdesk.presence")
SocketChange = SocketOpened | SocketClosed | VisitorSocket

# The sweep sleeps at most this long even with nothing due, so that leases written by other
# processes are noticed within a bounded time: only presence changes recorded in this
# process wake it, with or without Redis.
MAX_SWEEP_SLEEP = 5.0
# How often the heap keeper (frontdesk.realtime.heap) looks at the sockets opened and closed.
HEAP_TICK = 1.0
# Agent socket openings and closings recorded in one transaction at most.
SOCKET_BATCH = 500


class PresenceKeeper:
    def __init__(self, runtime: Runtime, hub: Hub) -> None:
        self.runtime = runtime
        self.hub = hub
        self.device_sockets: set[str] = set()
        self.visitor_sockets: dict[int, int] = {}  # visitor id → open sockets here
        self._wake: asyncio.Event | None = None  # made in start(), on the serving loop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # When the sweep means to look next; a visitor arriving whose lease ends sooner
        # wakes it (arrivals are not presence changes of an agent, which always do).
        self._sweep_at: datetime | None = None
        self.heap = HeapKeeper(*collector_actions())
        # Socket openings and closings waiting to be recorded, in batches (socket_changed).
        self._socket_changes: list[tuple[SocketChange, asyncio.Future[None]]] = []
        self._recording_changes = False

    @property
    def renew_every(self) -> float:
        settings = self.runtime.settings
        return min(settings.agent_device_timeout, settings.visitor_left_after) / 3

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._tasks = [
            asyncio.create_task(self._renew_forever(), name="presence-renew"),
            asyncio.create_task(self._sweep_forever(), name="presence-sweep"),
            asyncio.create_task(self._heap_forever(), name="heap-keeper"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.runtime.database.close_loop_writes()

    def wake(self) -> None:
        """Presence changed here: the next lease end may be sooner than the sweep thinks.
        Safe from any thread; a no-op while the keeper is not running."""
        if self._wake is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    def device_socket_opened(self, socket_id: str) -> None:
        self.device_sockets.add(socket_id)
        self.heap.opened()

    def device_socket_closed(self, socket_id: str) -> None:
        self.device_sockets.discard(socket_id)
        self.heap.closed()

    async def socket_changed(self, change: SocketChange) -> None:
        """Record a socket opening or closing, with the others of the moment in one
        transaction (``presence.sockets_changed``), and announce what it changed; returns
        once recorded. A proxy restart opens or closes thousands at once: one transaction
        each kept the server busy for a minute while its requests waited."""
        recorded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._socket_changes.append((change, recorded))
        if not self._recording_changes:
            self._recording_changes = True
            asyncio.get_running_loop().create_task(self._record_socket_changes())
        await recorded

    async def _record_socket_changes(self) -> None:
        try:
            while self._socket_changes:
                batch = self._socket_changes[:SOCKET_BATCH]
                self._socket_changes = self._socket_changes[SOCKET_BATCH:]
                changes = [change for change, _ in batch]
                # What they change is announced when it commits (``announce``).
                try:
                    await anyio.to_thread.run_sync(presence.sockets_changed, self.runtime, changes)
                except Exception:
                    # One of them cannot be recorded (a device another process made at
                    # the same moment): each alone, so the others are not held back.
                    for change, recorded in batch:
                        try:
                            await anyio.to_thread.run_sync(
                                presence.sockets_changed, self.runtime, [change]
                            )
                        except Exception as error:
                            if not recorded.done():
                                recorded.set_exception(error)
                for _, recorded in batch:
                    if not recorded.done():
                        recorded.set_result(None)
        finally:
            self._recording_changes = False

    def visitor_socket_opened(self, visitor_id: int) -> None:
        self.visitor_sockets[visitor_id] = self.visitor_sockets.get(visitor_id, 0) + 1
        self.heap.opened()

    def visitor_socket_closed(self, visitor_id: int) -> None:
        self.heap.closed()
        left = self.visitor_sockets.get(visitor_id, 1) - 1
        if left:
            self.visitor_sockets[visitor_id] = left
        else:
            self.visitor_sockets.pop(visitor_id, None)

    def announce(self, events: Iterable[PresenceEvent]) -> None:
        """Publish recorded transitions (from any thread; no I/O but the hub's)."""
        online: dict[int, frozenset[int]] = {}
        for event in events:
            detail: dict[str, object]
            if event.agent_id is not None:
                online[event.account_id] = event.online_agent_ids
                detail = {"agent_id": event.agent_id}
            else:
                if event.online:
                    self._lease_ends(event.at + self.runtime.visitor_left_after)
                if not self.hub.listened(agents_topic(event.account_id)):
                    # No dashboard of the account is open: a visitor's frame is built for
                    # nobody (one for each message and each departure under load).
                    continue
                detail = {
                    "visitor_id": event.visitor_id,
                    "conversation_ids": list(event.conversation_ids),
                }
            self.hub.publish(
                agents_topic(event.account_id),
                {
                    "type": "presence.changed",
                    "online": event.online,
                    "at": event.at.isoformat(),
                    **detail,
                },
            )
        for account_id, agent_ids in online.items():
            self.hub.publish(
                visitors_topic(account_id),
                {"type": "agents.online", "agent_ids": sorted(agent_ids)},
            )
        if online:
            self.wake()

    def _lease_ends(self, at: datetime) -> None:
        if self._sweep_at is not None and at < self._sweep_at:
            self._sweep_at = at  # the wake-ups of the arrivals after it are not needed
            self.wake()

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.renew_every)
            try:
                await anyio.to_thread.run_sync(self._renew_once)
            except Exception:  # a database hiccup must not end renewal for good
                log.exception("renewing socket leases failed; retrying")

    def _renew_once(self) -> None:
        presence.renew_sockets(
            self.runtime,
            device_sockets=set(self.device_sockets),
            visitor_ids=set(self.visitor_sockets),
        )

    async def _heap_forever(self) -> None:
        while True:
            await asyncio.sleep(HEAP_TICK)
            open_sockets = len(self.device_sockets) + sum(self.visitor_sockets.values())
            try:
                self.heap.tick(open_sockets)
            except Exception:
                log.exception("managing the collector failed")

    async def _sweep_forever(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            try:
                # What it records is announced when it commits (``announce``, subscribed
                # to the runtime's events by frontdesk.api.live).
                events = await presence.sweep_soon(self.runtime)
                full = len(events) >= sweep_batch(self.runtime)
                due = None
                if not full:  # a full batch: more may be due at once
                    due = await anyio.to_thread.run_sync(presence.next_sweep_at, self.runtime)
            except Exception:
                log.exception("the presence sweep failed; retrying")
                events, due, full = [], None, False
            if full:
                # Behind: the next round at once, in the group commit after this one's.
                self._sweep_at = self.runtime.clock.now()
                continue
            delay = MAX_SWEEP_SLEEP
            if due is not None:
                delay = (due - self.runtime.clock.now()).total_seconds()
                delay = min(max(delay, 0.0), MAX_SWEEP_SLEEP)
            self._sweep_at = self.runtime.clock.now() + timedelta(seconds=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay + 0.001)


def scope_members_online(online_agent_ids: Iterable[int], scope: frozenset[int]) -> bool:
    return not scope.isdisjoint(online_agent_ids)
