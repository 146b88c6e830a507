"""A hard disconnect (docs/reachability.md): a laptop closed without a goodbye leaves its
socket open on the server's side with nobody to answer. The server's pings go unanswered,
the socket is closed ``ws_ping_interval + ws_ping_timeout`` after the last sign at most, and
its device stops counting at once: the agent is offline within that bound, not whenever
TCP gives up (minutes to hours)."""

from __future__ import annotations

import base64
import os
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from frontdesk.security import PasswordHasher
from frontdesk.store.database import Database
from tests.support import LiveServer, eventually, live_settings, live_sign_up, serving

PING_INTERVAL = 0.3
PING_TIMEOUT = 0.3


@pytest.fixture
def pinging_server(
    database: Database, database_url: str, passwords: PasswordHasher, tmp_path: Path
) -> Iterator[LiveServer]:
    settings = live_settings(
        database_url,
        tmp_path,
        ws_ping_interval=PING_INTERVAL,
        ws_ping_timeout=PING_TIMEOUT,
        # Leases far longer than the bound: only the ping can end this socket in time.
        agent_device_timeout=30,
    )
    with serving(settings, database, passwords) as server:
        yield server


def silent_socket(server: LiveServer, path: str) -> socket.socket:
    """A WebSocket that completes its handshake and then never reads or answers again,
    as a laptop whose lid was closed."""
    url = urlsplit(server.ws_url)
    raw = socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    raw.sendall(
        (
            f"GET {url.path}{path} HTTP/1.1\r\nHost: {url.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += raw.recv(4096)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return raw


def frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of the unmasked server frames in ``data``."""
    found = []
    while len(data) >= 2:
        opcode, length = data[0] & 0x0F, data[1] & 0x7F
        start = 2
        if length == 126:
            (length,) = struct.unpack("!H", data[2:4])
            start = 4
        found.append((opcode, data[start : start + length]))
        data = data[start + length :]
    return found


def test_a_device_that_stops_answering_pings_is_offline_within_the_bound(
    pinging_server: LiveServer,
) -> None:
    owner = live_sign_up(pinging_server)
    raw = silent_socket(
        pinging_server, f"/agent/ws?token={owner.token}&device_id=laptop&kind=web&status=online"
    )
    try:
        eventually(
            lambda: owner.call("GET", "/me/status").json()["online"] is True,
            timeout=5,
            what="the laptop online",
        )
        online_at = time.monotonic()
        eventually(
            lambda: owner.call("GET", "/me/status").json()["online"] is False,
            timeout=10,
            interval=0.05,
            what="the laptop offline",
        )
        took = time.monotonic() - online_at
        # Everything the server sent, read only now: the greeting, the pings nobody
        # answered, and the close that gave up on them.
        raw.settimeout(2)
        data = b""
        while chunk := raw.recv(65536):
            data += chunk
    finally:
        raw.close()
    sent = frames(data)
    assert any(opcode == 0x9 for opcode, _ in sent), sent  # a ping
    (close,) = [payload for opcode, payload in sent if opcode == 0x8]
    assert struct.unpack("!H", close[:2])[0] == 1011
    assert b"ping timeout" in close
    # Within the documented bound (plus the time it takes to record it), far below the
    # 30 s lease that a silent socket would otherwise hold.
    assert took < PING_INTERVAL + PING_TIMEOUT + 3, took
