"""The WebSockets: an agent device (presence and live events) and a visitor (presence, agent
replies and the widget's online status). docs/spec.md section 6; design in docs/presence.md.

Sockets live for hours, so what each one holds is kept small: the two paths are dispatched
ahead of FastAPI's routing (``SocketRoutes``), and a session reads frames from the client
(``ping``, ``status``) in the socket's own task while frames from the hub are written by a
task that exists only while some are waiting. A client that does not read fast enough
overflows its bounded queue and is closed with 1013, so it never slows anyone else; a frame
over the size limit closes the socket with 1009; a malformed frame gets an ``error`` frame
and the session goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable
from functools import partial
from typing import Any

import anyio.to_thread
from fastapi import WebSocket
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect, WebSocketState

from frontdesk.api.live import sessions_ended_by
from frontdesk.api.schemas.common import WIDGET_KEY_PATTERN
from frontdesk.core.hours import next_change
from frontdesk.core.model import DeviceKind, DeviceStatus
from frontdesk.errors import FrontdeskError
from frontdesk.realtime.hub import (
    Envelope,
    Hub,
    agents_topic,
    visitor_topic,
    visitors_topic,
)
from frontdesk.realtime.keeper import PresenceKeeper, scope_members_online
from frontdesk.service import accounts, presence, widget
from frontdesk.service.runtime import Runtime

MAX_FRAME_CHARS = 16 * 1024
DEVICE_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
WIDGET_KEY = re.compile(WIDGET_KEY_PATTERN)
# The subprotocol a socket is accepted with, and the prefix of the one that carries its token.
SUBPROTOCOL = "frontdesk"
TOKEN_SUBPROTOCOL = "frontdesk.token."  # noqa: S105 (a prefix, not a secret)
CLOSE_TOO_BIG = 1009
CLOSE_TOO_SLOW = 1013
CLOSE_UNAUTHORIZED = 4401
CLOSE_TOO_MANY = 4429
CLOSE_BAD_REQUEST = 4400
# A visitor socket wakes itself when its business hours open or close: this long after the
# moment, so that the clock is past it; at most this long at a time, so that a clock that
# moved (a suspended host) is caught up with.
HOURS_CHANGE_SLACK = 0.05
HOURS_RECHECK_AT_MOST = 3600.0
HOURS_TICK = Envelope({"type": "hours.tick"}, "")

FrameHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]
# What ends a session from the client's side: it went away, or the socket is closed already.
GONE = (WebSocketDisconnect, RuntimeError, OSError)


class Refused(Exception):
    def __init__(self, close_code: int, code: str, message: str) -> None:
        super().__init__(message)
        self.close_code, self.code, self.message = close_code, code, message


class Ended(Exception):
    """Raised by a session's ``forward`` when a frame from the hub ends the session."""

    def __init__(self, close_code: int, reason: str) -> None:
        super().__init__(reason)
        self.close_code, self.reason = close_code, reason


