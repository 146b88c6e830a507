"""Sending e-mail over SMTP, one recipient per message, each with its own outcome.

``SmtpTransport`` keeps a small pool of connections to one mail server (at most
``max_connections`` open at once, each reused for many e-mails, closed after
``idle_close_after`` seconds unused) and sends one e-mail per ``send()`` call, so that each
recipient's reply (250, a 4xx, a 5xx, or no reply at all) is known — and recorded by the
engine — e-mail by e-mail. docs/email.md ("The SMTP transport") explains the choices:

- ``smtps://`` is TLS from the first byte; ``smtp://`` upgrades with STARTTLS when the server
  offers it, and ``?starttls=require`` makes that mandatory (``?starttls=off`` never
  upgrades). Certificates are always verified, against ``smtp_ca_file`` or the system's
  trust store.
- The URL's user and password log in (AUTH) after TLS; they are never sent over an
  unencrypted connection, except to a mail server on this machine (loopback).
- A connection that cannot be made ready (refused, TLS, login) is no reply to the e-mail:
  ``code`` is ``None`` and the e-mail is tried again later, so a wrong password loses nothing
  while the deployer fixes it.
- A pooled connection the server has dropped meanwhile is found out at MAIL or RCPT; the
  e-mail then goes once more over a fresh connection. Nothing is ever sent again once its
  DATA has gone out: the server may have taken it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import ssl
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from aiosmtplib.email import parse_address

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
# Mail servers drop a client that says nothing for a few minutes (Postfix: 300 s); an idle
# connection is closed well before that, so the pool rarely meets a dropped one, and sooner
# still so that a quiet Frontdesk does not hold the server's connection slots.
IDLE_CLOSE_AFTER = 30.0
# QUIT is a courtesy: a server that does not answer it soon is simply disconnected.
QUIT_TIMEOUT = 2.0
TEXT_MAX = 500
_BARE_ADDRESS = re.compile(r"[^\s<>()\[\]\\,;:\"@]+@[^\s<>()\[\]\\,;:\"@]+")


class StartTls(StrEnum):
    """What ``smtp://`` does about STARTTLS (the URL's ``?starttls=``)."""

    OPPORTUNISTIC = "opportunistic"  # upgrade when the server offers it (the default)
    REQUIRE = "require"  # no STARTTLS offered: no e-mail is sent
    OFF = "off"  # never upgrade (a relay on this machine with no certificate)


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    host: str
    port: int
    implicit_tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: StartTls = StartTls.OPPORTUNISTIC

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError(
                "an SMTP URL looks like smtp://[user:password@]host[:port][?starttls=require] "
                "or smtps://[user:password@]host[:port]"
            )
        query = parse_qs(parts.query, keep_blank_values=True)
        unknown = set(query) - {"starttls"}
        if unknown:
            raise ValueError(f"unknown SMTP URL parameter(s): {', '.join(sorted(unknown))}")
        starttls = StartTls.OPPORTUNISTIC
        if "starttls" in query:
            if parts.scheme == "smtps":
                raise ValueError("smtps:// is TLS from the start; ?starttls= is for smtp://")
            value = query["starttls"][-1]
            try:
                starttls = StartTls(value)
            except ValueError:
                choices = ", ".join(mode.value for mode in StartTls)
                raise ValueError(f"?starttls={value}: choose one of {choices}") from None
        return cls(
            host=parts.hostname,
            port=parts.port or DEFAULT_PORTS[parts.scheme],
            implicit_tls=parts.scheme == "smtps",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            starttls=starttls,
        )

    @property
    def is_loopback(self) -> bool:
        """A server on this machine: a password sent to it in the clear never crosses a
        network."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What the recipient's server said about this e-mail's transaction (MAIL, RCPT, DATA).
    ``code`` is ``None`` when there was no reply to it at all: the connection was refused,
    could not be secured or logged into, dropped, or timed out; ``text`` says which."""

    accepted: bool
    code: int | None
    text: str


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Verifies the server's certificate and name: against ``ca_file`` alone when it is
    given (a private CA), else against the system's trust store."""
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


