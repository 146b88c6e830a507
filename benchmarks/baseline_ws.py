"""The baseline for benchmarks/sockets.py: the least a WebSocket fan-out server can be on the
same stack (Starlette on uvicorn): sockets in a set, and POST /broadcast sends one frame to
every one of them. No database, no authentication, no presence."""

from __future__ import annotations

import json
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

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
    # The same WebSocket implementation as `frontdesk serve`.
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", ws="wsproto")
