"""Real SMTP servers on loopback (aiosmtpd) for the transport tests: implicit TLS or
STARTTLS with a certificate from a test CA (trustme), AUTH, and the ways a real server
misbehaves — dropping a reused connection at MAIL, closing after DATA without a reply,
never answering. Each server counts the connections it sees, and the most it had open at
once, so the tests can check reuse and the connection limit without timing anything.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import quote

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support import eventually, free_port

USER = "frontdesk"
PASSWORD = "s3cret pass/word"  # with characters a URL must percent-encode

Tls = Literal["implicit", "starttls", "none"]


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_to: str
    raw: bytes
    tls: bool
    login: str | None


@dataclass
class ServerLog:
    """What the server saw; shared by every connection (each runs on the server's thread)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    received: list[Received] = field(default_factory=list)
    # DATA contents that arrived, replied to or not: nothing may arrive twice.
    data_arrivals: list[bytes] = field(default_factory=list)

    def opened(self) -> None:
        with self.lock:
            self.connections += 1
            self.open_now += 1
            self.most_open = max(self.most_open, self.open_now)

    def closed(self) -> None:
        with self.lock:
            self.open_now -= 1

    def reset(self) -> None:
        with self.lock:
            self.connections = self.open_now = self.most_open = 0


@dataclass
class Behaviour:
    """How the server treats a transaction that is not the first on its connection."""

    # "close": drop the connection without a reply, as a server that timed the client out
    # does when the client's next command crosses the close; "421": say so first.
    mail_on_reuse: Literal["ok", "close", "421"] = "ok"
    # Take the e-mail's content, then drop the connection without replying.
    close_after_data_on_reuse: bool = False
    # Hold every DATA this long before answering.
    data_delay: float = 0.0


class RecordingSMTP(SMTP):
    """aiosmtpd's server, counting connections and numbering transactions per connection."""

    def __init__(self, handler: Any, log: ServerLog, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.log = log
        self.transactions = 0
        self.implicit_tls = False
        self._counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Called again after STARTTLS for the same connection; counted once.
        if not self._counted:
            self._counted = True
            self.log.opened()
            # aiosmtpd knows TLS only from STARTTLS (session.ssl); smtps is seen here.
            self.implicit_tls = transport.get_extra_info("ssl_object") is not None
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted:
            self._counted = False
            self.log.closed()
        super().connection_lost(error)


@dataclass
class Handler:
    log: ServerLog
    behaviour: Behaviour

    async def handle_MAIL(
        self, server: RecordingSMTP, _session: Session, envelope: Envelope, address: str, _o: Any
    ) -> str:
        server.transactions += 1
        if server.transactions > 1:
            if self.behaviour.mail_on_reuse == "close":
                assert server.transport is not None
                server.transport.close()
                return "250 OK (never seen: the connection is closed)"
            if self.behaviour.mail_on_reuse == "421":
                assert server.transport is not None
                cast(asyncio.WriteTransport, server.transport).write(
                    b"421 4.4.2 Idle for too long, closing\r\n"
                )
                server.transport.close()
                return "250 OK (never seen: the connection is closed)"
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: RecordingSMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        with self.log.lock:
            self.log.data_arrivals.append(raw)
        if self.behaviour.close_after_data_on_reuse and server.transactions > 1:
            assert server.transport is not None
            server.transport.close()
            return "250 OK (never seen: the connection is closed)"
        if self.behaviour.data_delay:
            await asyncio.sleep(self.behaviour.data_delay)
        login = session.auth_data.login.decode() if session.auth_data is not None else None
        with self.log.lock:
            for rcpt in envelope.rcpt_tos:
                self.log.received.append(
                    Received(
                        str(envelope.mail_from),
                        rcpt,
                        raw,
                        tls=server.implicit_tls or session.ssl is not None,
                        login=login,
                    )
                )
        return "250 2.0.0 OK: queued"


def authenticate(
    _server: SMTP, _session: Session, _envelope: Envelope, _mechanism: str, auth_data: Any
) -> AuthResult:
    good = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=good, handled=False, auth_data=auth_data if good else None)


class RecordingController(Controller):
    def __init__(self, handler: Handler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.log = handler.log

    def factory(self) -> SMTP:
        with warnings.catch_warnings():
            # Its warning about AUTH without required TLS: the tests mean it (smtps, or
            # the loopback case).
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return RecordingSMTP(self.handler, self.log, **self.SMTP_kwargs)


@dataclass
class TestAuthority:
    """A certificate authority made for the test, with a server certificate for loopback."""

    __test__ = False  # not a test class, whatever its name says to pytest

    ca: trustme.CA
    directory: Path

    @property
    def ca_file(self) -> Path:
        path = self.directory / "ca.pem"
        if not path.exists():
            self.ca.cert_pem.write_to_path(str(path))
        return path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        return context


@dataclass
class RunningServer:
    port: int
    log: ServerLog
    tls: Tls
    host: str = "127.0.0.1"

    def url(self, *, login: tuple[str, str] | None = None, query: str = "") -> str:
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        user = f"{quote(login[0], safe='')}:{quote(login[1], safe='')}@" if login else ""
        return f"{scheme}://{user}{self.host}:{self.port}{query}"

    @property
    def received(self) -> list[Received]:
        with self.log.lock:
            return list(self.log.received)


@contextmanager
def smtp_server(
    *,
    tls: Tls = "none",
    ca: TestAuthority | None = None,
    auth: bool = False,
    auth_over_plaintext: bool = False,
    behaviour: Behaviour | None = None,
    bind: str = "127.0.0.1",
    idle_timeout: float = 300,
) -> Iterator[RunningServer]:
    """A server on a free port; ``auth`` makes a login (USER, PASSWORD) required before MAIL,
    and allowed only over TLS unless ``auth_over_plaintext``."""
    log = ServerLog()
    handler = Handler(log, behaviour or Behaviour())
    port = free_port()
    options: dict[str, Any] = {"timeout": idle_timeout}
    if tls == "implicit":
        assert ca is not None
        options["ssl_context"] = ca.server_context()
    elif tls == "starttls":
        assert ca is not None
        options["tls_context"] = ca.server_context()
    if auth:
        options |= {
            "auth_required": True,
            "authenticator": authenticate,
            # aiosmtpd takes a connection for unencrypted unless it did STARTTLS, so with
            # implicit TLS it must be told that AUTH is fine.
            "auth_require_tls": not (tls == "implicit" or auth_over_plaintext),
        }
    controller = RecordingController(handler, hostname=bind, port=port, **options)
    controller.start()
    # The controller made a connection of its own to see that the server is up; once it
    # has gone, counting starts from zero.
    eventually(
        lambda: not log.open_now, timeout=10, interval=0.01, what="the controller's check gone"
    )
    log.reset()
    try:
        yield RunningServer(port, log, tls, host=bind)
    finally:
        controller.stop()