class _TlsContext:
    """``tls_context(ca_file)``, made when a connection first needs it. The system's trust
    store is ~2.5 MB once loaded, which a process sending over plain SMTP (a relay on the
    same host, a mail catcher) would otherwise hold for nothing. A private CA file is
    read at once, so that a wrong path stops the start rather than the first e-mail."""

    def __init__(self, ca_file: Path | None) -> None:
        self._ca_file = ca_file
        self._context = tls_context(ca_file) if ca_file is not None else None

    @property
    def made(self) -> bool:
        return self._context is not None

    def get(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = tls_context(self._ca_file)
        return self._context


class _NotReady(Exception):
    """The connection could not be made ready to send (connect, TLS, AUTH)."""


class _Broken(Exception):
    """The connection broke, timed out, or was closed by the server (421) during a
    transaction."""

    def __init__(self, text: str, *, before_data: bool, code: int | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.code = code  # 421: the server said it is closing the connection
        # Nothing of the e-mail's content has gone out: sending it again cannot double it.
        self.before_data = before_data


class _Connection:
    """One SMTP connection, ready to send: TLS and AUTH done."""

    def __init__(self, client: aiosmtplib.SMTP) -> None:
        self.client = client
        self.mails = 0  # transactions started on it; a reused one may have been dropped
        self.idle_since = 0.0

    @classmethod
    async def open(cls, target: SmtpTarget, context: _TlsContext, timeout: float) -> _Connection:
        client = aiosmtplib.SMTP(
            hostname=target.host,
            port=target.port,
            use_tls=target.implicit_tls,
            # STARTTLS and AUTH are done below, where each failure can be told apart.
            start_tls=False,
            tls_context=context.get() if target.implicit_tls else None,
            timeout=timeout,
        )
        try:
            await client.connect()
            try:
                await client.ehlo()
            except aiosmtplib.SMTPHeloError:
                await client.helo()  # a server from before ESMTP: no TLS, AUTH or SIZE
            secure = target.implicit_tls
            if not secure and target.starttls is not StartTls.OFF:
                if client.supports_extension("starttls"):
                    await client.starttls(tls_context=context.get())
                    await client.ehlo()  # what the server offers may change under TLS
                    secure = True
                elif target.starttls is StartTls.REQUIRE:
                    raise _NotReady(
                        "the mail server does not offer STARTTLS, which the SMTP URL "
                        "requires (?starttls=require)"
                    )
            if target.username is not None:
                if not secure and not target.is_loopback:
                    raise _NotReady(
                        "refusing to send the SMTP password over an unencrypted connection: "
                        "use smtps://, or a mail server that offers STARTTLS"
                    )
                await client.login(target.username, target.password or "")
        except _NotReady:
            client.close()
            raise
        except aiosmtplib.SMTPAuthenticationError as refused:
            client.close()
            raise _NotReady(
                f"the mail server refused the login of the SMTP URL's user: "
                f"{refused.code} {_flat(refused.message)}"
            ) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as failure:
            client.close()
            raise _NotReady(_describe(failure, target)) from None
        except BaseException:
            client.close()
            raise
        return cls(client)

    @property
    def is_open(self) -> bool:
        return self.client.is_connected

    async def transact(self, sender: str, recipient: str, message: bytes) -> SendOutcome:
        """MAIL, RCPT, DATA for one e-mail; a refusal is an outcome, a broken connection
        raises ``_Broken``."""
        self.mails += 1
        client = self.client
        options: list[str] = []
        encoding = "ascii"
        if not (sender.isascii() and recipient.isascii()):
            if not client.supports_extension("smtputf8"):
                return SendOutcome(
                    accepted=False,
                    code=None,
                    text="the address is not ASCII and the mail server does not offer SMTPUTF8",
                )
            options.append("SMTPUTF8")
            encoding = "utf-8"
        if client.supports_extension("size"):
            # The server refuses an e-mail too large at MAIL, before it is transmitted.
            options.append(f"SIZE={len(message)}")
        data_sent = False
        # No timeout per command (timeout=None): send() bounds the whole attempt, and a
        # timer per command would be a third of the transport's work per e-mail.
        try:
            response = await client.execute_command(
                b"MAIL",
                b"FROM:" + _path(sender, encoding),
                *(option.encode() for option in options),
                timeout=None,
            )
            if response.code != 250:
                raise aiosmtplib.SMTPSenderRefused(response.code, response.message, sender)
            response = await client.execute_command(
                b"RCPT", b"TO:" + _path(recipient, encoding), timeout=None
            )
            if response.code not in (250, 251):
                raise aiosmtplib.SMTPRecipientRefused(response.code, response.message, recipient)
            data_sent = True
            reply = await client.data(message, timeout=None)
        except ValueError as invalid:  # an address that cannot be put in a command
            await self.reset()
            return SendOutcome(accepted=False, code=None, text=_flat(f"not sent: {invalid}"))
        except aiosmtplib.SMTPResponseException as refusal:
            if refusal.code == 421 and not data_sent:
                # "Closing the connection": the server's word for dropping us (an idle
                # timeout, too many e-mails on one connection), not about this e-mail.
                raise _Broken(_flat(refusal.message), before_data=True, code=421) from None
            if refusal.code == 530 and not data_sent:
                # Authentication required: the deployer's configuration, not the e-mail;
                # kept for a later try rather than rejected for good.
                await self.reset()
                return SendOutcome(
                    accepted=False,
                    code=None,
                    text=(
                        f"the mail server requires a login (530 {_flat(refusal.message)}): "
                        "put user:password@ in the SMTP URL"
                    ),
                )
            await self.reset()
            return SendOutcome(accepted=False, code=refusal.code, text=_flat(refusal.message))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as failure:
            self.client.close()
            raise _Broken(
                f"{type(failure).__name__}: {failure}"[:TEXT_MAX], before_data=not data_sent
            ) from None
        return SendOutcome(accepted=True, code=reply.code, text=_flat(reply.message) or "OK")

    async def reset(self) -> None:
        """After a refusal the transaction must be reset before the next e-mail."""
        if not self.client.is_connected:
            return
        try:
            await self.client.rset()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            self.client.close()

    async def quit(self) -> None:
        if self.client.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await self.client.quit(timeout=QUIT_TIMEOUT)
        self.client.close()


class SmtpTransport:
    """Sends over at most ``max_connections`` connections to one server at once, reusing
    them. Each ``send()`` — waiting for a connection, connecting and retrying included —
    takes at most ``timeout`` seconds, so a worker's lease can be sized to it."""

    def __init__(
        self,
        target: SmtpTarget,
        *,
        timeout: float,
        max_connections: int = 1,
        ca_file: Path | None = None,
        idle_close_after: float = IDLE_CLOSE_AFTER,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.target = target
        self.timeout = timeout
        self.max_connections = max_connections
        self.idle_close_after = idle_close_after
        self._tls = _TlsContext(ca_file)
        # A slot is held while a connection is in use (or being closed), so the server never
        # sees more than max_connections from this transport.
        self._slots = asyncio.Semaphore(max_connections)
        # Most recently used last: taken from the end, it is the least likely to have been
        # dropped; the reaper closes from the front.
        self._idle: list[_Connection] = []
        self._reaper: asyncio.Task[None] | None = None
        self._closed = False
        # What the server said to the last e-mail (frontdesk.health reports it).
        self.last_outcome: SendOutcome | None = None

    async def send(self, sender: str, recipient: str, message: bytes) -> SendOutcome:
        """Send one e-mail to one recipient; never raises for anything SMTP or the network
        does."""
        if self._closed:
            raise RuntimeError("the SMTP transport is closed")
        try:
            async with asyncio.timeout(self.timeout), self._slots:
                outcome = await self._send(sender, recipient, message)
        except TimeoutError:
            outcome = SendOutcome(
                accepted=False, code=None, text=f"timed out after {self.timeout:g} s"
            )
        self.last_outcome = outcome
        return outcome

    async def _send(self, sender: str, recipient: str, message: bytes) -> SendOutcome:
        connection = self._take_idle()
        while True:
            if connection is None:
                try:
                    connection = await _Connection.open(self.target, self._tls, self.timeout)
                except _NotReady as failure:
                    return SendOutcome(accepted=False, code=None, text=str(failure)[:TEXT_MAX])
            reused = connection.mails > 0
            try:
                outcome = await connection.transact(sender, recipient, message)
            except _Broken as broken:
                connection.client.close()
                connection = None
                if reused and broken.before_data:
                    # A pooled connection the server had dropped; the e-mail has not gone
                    # out, so it goes once more over a fresh connection (which is not
                    # ``reused``, so this happens at most once).
                    continue
                return SendOutcome(accepted=False, code=broken.code, text=broken.text)
            except BaseException:
                # Cancelled (the timeout) or a bug: the connection is mid-transaction.
                connection.client.close()
                raise
            if connection.is_open:
                self._put_idle(connection)
            return outcome

    def _take_idle(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.is_open:
                return connection
            connection.client.close()
        return None

    def _put_idle(self, connection: _Connection) -> None:
        if self._closed:
            connection.client.close()
            return
        connection.idle_since = asyncio.get_running_loop().time()
        self._idle.append(connection)
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap(), name="smtp-idle-reaper")

    async def _reap(self) -> None:
        """Close connections unused for ``idle_close_after``, oldest first."""
        loop = asyncio.get_running_loop()
        while self._idle:
            oldest = self._idle[0]
            wait = oldest.idle_since + self.idle_close_after - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            # Holding a slot while it says QUIT keeps the count of open connections within
            # max_connections; a sender may have taken this one meanwhile.
            async with self._slots:
                if self._idle and self._idle[0] is oldest:
                    self._idle.pop(0)
                    await oldest.quit()

    async def close(self) -> None:
        """QUIT every idle connection; a send in progress finishes and then closes its own."""
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        idle, self._idle = self._idle, []
        await asyncio.gather(*(connection.quit() for connection in idle))


def _path(address: str, encoding: str) -> bytes:
    """``<address>`` for MAIL and RCPT. A bare address (what the engine sends to) is taken as
    it is; anything else is parsed by aiosmtplib, which is exact but costs more per e-mail
    than the rest of the transaction."""
    if not _BARE_ADDRESS.fullmatch(address):
        address = parse_address(address)
    return f"<{address}>".encode(encoding)


def _flat(text: str) -> str:
    return " ".join(text.split())[:TEXT_MAX]


def _describe(failure: BaseException, target: SmtpTarget) -> str:
    """Why a connection could not be made ready, in words a deployer can act on."""
    cause: BaseException | None = failure
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return _flat(
                f"TLS certificate verification failed for {target.host}: "
                f"{cause.verify_message or cause} (trusted CAs: FRONTDESK_SMTP_CA_FILE, "
                "else the system's trust store)"
            )
        cause = cause.__cause__ or cause.__context__
    if isinstance(failure, aiosmtplib.SMTPResponseException):
        return _flat(f"{failure.code} {failure.message}")
    return f"{type(failure).__name__}: {failure}"[:TEXT_MAX]
