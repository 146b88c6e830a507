"""The bounce endpoint, running: the mail layer's inbound SMTP server
(``frontdesk.mail.inbound``) wired to the records (``frontdesk.service.bounces``), each
report recorded in a thread so the server's event loop never waits on the database. It runs
inside ``frontdesk serve`` when ``inbound_port`` is set, or alone as ``frontdesk inbound``.
Design notes: docs/email.md (bounces)."""

from __future__ import annotations

import logging

import anyio.to_thread

from frontdesk.mail.inbound import InboundServer, RecipientStatus
from frontdesk.mail.verp import delivery_of_token
from frontdesk.service import bounces
from frontdesk.service.runtime import Runtime

log = logging.getLogger("frontdesk.engine.inbound")


class BounceReceiver:
    """Receives delivery-status notifications on ``inbound_host:inbound_port`` (``port`` may
    be given instead, 0 for any free one; after ``start`` it is the bound port)."""

    def __init__(self, runtime: Runtime, *, host: str | None = None, port: int | None = None):
        settings = runtime.settings
        self.runtime = runtime
        self.host = host or settings.inbound_host
        port = settings.inbound_port if port is None else port
        if port is None:
            raise ValueError("the bounce endpoint needs a port (inbound_port)")
        self.port = port
        self.address = bounces.bounce_address(settings)
        self._server: InboundServer | None = None

    async def start(self) -> None:
        rt = self.runtime
        # The key is made (once per installation) in a transaction of its own.
        key = await anyio.to_thread.run_sync(bounces.verp_key, rt)
        self._server = InboundServer(
            self.address,
            token_is_ours=lambda token: delivery_of_token(key, token) is not None,
            on_bounce=self._record,
            host=self.host,
            port=self.port,
        )
        await self._server.start()
        self.port = self._server.port
        log.info(
            "receiving bounces for %s on %s:%s",
            self.return_paths,
            self.host,
            self.port,
        )

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None

    @property
    def return_paths(self) -> str:
        local, _, domain = self.address.rpartition("@")
        return f"{local}+…@{domain}"

    async def _record(self, token: str, failure: RecipientStatus) -> None:
        await anyio.to_thread.run_sync(
            lambda: bounces.record_bounce(
                self.runtime,
                token,
                status=failure.status,
                bounce_text=failure.bounce_text,
                final_recipient=failure.final_recipient,
            )
        )
