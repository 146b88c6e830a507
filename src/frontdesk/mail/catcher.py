"""The built-in mail catcher: a real SMTP server on loopback (aiosmtpd) that keeps every
e-mail it receives in a Maildir, so the embedded default shows its notification e-mails
without a mail server. The engine sends to it exactly as it would to a real one, so what
the catcher shows is what a real server would have been sent.

A Maildir is safe for several writers, and any mail client reads it (``mutt -f var/mail``);
``frontdesk serve`` also shows it in the browser at ``/dev/mail`` (``caught_mail`` below).
"""

from __future__ import annotations

import asyncio
import glob
import logging
import mailbox
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
    if not (directory / "new").is_dir():
        return []
    box = mailbox.Maildir(directory, create=False)
    stamped = sorted(((_received_at(directory, key), key) for key in box.iterkeys()), reverse=True)
    return [m for _, key in stamped[:limit] if (m := one_caught_mail(directory, key))]


def one_caught_mail(directory: Path, key: str) -> CaughtMail | None:
    if not _KEY.match(key) or not (directory / "new").is_dir():
        return None
    try:
        raw = mailbox.Maildir(directory, create=False).get_bytes(key)
    except KeyError:
        return None
    headers = message_from_bytes(raw, policy=policy.default)
    return CaughtMail(
        key=key,
        received_at=_received_at(directory, key),
        sender=str(headers.get("From", "")),
        recipients=str(headers.get("Delivered-To", headers.get("To", ""))),
        subject=str(headers.get("Subject", "")),
        raw=raw,
    )


def _received_at(directory: Path, key: str) -> datetime:
    for folder in ("new", "cur"):
        for path in (directory / folder).glob(f"{glob.escape(key)}*"):
            return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    return datetime.fromtimestamp(0, tz=UTC)