class SocketsPerAgent:
    """The agent sockets open in this process, per agent, at most ``limit`` each."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[int, int] = {}

    def take(self, agent_id: int) -> bool:
        held = self._open.get(agent_id, 0)
        if held >= self.limit:
            return False
        self._open[agent_id] = held + 1
        return True

    def give_back(self, agent_id: int) -> None:
        held = self._open.pop(agent_id) - 1
        if held:
            self._open[agent_id] = held


class SocketRoutes:
    """In front of FastAPI (``owner``): hands the two WebSocket paths straight to their
    endpoints.

    Every layer of the HTTP stack a socket passes through stays suspended on its stack for
    as long as it is open: FastAPI's routers, exception middleware and dependency machinery
    cost about 12 KB per socket (docs/presence.md, "Memory per socket"), and each layer's
    call is paid again by every socket of a reconnect storm. The sockets need none of it:
    they parse their own query and answer errors in frames.
    """

    def __init__(self, app: ASGIApp, *, prefix: str, owner: Starlette) -> None:
        self.app = app
        self.owner = owner
        self.endpoints: dict[str, Callable[[WebSocket], Awaitable[None]]] = {
            f"{prefix}/agent/ws": agent_socket,
            f"{prefix}/widget/ws": visitor_socket,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            path: str = scope["path"]
            root_path: str = scope.get("root_path", "")
            if root_path and path.startswith(root_path):
                path = path[len(root_path) :]
            endpoint = self.endpoints.get(path)
            if endpoint is not None:
                scope["app"] = self.owner  # as Starlette sets it: the sockets' state
                await endpoint(WebSocket(scope, receive, send))
                return
        await self.app(scope, receive, send)


async def agent_socket(websocket: WebSocket) -> None:
    """``/agent/ws?device_id=&kind=web&status=online``, the token as a subprotocol"""
    async with _Opening(websocket) as opening:
        await _agent_socket(websocket, opening)


async def _agent_socket(websocket: WebSocket, opening: _Opening) -> None:
    rt, hub, keeper = _parts(websocket)
    query = websocket.query_params
    device_id = query.get("device_id", "")
    token, subprotocol = _token(websocket, "token")
    await websocket.accept(subprotocol=subprotocol)
    try:
        proven = await _read(rt, accounts.prove_agent_token, rt, token)
        if proven.touch:  # the token's use, written beside the requests' writes
            await rt.database.run_write(partial(accounts.touch_token, rt=rt, proven=proven))
        caller = accounts.remember_agent(rt, proven)
        if not DEVICE_KEY.match(device_id):
            raise Refused(
                CLOSE_BAD_REQUEST, "invalid_device_id", "device_id: 1-100 of A-Z a-z 0-9 . _ : -"
            )
        device_kind, device_status = (
            _enum(DeviceKind, query.get("kind", DeviceKind.WEB.value), "kind"),
            _enum(DeviceStatus, query.get("status", DeviceStatus.ONLINE.value), "status"),
        )
    except Refused as refused:
        await _refuse(websocket, refused)
        return

    def forward(envelope: Envelope) -> str | None:
        frame = envelope.frame
        if frame.get("type") == "agent.deactivated" and frame.get("agent_id") == caller.agent_id:
            raise Ended(CLOSE_UNAUTHORIZED, "agent_deactivated")
        ended = sessions_ended_by(frame)
        if ended is not None:
            if ended.ends(caller.agent_id, caller.token_id):
                raise Ended(CLOSE_UNAUTHORIZED, "session_ended")
            return None
        return envelope.text

    held: SocketsPerAgent = websocket.app.state.agent_sockets
    if not held.take(caller.agent_id):
        await _refuse(
            websocket,
            Refused(
                CLOSE_TOO_MANY,
                "too_many_sockets",
                f"This agent has {held.limit} sockets open here, the most it may have; "
                "close a tab or an app.",
            ),
        )
        return
    socket_id = secrets.token_hex(16)
    session = Session(websocket, hub, [agents_topic(caller.account_id)], forward=forward)
    keeper.device_socket_opened(socket_id)
    try:
        # Recorded and announced with the other openings of the moment (a reconnect storm).
        await keeper.socket_changed(
            presence.SocketOpened(
                caller,
                device_key=device_id,
                kind=device_kind,
                status=device_status,
                socket_id=socket_id,
            )
        )

        async def on_frame(frame: dict[str, Any]) -> dict[str, Any] | None:
            if frame.get("type") == "activity":
                # The agent did something here: not idle (docs/reachability.md).
                await anyio.to_thread.run_sync(
                    lambda: presence.device_active(rt, caller, device_key=device_id)
                )
                return {"type": "activity"}
            if frame.get("type") == "visibility":
                visible = frame.get("visible")
                if not isinstance(visible, bool):
                    return _error("invalid_visibility", "visible is true or false")
                await anyio.to_thread.run_sync(
                    lambda: presence.device_looking(
                        rt, caller, device_key=device_id, looking=visible
                    )
                )
                return {"type": "visibility", "visible": visible}
            if frame.get("type") != "status":
                return _error("unknown_frame", "frames: ping, status, visibility, activity")
            new_status = frame.get("status")
            if new_status not in (DeviceStatus.ONLINE.value, DeviceStatus.OFFLINE.value):
                return _error("invalid_status", "status is online or offline")
            await anyio.to_thread.run_sync(
                lambda: presence.socket_status(
                    rt, caller, device_key=device_id, status=DeviceStatus(new_status)
                )
            )
            return {"type": "status", "status": new_status}

        hello = {
            "type": "hello",
            "agent_id": caller.agent_id,
            "device_id": device_id,
            "status": device_status.value,
        }
        await session.run(hello, on_frame, greeted=opening.done)
    finally:
        held.give_back(caller.agent_id)
        hub.unsubscribe(session.subscription)
        keeper.device_socket_closed(socket_id)
        await keeper.socket_changed(
            presence.SocketClosed(caller, device_key=device_id, socket_id=socket_id)
        )


async def visitor_socket(websocket: WebSocket) -> None:
    """``/widget/ws?widget_key=&group_id=``, the visitor token as a subprotocol"""
    async with _Opening(websocket) as opening:
        await _visitor_socket(websocket, opening)


async def _visitor_socket(websocket: WebSocket, opening: _Opening) -> None:
    rt, hub, keeper = _parts(websocket)
    query = websocket.query_params
    token, subprotocol = _token(websocket, "visitor_token")
    await websocket.accept(subprotocol=subprotocol)
    try:
        widget_key = query.get("widget_key", "")
        if not WIDGET_KEY.match(widget_key):
            raise Refused(
                CLOSE_BAD_REQUEST, "widget_not_found", "There is no widget with this key."
            )
        group_id = _group_id(query.get("group_id"))
        # A visitor proven before (the widget's messages, an earlier socket) needs no query.
        caller = widget.known_visitor(rt, widget_key, token) or await _read(
            rt, widget.authenticate_visitor, rt, widget_key, token
        )
    except Refused as refused:
        await _refuse(websocket, refused)
        return

    seen: widget.VisitorWidget | None = None
    members_online = False
    shown: dict[str, Any] = {}
    loop = asyncio.get_running_loop()
    hours_timer: asyncio.TimerHandle | None = None

    def status_frame() -> dict[str, Any]:
        assert seen is not None
        status = seen.status(members_online, rt.clock.now())
        return {
            "type": "widget.status",
            "online": status.online,
            "open": status.open,
            "back_at": status.back_at.isoformat() if status.back_at else None,
        }

    def at_next_hours_change() -> None:
        """Business hours open or close on their own: the socket wakes itself at the next
        change (docs/reachability.md) and says so if the status it shows turned."""
        nonlocal hours_timer
        if seen is None or seen.hours is None:
            return
        change = next_change(seen.hours, rt.clock.now())
        if change is None:
            return
        wait = (change - rt.clock.now()).total_seconds() + HOURS_CHANGE_SLACK
        hours_timer = loop.call_later(
            min(max(wait, HOURS_CHANGE_SLACK), HOURS_RECHECK_AT_MOST),
            session.subscription.offer,
            HOURS_TICK,
        )

    def forward(envelope: Envelope) -> str | None:
        nonlocal members_online, shown
        kind = envelope.frame.get("type")
        if kind == "agents.online":
            scope = seen.scope if seen is not None else frozenset()
            members_online = scope_members_online(envelope.frame["agent_ids"], scope)
        elif kind == HOURS_TICK.frame["type"]:
            at_next_hours_change()
        else:
            return envelope.text
        frame = status_frame()
        if frame == shown:
            return None
        shown = frame
        return json.dumps(frame)

    # Subscribed before the widget's status is read, so no change after the read is missed;
    # hub frames wait in the subscription until the greeting has gone.
    session = Session(
        websocket,
        hub,
        [visitor_topic(caller.visitor_id), visitors_topic(caller.account_id)],
        forward=forward,
    )
    try:
        seen = await _read(rt, lambda: widget.visitor_widget(rt, caller, group_id=group_id))
    except Refused as refused:
        hub.unsubscribe(session.subscription)
        await _refuse(websocket, refused)
        return
    members_online = seen.members_online
    shown = status_frame()
    at_next_hours_change()
    keeper.visitor_socket_opened(caller.visitor_id)
    try:
        await keeper.socket_changed(presence.VisitorSocket(caller))

        async def on_frame(_frame: dict[str, Any]) -> dict[str, Any] | None:
            return _error("unknown_frame", "frames: ping")

        await session.run(shown, on_frame, greeted=opening.done)
    finally:
        if hours_timer is not None:
            hours_timer.cancel()
        hub.unsubscribe(session.subscription)
        keeper.visitor_socket_closed(caller.visitor_id)
        await keeper.socket_changed(presence.VisitorSocket(caller))


class Session:
    """The frames of one open socket, both ways.

    The greeting goes first; hub frames that arrive before it wait in the subscription.
    Then the client's frames are read in the socket's own task. Hub frames are written by
    the process's ``FrameWriters`` in one turn of the event loop for every socket they
    reach, without a task of their own: a send to a socket whose buffers have room returns
    at once. Only a send that has to wait (the client does not read) goes on in a writer
    task, which then writes what else waits and ends when nothing is left. If the
    subscription overflows (frames keep coming while the client does not take them), the
    writer closes the socket with 1013 instead.
    """

    __slots__ = (
        "_ended",
        "_forward",
        "_greeted",
        "_queued",
        "_send_lock",
        "_writer",
        "_writers",
        "subscription",
        "websocket",
    )

    def __init__(
        self,
        websocket: WebSocket,
        hub: Hub,
        topics: Iterable[str],
        *,
        forward: Callable[[Envelope], str | None],
    ) -> None:
        self.websocket = websocket
        self._forward = forward
        self._greeted = False
        self._ended = False
        self._queued = False  # waiting for the FrameWriters' turn
        self._writers: FrameWriters = websocket.app.state.frame_writers
        self._writer: asyncio.Task[None] | None = None
        # Replies (pong, status, error) and hub frames are sent from two tasks; one frame
        # at a time, whatever the server's WebSocket implementation does with concurrency.
        self._send_lock = asyncio.Lock()
        self.subscription = hub.subscribe(topics, on_ready=self._frames_waiting)

    async def run(
        self, greeting: dict[str, Any], on_frame: FrameHandler, *, greeted: Callable[[], None]
    ) -> None:
        """Greet, then serve the client until it goes away; ``greeted`` is called once the
        greeting has gone."""
        try:
            await self._send(json.dumps(greeting))
            greeted()
            self._greeted = True
            self._frames_waiting()
            await self._read(on_frame)
        except GONE:
            pass
        finally:
            self._ended = True
            writer = self._writer
            if writer is not None:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, *GONE):
                    await writer

    def _frames_waiting(self) -> None:
        if self._greeted and self._writer is None and not self._queued and not self._ended:
            self._queued = True
            self._writers.add(self)

    def write_now(self) -> None:
        """The waiting hub frames, written now (``FrameWriters``); a send that has to wait
        for the client, an overflow and a frame that ends the session go to a writer
        task."""
        self._queued = False
        if self._writer is not None or self._ended:
            return  # the writer takes them; or the session is over
        if self._send_lock.locked():  # a reply is on its way: the writer waits for it
            self._writer = asyncio.create_task(self._write())
            return
        subscription = self.subscription
        try:
            while (envelope := subscription.take()) is not None:
                text = self._forward(envelope)
                if text is None:
                    continue
                waiting = started(self.websocket.send_text(text))
                if waiting is not None:
                    subscription.blocked = True
                    self._writer = asyncio.create_task(self._write(waiting))
                    return
        except Ended as ended:
            self._writer = asyncio.create_task(self._close(ended))
            return
        except GONE:
            return  # the client is gone: reading notices and ends the session
        if subscription.overflowed:
            self._writer = asyncio.create_task(self._write())

    async def _write(self, waiting: Awaitable[None] | None = None) -> None:
        subscription = self.subscription
        try:
            if waiting is not None:  # a send begun by write_now, waiting for the client
                async with self._send_lock:
                    await waiting
                subscription.blocked = False
            while (envelope := subscription.take()) is not None:
                text = self._forward(envelope)
                if text is not None:
                    # A send returns at once unless the connection's buffers are full; only
                    # then does anything else run, and frames offered meanwhile count
                    # against the queue's bound (hub.Subscription).
                    subscription.blocked = True
                    await self._send(text)
                    subscription.blocked = False
            if subscription.overflowed:
                await self.websocket.close(CLOSE_TOO_SLOW, "client too slow")
        except Ended as ended:
            await self._close(ended)
        except GONE:
            pass  # the client is gone: reading notices and ends the session
        finally:
            self._writer = None

    async def _close(self, ended: Ended) -> None:
        try:
            with contextlib.suppress(*GONE):
                await self.websocket.close(ended.close_code, ended.reason)
        finally:
            self._writer = None

    async def _read(self, on_frame: FrameHandler) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                text = (message.get("bytes") or b"").decode("utf-8", "replace")
            if len(text) > MAX_FRAME_CHARS:
                await self.websocket.close(CLOSE_TOO_BIG, "frame too large")
                return
            try:
                frame = json.loads(text)
            except ValueError:
                frame = None
            if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
                await self._send(
                    json.dumps(_error("invalid_frame", "send a JSON object with a type"))
                )
                continue
            reply = {"type": "pong"} if frame["type"] == "ping" else await on_frame(frame)
            if reply is not None:
                await self._send(json.dumps(reply))

    async def _send(self, text: str) -> None:
        async with self._send_lock:
            await self.websocket.send_text(text)


class FrameWriters:
    """Writes the hub frames of every socket that has some waiting, in one turn of the
    event loop (``Session.write_now``).

    A frame published to an account's thousand agent sockets used to start a writer task
    for each before the first was written; each task was then created, scheduled and run
    for one send that returns at once. Now the sockets reached are listed as the hub offers
    the frame and written one after another in the next turn, which costs each socket its
    send alone (docs/performance.md, "Fan-out without a task per socket, greetings
    without the ORM")."""

    __slots__ = ("_ready", "_scheduled")

    def __init__(self) -> None:
        self._ready: list[Session] = []
        self._scheduled = False

    def add(self, session: Session) -> None:
        self._ready.append(session)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._write)

    def _write(self) -> None:
        ready, self._ready = self._ready, []
        self._scheduled = False
        for session in ready:
            session.write_now()


