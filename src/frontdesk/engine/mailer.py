"""Where the engine's e-mail goes: the SMTP server of ``FRONTDESK_SMTP_URL``, or, on the
embedded default, the built-in catcher this process starts on loopback."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from frontdesk.mail.compose import write
from frontdesk.mail.content import NotificationEmail
from frontdesk.mail.notices import Notice, write_notice
from frontdesk.mail.transport import SmtpTarget, SmtpTransport
from frontdesk.settings import Settings

if TYPE_CHECKING:
    from frontdesk.mail.catcher import MailCatcher
    from frontdesk.mail.dkim import DkimSigner

log = logging.getLogger("frontdesk.mail")


class Mailer:
    """The transport, the catcher behind it when there is no mail server, and the writer
    that turns a notification into the bytes sent."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catcher: MailCatcher | None = None
        self.transport: SmtpTransport | None = None
        self.signer: DkimSigner | None = None
        if settings.dkim_domain and settings.dkim_selector and settings.dkim_private_key_file:
            # Read here, so a key that cannot sign stops the start, not every e-mail.
            # (dkimpy and dnspython are loaded only by an installation that signs.)
            from frontdesk.mail.dkim import DkimSigner

            self.signer = DkimSigner.from_file(
                domain=settings.dkim_domain,
                selector=settings.dkim_selector,
                key_file=settings.dkim_private_key_file,
            )

    def write(self, email: NotificationEmail) -> bytes:
        """The bytes sent: the e-mail as written, DKIM-signed when a key is configured."""
        message = write(email)
        return self.signer.sign(message) if self.signer is not None else message

    def write_notice(self, notice: Notice) -> bytes:
        """An outbox e-mail's bytes, signed as a notification's are."""
        message = write_notice(notice)
        return self.signer.sign(message) if self.signer is not None else message

    async def start(self) -> SmtpTransport:
        settings = self.settings
        if settings.smtp_url:
            target = SmtpTarget.parse(settings.smtp_url)
        else:
            # aiosmtpd is loaded by the embedded default only, not beside a mail server.
            from frontdesk.mail.catcher import MailCatcher

            self.catcher = MailCatcher(settings.mail_dir, port=settings.mail_catcher_port)
            await self.catcher.start()
            target = SmtpTarget.parse(self.catcher.url)
            log.info(
                "No FRONTDESK_SMTP_URL: notification e-mail is caught by the built-in catcher "
                "(%s), kept in %s (a Maildir; `mutt -f %s` reads it) and shown at %s/dev/mail",
                self.catcher.url,
                settings.mail_dir,
                settings.mail_dir,
                settings.public_url.rstrip("/"),
            )
        self.transport = SmtpTransport(
            target,
            timeout=settings.smtp_timeout,
            max_connections=settings.smtp_max_connections,
            ca_file=settings.smtp_ca_file,
        )
        return self.transport

    async def stop(self) -> None:
        if self.transport is not None:
            await self.transport.close()
            self.transport = None
        if self.catcher is not None:
            await self.catcher.stop()
            self.catcher = None
