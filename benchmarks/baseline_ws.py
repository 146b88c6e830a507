"""The baseline for benchmarks/sockets.py: the least a WebSocket fan-out server can be on the
same stack (Starlette on uvicorn, with the WebSocket options of ``frontdesk serve``): sockets
in a set, and POST /broadcast sends one frame to every one of them. No database, no
authentication, no presence."""

from __future__ import annotations

import json
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

# A small module: importing it does not load Frontdesk's application into the baseline.
from frontdesk.realtime.transport import UVICORN_WEBSOCKET_OPTIONS

sockets: set[WebSocket] = set()


async def socket(websocket: WebSocket) -> None:
    await websocket.accept()
    sockets.add(websocket)
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        pass
    finally:
        sockets.discard(websocket)


async def broadcast(request: Request) -> JSONResponse:
    text = json.dumps({"type": "message.created", "message": await request.json()})
    for websocket in list(sockets):
        await websocket.send_text(text)
    return JSONResponse({"sent": len(sockets)})


async def health(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        WebSocketRoute("/ws", socket),
        Route("/broadcast", broadcast, methods=["POST"]),
        Route("/healthz", health),
    ]
)

if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
        **UVICORN_WEBSOCKET_OPTIONS,
    )