def started(send: Coroutine[Any, Any, None]) -> Awaitable[None] | None:
    """``send`` run now, up to where it first has to wait: ``None`` if it finished, else
    what finishes it, to await in a task. A send to a socket with room in its buffers never
    waits, so it costs no task (on Python 3.12, an eager task does the same)."""
    try:
        waiting_on = send.send(None)
    except StopIteration:
        return None
    return _Resumed(send, waiting_on)


class _Resumed:
    """A coroutine that ``started`` ran up to its first wait, finished when awaited: what it
    waits on goes to the awaiting task, and what the task sends or throws back goes in."""

    __slots__ = ("_coroutine", "_waiting_on")

    def __init__(self, coroutine: Coroutine[Any, Any, None], waiting_on: Any) -> None:
        self._coroutine = coroutine
        self._waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, None]:
        coroutine, waiting_on = self._coroutine, self._waiting_on
        try:
            while True:
                try:
                    sent = yield waiting_on
                except BaseException as error:  # cancelled, or what it waited on failed
                    waiting_on = coroutine.throw(error)
                else:
                    waiting_on = coroutine.send(sent)
        except StopIteration:
            return


class _Opening:
    """A socket's turn to open: at most ``socket_openings_at_once`` sockets of this process
    are between their handshake and their greeting at a time; the others wait for a turn
    before anything of theirs runs. When every socket of a restarted proxy comes back at
    once, the event loop then runs a hundred or so openings at a time, not thousands,
    and an HTTP request in between waits for those only (docs/performance.md)."""

    __slots__ = ("_held", "_semaphore")

    def __init__(self, websocket: WebSocket) -> None:
        self._semaphore: asyncio.Semaphore = websocket.app.state.openings
        self._held = False

    async def __aenter__(self) -> _Opening:
        await self._semaphore.acquire()
        self._held = True
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.done()

    def done(self) -> None:
        """The greeting has gone (or the socket was refused): the next one's turn."""
        if self._held:
            self._held = False
            self._semaphore.release()


