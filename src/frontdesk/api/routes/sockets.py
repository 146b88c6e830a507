"""The WebSockets: an agent device (presence and live events) and a visitor (presence, agent
replies and the widget's online status). SPEC section 6; design in docs/presence.md.

A session pumps two ways at once: frames from the client (``ping``, ``status``) and frames
from the hub. A client that does not read fast enough overflows its bounded queue and is
closed with 1013, so it never slows anyone else; a frame over the size limit closes the
socket with 1009; a malformed frame gets an ``error`` frame and the session goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from frontdesk.api.schemas import WIDGET_KEY_PATTERN
from frontdesk.core.model import DeviceKind, DeviceStatus
from frontdesk.errors import FrontdeskError
from frontdesk.realtime.hub import (
    Envelope,
    Hub,
    Subscription,
    agents_topic,
    visitor_topic,
    visitors_topic,
)
from frontdesk.realtime.keeper import PresenceKeeper, scope_members_online
from frontdesk.service import presence, widget
from frontdesk.service.accounts import authenticate_agent
from frontdesk.service.runtime import Runtime

router = APIRouter(tags=["live"])

MAX_FRAME_CHARS = 16 * 1024
DEVICE_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
WIDGET_KEY = re.compile(WIDGET_KEY_PATTERN)
CLOSE_TOO_BIG = 1009
CLOSE_TOO_SLOW = 1013
CLOSE_UNAUTHORIZED = 4401
CLOSE_BAD_REQUEST = 4400

FrameHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]


class Refused(Exception):
    def __init__(self, close_code: int, code: str, message: str) -> None:
        super().__init__(message)
        self.close_code, self.code, self.message = close_code, code, message


@router.websocket("/agent/ws")
async def agent_socket(
    websocket: WebSocket,
    token: str = "",
    device_id: str = "",
    kind: str = DeviceKind.WEB.value,
    status: str = DeviceStatus.ONLINE.value,
) -> None:
    rt, hub, keeper = _parts(websocket)
    await websocket.accept()
    try:
        caller = await _call(authenticate_agent, rt, token)
        if not DEVICE_KEY.match(device_id):
            raise Refused(
                CLOSE_BAD_REQUEST, "invalid_device_id", "device_id: 1-100 of A-Z a-z 0-9 . _ : -"
            )
        device_kind, device_status = (
            _enum(DeviceKind, kind, "kind"),
            _enum(DeviceStatus, status, "status"),
        )
    except Refused as refused:
        await _refuse(websocket, refused)
        return

    socket_id = secrets.token_hex(16)
    subscription = hub.subscribe([agents_topic(caller.account_id)])
    keeper.device_sockets.add(socket_id)
    try:
        opened = await anyio.to_thread.run_sync(
            lambda: presence.socket_opened(
                rt,
                caller,
                device_key=device_id,
                kind=device_kind,
                status=device_status,
                socket_id=socket_id,
            )
        )
        keeper.announce(opened.events)
        await websocket.send_json(
            {
                "type": "hello",
                "agent_id": caller.agent_id,
                "device_id": device_id,
                "status": device_status.value,
            }
        )

        async def on_frame(frame: dict[str, Any]) -> dict[str, Any] | None:
            if frame.get("type") != "status":
                return _error("unknown_frame", "frames: ping, status")
            new_status = frame.get("status")
            if new_status not in (DeviceStatus.ONLINE.value, DeviceStatus.OFFLINE.value):
                return _error("invalid_status", "status is online or offline")
            change = await anyio.to_thread.run_sync(
                lambda: presence.socket_status(
                    rt, caller, device_key=device_id, status=DeviceStatus(new_status)
                )
            )
            keeper.announce(change.events)
            return {"type": "status", "status": new_status}

        await _pump(websocket, subscription, on_frame, forward=_forward_all)
    finally:
        hub.unsubscribe(subscription)
        keeper.device_sockets.discard(socket_id)
        closed = await anyio.to_thread.run_sync(
            lambda: presence.socket_closed(rt, caller, device_key=device_id, socket_id=socket_id)
        )
        keeper.announce(closed.events)


@router.websocket("/widget/ws")
async def visitor_socket(
    websocket: WebSocket, widget_key: str = "", visitor_token: str = "", group_id: int | None = None
) -> None:
    rt, hub, keeper = _parts(websocket)
    await websocket.accept()
    try:
        if not WIDGET_KEY.match(widget_key):
            raise Refused(
                CLOSE_BAD_REQUEST, "widget_not_found", "There is no widget with this key."
            )
        caller = await _call(widget.authenticate_visitor, rt, widget_key, visitor_token)
        scope = await _call(lambda: widget.visitor_scope(rt, caller, group_id=group_id))
    except Refused as refused:
        await _refuse(websocket, refused)
        return

    subscription = hub.subscribe(
        [visitor_topic(caller.visitor_id), visitors_topic(caller.account_id)]
    )
    keeper.visitor_socket_opened(caller.visitor_id)
    try:
        arrived = await anyio.to_thread.run_sync(presence.visitor_seen, rt, caller)
        keeper.announce(arrived)
        online = scope_members_online(
            await anyio.to_thread.run_sync(keeper.online_agents, caller.account_id), scope
        )
        await websocket.send_json({"type": "widget.status", "online": online})
        last_online = online

        def forward(envelope: Envelope) -> str | None:
            nonlocal last_online
            if envelope.frame.get("type") != "agents.online":
                return envelope.text
            now_online = scope_members_online(envelope.frame["agent_ids"], scope)
            if now_online == last_online:
                return None
            last_online = now_online
            return json.dumps({"type": "widget.status", "online": now_online})

        async def on_frame(_frame: dict[str, Any]) -> dict[str, Any] | None:
            return _error("unknown_frame", "frames: ping")

        await _pump(websocket, subscription, on_frame, forward=forward)
    finally:
        hub.unsubscribe(subscription)
        keeper.visitor_socket_closed(caller.visitor_id)
        seen = await anyio.to_thread.run_sync(presence.visitor_seen, rt, caller)
        keeper.announce(seen)


def _forward_all(envelope: Envelope) -> str | None:
    return envelope.text


async def _pump(
    websocket: WebSocket,
    subscription: Subscription,
    on_frame: FrameHandler,
    *,
    forward: Callable[[Envelope], str | None],
) -> None:
    send_lock = asyncio.Lock()

    async def send(text: str) -> None:
        async with send_lock:
            await websocket.send_text(text)

    async def read() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                text = (message.get("bytes") or b"").decode("utf-8", "replace")
            if len(text) > MAX_FRAME_CHARS:
                await websocket.close(CLOSE_TOO_BIG, "frame too large")
                return
            try:
                frame = json.loads(text)
            except ValueError:
                frame = None
            if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
                await send(json.dumps(_error("invalid_frame", "send a JSON object with a type")))
                continue
            reply = {"type": "pong"} if frame["type"] == "ping" else await on_frame(frame)
            if reply is not None:
                await send(json.dumps(reply))

    async def write() -> None:
        while True:
            text = forward(await subscription.next())
            if text is not None:
                await send(text)

    async def watch() -> None:
        await subscription.overflowed.wait()
        with contextlib.suppress(RuntimeError):
            await websocket.close(CLOSE_TOO_SLOW, "client too slow")

    tasks = [asyncio.create_task(coroutine) for coroutine in (read(), write(), watch())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(
                asyncio.CancelledError, WebSocketDisconnect, RuntimeError, OSError
            ):
                await task


def _parts(websocket: WebSocket) -> tuple[Runtime, Hub, PresenceKeeper]:
    state = websocket.app.state
    return state.runtime, state.hub, state.keeper


async def _call(function: Callable[..., Any], *args: Any) -> Any:
    try:
        return await anyio.to_thread.run_sync(function, *args)
    except FrontdeskError as error:
        close = CLOSE_UNAUTHORIZED if error.http_status == 401 else CLOSE_BAD_REQUEST
        raise Refused(close, error.code, error.message) from error


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
