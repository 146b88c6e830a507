"""The sockets benchmark's load generator (benchmarks/sockets.py): bare WebSocket clients
whose segments the kernel stamps on arrival, opened many at a time; the fan-out sockets and
the rounds measured on them; and a visitor posting from a process of its own during a storm.
"""

from __future__ import annotations

import asyncio
import base64
import multiprocessing
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2 as httpx

CONNECT_CONCURRENCY = 50
STORM_CONCURRENCY = 1000
GREETING_TIMEOUT = 600.0

# Linux's socket option (asm-generic/socket.h); Python's socket module does not name it.
SO_TIMESTAMPNS = 35
STAMP_SPACE = socket.CMSG_SPACE(16)  # one struct timespec


async def open_sockets(
    port: int,
    paths: list[str],
    *,
    concurrency: int = CONNECT_CONCURRENCY,
    open_timeout: float = 60,
) -> list[StampedSocket]:
    """A bare client (``StampedSocket``) for each path, ``concurrency`` connecting at a
    time. Bare, not the websockets library's client: that one took ~1.5 ms of CPU for each
    connection, as much as the server under test, on the same two cores, so a storm
    measured the client as much as the server."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(path: str) -> StampedSocket:
        async with semaphore:
            return await asyncio.wait_for(StampedSocket.connect(port, path, _ignored), open_timeout)

    return list(await asyncio.gather(*(one(path) for path in paths)))


def _ignored(_payload: bytes, _stamp: float) -> None:
    """The idle sockets' frames (presence, status) are read and dropped."""


async def greeted(sockets: list[StampedSocket]) -> None:
    """Wait until every socket has received its first frame (its session is set up)."""
    await asyncio.wait_for(
        asyncio.gather(*(client.greeted for client in sockets)), timeout=GREETING_TIMEOUT
    )


class StampedSocket:
    """A bare WebSocket client (RFC 6455, no extensions) on a non-blocking socket whose
    segments the kernel stamps on arrival. It answers pings and hands each text frame,
    with the stamp of the read that completed it, to ``on_text``."""

    def __init__(self, sock: socket.socket, on_text: Callable[[bytes, float], None]) -> None:
        self.sock = sock
        self.on_text = on_text
        self.buffer = bytearray()
        self.greeted = asyncio.get_running_loop().create_future()

    @classmethod
    async def connect(
        cls, port: int, path: str, on_text: Callable[[bytes, float], None]
    ) -> StampedSocket:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await loop.sock_connect(sock, ("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        await loop.sock_sendall(sock, request.encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = await loop.sock_recv(sock, 4096)
            if not chunk:
                raise ConnectionError(f"closed during the handshake: {response!r}")
            response += chunk
        head, _, rest = response.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"handshake refused: {head!r}")
        client = cls(sock, on_text)
        client.buffer += rest
        loop.add_reader(sock.fileno(), client.readable)
        client.frames(time.time())
        return client

    def readable(self) -> None:
        try:
            data, ancillary, _flags, _address = self.sock.recvmsg(65536, STAMP_SPACE)
        except (BlockingIOError, InterruptedError):
            return
        if not data:
            self.close()
            return
        stamp = None
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanoseconds = struct.unpack("qq", payload[:16])
                stamp = seconds + nanoseconds / 1e9
        if stamp is None:
            raise RuntimeError("the kernel did not stamp a segment (SO_TIMESTAMPNS)")
        self.buffer += data
        self.frames(stamp)

    def frames(self, stamp: float) -> None:
        while len(self.buffer) >= 2:
            first, second = self.buffer[0], self.buffer[1]
            length, offset = second & 0x7F, 2
            if length == 126:
                if len(self.buffer) < 4:
                    return
                (length,), offset = struct.unpack("!H", self.buffer[2:4]), 4
            elif length == 127:
                if len(self.buffer) < 10:
                    return
                (length,), offset = struct.unpack("!Q", self.buffer[2:10]), 10
            if len(self.buffer) < offset + length:
                return
            payload = bytes(self.buffer[offset : offset + length])
            del self.buffer[: offset + length]
            opcode = first & 0x0F
            if opcode == 0x1:
                if not self.greeted.done():
                    self.greeted.set_result(None)
                self.on_text(payload, stamp)
            elif opcode == 0x9:  # ping: answer with a masked pong
                mask = os.urandom(4)
                masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                self.sock.send(bytes([0x8A, 0x80 | len(payload)]) + mask + masked)
            elif opcode == 0x8:
                self.close()
                return

    def close(self) -> None:
        if self.sock.fileno() >= 0:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()


class FanOut:
    """The fan-out sockets and the rounds measured on them."""

    def __init__(self) -> None:
        self.sockets: list[StampedSocket] = []
        self.marker = b""
        self.arrivals: list[float] = []
        self.complete = asyncio.Event()

    async def connect(self, port: int, paths: list[str]) -> None:
        semaphore = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def one(path: str) -> StampedSocket:
            async with semaphore:
                return await StampedSocket.connect(port, path, self.arrived)

        self.sockets = list(await asyncio.gather(*(one(path) for path in paths)))

    async def greeted(self) -> None:
        await asyncio.wait_for(
            asyncio.gather(*(s.greeted for s in self.sockets)), timeout=GREETING_TIMEOUT
        )

    def arrived(self, payload: bytes, stamp: float) -> None:
        if self.marker and self.marker in payload and b"message.created" in payload:
            self.arrivals.append(stamp)
            if len(self.arrivals) == len(self.sockets):
                self.complete.set()

    async def rounds(
        self, trigger: Callable[[str], Awaitable[None]], rounds: int, marker: str
    ) -> tuple[list[float], list[float]]:
        """Per socket and round: seconds from just before the trigger request to the frame's
        arrival (end to end), and from the first socket's arrival to this one's (the
        fan-out itself)."""
        latencies: list[float] = []
        spreads: list[float] = []
        for number in range(rounds):
            self.marker = f"{marker}-{number}".encode()
            self.arrivals = []
            self.complete = asyncio.Event()
            await asyncio.sleep(0.2)
            started = time.time()  # CLOCK_REALTIME, the kernel's stamps' clock
            await trigger(self.marker.decode())
            await asyncio.wait_for(self.complete.wait(), timeout=60)
            first = min(self.arrivals)
            latencies.extend(arrival - started for arrival in self.arrivals)
            spreads.extend(arrival - first for arrival in self.arrivals)
        self.marker = b""
        return latencies, spreads

    def close(self) -> None:
        for client in self.sockets:
            client.close()


async def reconnect_all(port: int, paths: list[str]) -> list[StampedSocket]:
    """Every socket of ``paths`` at once, STORM_CONCURRENCY connecting at a time."""
    return await open_sockets(port, paths, concurrency=STORM_CONCURRENCY, open_timeout=120)


class PostProber:
    """A visitor posting a message every 20 ms from a process of its own, until ``stop``,
    which returns each request's latency in seconds."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._receiving, sending = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_post_every_20_ms, args=(url, headers, self._stop, sending), daemon=True
        )
        self._process.start()

    def stop(self) -> list[float]:
        self._stop.set()
        latencies: list[float] = self._receiving.recv()
        self._process.join(timeout=30)
        return latencies


def _post_every_20_ms(url: str, headers: dict[str, str], stop: Any, results: Any) -> None:
    latencies: list[float] = []
    with httpx.Client(timeout=60) as http:
        n = 0
        while not stop.is_set():
            n += 1
            started = time.perf_counter()
            http.post(url, json={"text": f"storm {n}"}, headers=headers)
            latencies.append(time.perf_counter() - started)
            time.sleep(0.02)
    results.send(latencies)