def _token(websocket: WebSocket, query_name: str) -> tuple[str, str | None]:
    """The socket's bearer token, and the subprotocol to accept. A client offers the
    subprotocols ``frontdesk`` and ``frontdesk.token.<token>`` (a browser's WebSocket can
    send no header of its own), and ``frontdesk`` is accepted: the token travels in a
    header, not in the URL that servers and proxies log. A token in the query
    (``?token=`` / ``?visitor_token=``) is still taken from older clients."""
    offered: list[str] = websocket.scope.get("subprotocols", [])
    for protocol in offered:
        if protocol.startswith(TOKEN_SUBPROTOCOL):
            return protocol[len(TOKEN_SUBPROTOCOL) :], SUBPROTOCOL
    subprotocol = SUBPROTOCOL if SUBPROTOCOL in offered else None
    return websocket.query_params.get(query_name, ""), subprotocol


def _parts(websocket: WebSocket) -> tuple[Runtime, Hub, PresenceKeeper]:
    state = websocket.app.state
    return state.runtime, state.hub, state.keeper


async def _read(rt: Runtime, function: Callable[..., Any], *args: Any) -> Any:
    """A read of a socket's opening: on SQLite right on the event loop (a few plain
    statements take less than handing them to a thread and back, which a reconnect storm
    pays ten thousand times; WAL readers never wait for a writer), else on a thread."""
    try:
        if rt.database.is_sqlite:
            return function(*args)
        return await anyio.to_thread.run_sync(function, *args)
    except FrontdeskError as error:
        close = CLOSE_UNAUTHORIZED if error.http_status == 401 else CLOSE_BAD_REQUEST
        raise Refused(close, error.code, error.message) from error


def _group_id(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 18:
        raise Refused(CLOSE_BAD_REQUEST, "invalid_group_id", "group_id is a group's number")
    return int(value)


def _enum(enum: Any, value: str, name: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise Refused(CLOSE_BAD_REQUEST, f"invalid_{name}", f"{name} is one of {allowed}") from None


async def _refuse(websocket: WebSocket, refused: Refused) -> None:
    if websocket.client_state is WebSocketState.CONNECTED:
        await websocket.send_json(_error(refused.code, refused.message))
        await websocket.close(refused.close_code, refused.code)


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"code": code, "message": message}}
