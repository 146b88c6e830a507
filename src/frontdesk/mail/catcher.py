"""The built-in mail catcher: a real SMTP server on loopback (aiosmtpd) that keeps every
e-mail it receives in a Maildir, so the embedded default shows its notification e-mails
without a mail server. The engine sends to it exactly as it would to a real one, so what
the catcher shows is what a real server would have been sent.

A Maildir is safe for several writers, and any mail client reads it (``mutt -f var/mail``).
"""

from __future__ import annotations

import asyncio
import logging
import mailbox
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

logging.getLogger("mail.log").setLevel(logging.WARNING)


class MaildirHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        for part in ("tmp", "new", "cur"):  # what Maildir(create=True) makes only if absent
            (directory / part).mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        # What a delivering mail server adds: the envelope, as the reader's client shows it.
        trace = f"Return-Path: <{envelope.mail_from}>\r\n".encode()
        trace += b"".join(f"Delivered-To: {rcpt}\r\n".encode() for rcpt in envelope.rcpt_tos)
        await asyncio.to_thread(self._store, trace + content)
        return "250 OK: caught by Frontdesk"

    def _store(self, raw: bytes) -> None:
        mailbox.Maildir(self.directory, create=False).add(raw)


class MailCatcher:
    def __init__(self, directory: Path, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.directory = directory
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        handler = MaildirHandler(self.directory)
        loop = asyncio.get_running_loop()

        def protocol() -> Any:
            return SMTP(handler, hostname="frontdesk-catcher", ident="Frontdesk mail catcher")

        self._server = await loop.create_server(protocol, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"
