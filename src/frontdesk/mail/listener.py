"""An SMTP server (aiosmtpd) on the running event loop: the base of the built-in catcher
and of the bounce endpoint. aiosmtpd's own ``Controller`` runs a thread with a loop of its
own; these run on the loop of the process that serves Frontdesk, so starting and stopping
them is part of its start and stop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiosmtpd.smtp import SMTP


class SmtpListener:
    """Listens on ``host:port`` (0 picks a free port; after ``start`` ``port`` says which),
    one ``SMTP`` protocol from ``protocol`` per connection."""

    def __init__(self, protocol: Callable[[], SMTP], *, host: str, port: int) -> None:
        self._protocol = protocol
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
