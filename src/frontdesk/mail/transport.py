"""Sending e-mail over SMTP, one recipient per message, each with its own outcome.

``SmtpTransport.session()`` opens one connection for a batch of e-mails and sends them one
after another, so that each recipient's reply (250, a 4xx, a 5xx, or a connection that
failed) is known — and recorded by the engine — before the next is sent. A connection that
breaks is opened again for the next e-mail.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import aiosmtplib

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    host: str
    port: int
    implicit_tls: bool
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError("an SMTP URL looks like smtp://[user:password@]host[:port]")
        return cls(
            host=parts.hostname,
            port=parts.port or DEFAULT_PORTS[parts.scheme],
            implicit_tls=parts.scheme == "smtps",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What the recipient's server said. ``code`` is ``None`` when there was no reply at all
    (refused connection, timeout, dropped connection)."""

    accepted: bool
    code: int | None
    text: str


class SmtpSession:
    def __init__(self, target: SmtpTarget, timeout: float) -> None:
        self._target = target
        self._timeout = timeout
        self._client: aiosmtplib.SMTP | None = None

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self._target.host,
            port=self._target.port,
            use_tls=self._target.implicit_tls,
            # Opportunistic STARTTLS on smtp://: used when the server offers it.
            start_tls=None if not self._target.implicit_tls else False,
            username=self._target.username,
            password=self._target.password,
            timeout=self._timeout,
        )
        await client.connect()
        return client

    async def send(self, sender: str, recipient: str, message: bytes) -> SendOutcome:
        """Send one e-mail; the whole attempt, connecting included, takes at most the
        timeout (so a worker's lease can be sized to it)."""
        try:
            return await asyncio.wait_for(
                self._send(sender, recipient, message), timeout=self._timeout
            )
        except TimeoutError:
            await self._drop()
            return SendOutcome(accepted=False, code=None, text="timed out")

    async def _send(self, sender: str, recipient: str, message: bytes) -> SendOutcome:
        try:
            if self._client is None or not self._client.is_connected:
                self._client = await self._connect()
            _refused, reply = await self._client.sendmail(sender, [recipient], message)
            return SendOutcome(accepted=True, code=250, text=_reply_text(reply))
        except aiosmtplib.SMTPRecipientsRefused as refused:
            first = refused.recipients[0]
            await self._reset()
            return SendOutcome(accepted=False, code=first.code, text=first.message)
        except aiosmtplib.SMTPResponseException as failure:
            await self._reset()
            return SendOutcome(accepted=False, code=failure.code, text=failure.message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as failure:
            await self._drop()
            return SendOutcome(
                accepted=False, code=None, text=f"{type(failure).__name__}: {failure}"[:500]
            )

    async def close(self) -> None:
        if self._client is not None and self._client.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await asyncio.wait_for(self._client.quit(), timeout=self._timeout)
        await self._drop()

    async def _reset(self) -> None:
        """After a refusal the transaction must be reset before the next e-mail."""
        if self._client is None or not self._client.is_connected:
            return
        try:
            await self._client.rset()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            await self._drop()

    async def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None


class SmtpTransport:
    def __init__(self, target: SmtpTarget, *, timeout: float) -> None:
        self.target = target
        self.timeout = timeout

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[SmtpSession]:
        session = SmtpSession(self.target, self.timeout)
        try:
            yield session
        finally:
            await session.close()


def _reply_text(reply: str) -> str:
    return " ".join(reply.split())[:500] or "OK"
