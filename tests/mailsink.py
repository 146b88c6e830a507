"""A real SMTP server on loopback (aiosmtpd) that the tests send notification e-mail to.

It keeps every e-mail it accepted, and can be told to answer a recipient with temporary
(4xx) or permanent (5xx) failures, to refuse a share of all recipients with 451 at random,
to take its time over DATA, or to go away for a while and come back on its port. An e-mail
whose client went away before the server's reply is not kept: the client cannot have seen a
250, so for the sender it was never delivered.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support import eventually, free_port


@dataclass
class Caught:
    mail_from: str
    rcpt_to: str
    raw: bytes
    received_at: float

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def text(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        content: str = part.get_content()
        return content


@dataclass
class SinkHandler:
    caught: list[Caught] = field(default_factory=list)
    # Replies to RCPT TO per address, used up one per attempt; then 250.
    scripted: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    data_delay: float = 0.0
    # Set while a DATA is being taken in and not yet answered.
    in_data: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    attempts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # This share of RCPTs, at random, is answered 451 (a greylisting or busy server).
    refusing: float = 0.0
    refused: int = 0
    chance: random.Random = field(default_factory=lambda: random.Random(451))

    async def handle_RCPT(
        self, _server: SMTP, _session: Session, envelope: Envelope, address: str, _options: Any
    ) -> str:
        with self.lock:
            self.attempts[address.lower()] += 1
            script = self.scripted.get(address.lower())
            reply = script.pop(0) if script else None
            if reply is None and self.refusing and self.chance.random() < self.refusing:
                self.refused += 1
                reply = "451 4.7.1 Busy, try again later"
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, _session: Session, envelope: Envelope) -> str:
        if self.data_delay:
            self.in_data.set()
            try:
                await asyncio.sleep(self.data_delay)
            finally:
                self.in_data.clear()
        transport = server.transport
        if transport is None or transport.is_closing():
            return "451 the client went away"
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.caught.append(
                    Caught(
                        mail_from=str(envelope.mail_from),
                        rcpt_to=rcpt,
                        raw=envelope.original_content or b"",
                        received_at=time.monotonic(),
                    )
                )
        return "250 OK: kept by the test sink"


class MailSink:
    def __init__(self, handler: SinkHandler, port: int) -> None:
        self.handler = handler
        self.port = port
        self.controller: Controller | None = None

    def go_away(self) -> None:
        """The mail server stops: connections refused until ``come_back``."""
        assert self.controller is not None
        self.controller.stop()
        self.controller = None

    def come_back(self) -> None:
        """The mail server starts again on its port, keeping what it caught."""
        assert self.controller is None
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def caught(self) -> list[Caught]:
        with self.handler.lock:
            return list(self.handler.caught)

    def to(self, *addresses: str) -> list[Caught]:
        """The e-mails to any of ``addresses``. A test on the session's shared database
        counts its own agents' e-mails only: its engine also sends what earlier tests left
        due (a retry, a digest), to their agents."""
        wanted = {address.lower() for address in addresses}
        return [c for c in self.caught if c.rcpt_to.lower() in wanted]

    def script(self, address: str, *replies: str) -> None:
        with self.handler.lock:
            self.handler.scripted[address.lower()].extend(replies)

    def attempts(self, address: str) -> int:
        with self.handler.lock:
            return self.handler.attempts[address.lower()]

    def wait_for(
        self, count: int, *, timeout: float = 10, to: str | Sequence[str] | None = None
    ) -> list[Caught]:
        """At least ``count`` e-mails (to ``to``, an address or several, if given), or a
        TimeoutError."""

        def arrived() -> list[Caught]:
            if to is None:
                caught = self.caught
            else:
                caught = self.to(to) if isinstance(to, str) else self.to(*to)
            assert len(caught) >= count, f"{len(caught)} of {count} e-mails"
            return caught

        return eventually(arrived, timeout=timeout, interval=0.02, what=f"{count} e-mails")


@contextmanager
def mail_sink(**handler_options: Any) -> Iterator[MailSink]:
    sink = MailSink(SinkHandler(**handler_options), free_port())
    sink.come_back()
    try:
        yield sink
    finally:
        if sink.controller is not None:
            sink.controller.stop()
