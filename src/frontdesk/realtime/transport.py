"""How the ASGI server carries Frontdesk's WebSockets: the options ``frontdesk serve`` gives
uvicorn, shared with the live tests and the socket benchmark so that they measure and test
what runs. The figures behind them are in docs/presence.md ("Memory per socket")."""

from __future__ import annotations

from typing import Literal, TypedDict


class UvicornWebSocketOptions(TypedDict):
    ws: Literal["wsproto", "websockets-sansio"]
    ws_max_size: int
    ws_per_message_deflate: bool


UVICORN_WEBSOCKET_OPTIONS: UvicornWebSocketOptions = {
    # wsproto holds an idle socket in less memory than uvicorn's other implementations.
    "ws": "websockets-sansio",
    # No client frame of Frontdesk comes near this; the sessions refuse frames over 16 KiB.
    "ws_max_size": 64 * 1024,
    # Per-message compression keeps a zlib compressor per socket from its first frame on,
    # about 100 KB resident each, to shrink frames that are a few hundred bytes of JSON.
    "ws_per_message_deflate": False,
}
