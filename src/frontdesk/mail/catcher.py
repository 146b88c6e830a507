"""The built-in mail catcher: a real SMTP server on loopback (aiosmtpd) that keeps every
e-mail it receives in a Maildir, so the embedded default shows its notification e-mails
without a mail server. The engine sends to it exactly as it would to a real one, so what
the catcher shows is what a real server would have been sent.

A Maildir is safe for several writers, and any mail client reads it (``mutt -f var/mail``);
``frontdesk serve`` also shows it in the browser at ``/dev/mail`` (``caught_mail`` below).
"""

from __future__ import annotations

import asyncio
import logging
import mailbox
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

from frontdesk.mail.listener import SmtpListener

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


class MailCatcher(SmtpListener):
    def __init__(self, directory: Path, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.directory = directory
        handler = MaildirHandler(directory)
        super().__init__(
            lambda: SMTP(handler, hostname="frontdesk-catcher", ident="Frontdesk mail catcher"),
            host=host,
            port=port,
        )

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"


# --- reading what was caught (the development mailbox page) -----------------------------

_KEY = re.compile(r"^[A-Za-z0-9._,=-]{1,200}$")


@dataclass(frozen=True, slots=True)
class CaughtMail:
    key: str  # the Maildir key: the page's address of this e-mail
    received_at: datetime
    sender: str
    recipients: str
    subject: str
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def body(self, subtype: str) -> str | None:
        part = self.message.get_body((subtype,))
        if part is None:
            return None
        content = part.get_content()
        return content if isinstance(content, str) else None


def caught_mail(directory: Path, *, limit: int = 200) -> list[CaughtMail]:
    """The newest ``limit`` e-mails the catcher kept, newest first."""
    stamps = _received_times(directory)
    newest = sorted(stamps, key=lambda key: (stamps[key], key), reverse=True)[:limit]
    return [m for key in newest if (m := _read(directory, key, stamps[key]))]


def one_caught_mail(directory: Path, key: str) -> CaughtMail | None:
    if not _KEY.match(key):
        return None
    received_at = _received_times(directory).get(key)
    return None if received_at is None else _read(directory, key, received_at)


def _read(directory: Path, key: str, received_at: datetime) -> CaughtMail | None:
    try:
        raw = mailbox.Maildir(directory, create=False).get_bytes(key)
    except KeyError:  # taken away since the directory was read
        return None
    headers = message_from_bytes(raw, policy=policy.default)
    return CaughtMail(
        key=key,
        received_at=received_at,
        sender=str(headers.get("From", "")),
        recipients=str(headers.get("Delivered-To", headers.get("To", ""))),
        subject=str(headers.get("Subject", "")),
        raw=raw,
    )


def _received_times(directory: Path) -> dict[str, datetime]:
    """Every kept e-mail's key and when it arrived, from one look at the Maildir's folders
    (a file is named ``<key>`` in ``new`` and ``<key>:2,<flags>`` in ``cur``)."""
    times: dict[str, datetime] = {}
    for folder in ("new", "cur"):
        try:
            entries = list(os.scandir(directory / folder))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.is_file() and not entry.name.startswith("."):
                key = entry.name.split(":", 1)[0]
                times[key] = datetime.fromtimestamp(entry.stat().st_mtime, tz=UTC)
    return times
