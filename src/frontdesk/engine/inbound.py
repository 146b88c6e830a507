"""The inbound endpoint, running: the mail layer's inbound SMTP server
(``frontdesk.mail.inbound``) wired to the records, bounces to ``frontdesk.service.bounces``
and, with reply by e-mail on, replies to ``frontdesk.service.replies``; each e-mail recorded
in a thread so the server's event loop never waits on the database. It runs inside
``frontdesk serve`` when ``inbound_port`` is set, or alone as ``frontdesk inbound``.
Design notes: docs/email.md (bounces), docs/reply-by-email.md (replies)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import replace
from email import message_from_bytes
from email.policy import compat32
from functools import partial

import anyio.to_thread
import dkim

from frontdesk.mail.check.dmarc import organizational_domain
from frontdesk.mail.inbound import InboundServer, RecipientStatus, ReplyReceiving, TryAgainLater
from frontdesk.mail.reading import Authentication, ReceivedEmail, read_received
from frontdesk.mail.verp import delivery_of_token, outbox_of_token
from frontdesk.service import bounces, replies
from frontdesk.service.runtime import Runtime

log = logging.getLogger("frontdesk.engine.inbound")

# dkimpy's way to look up a TXT record: name in, record's text out.
DnsFunction = Callable[..., bytes]
_SIGNING_DOMAIN = re.compile(r"(?:^|;)\s*d\s*=\s*([^;\s]+)", re.IGNORECASE)


class InboundReceiver:
    """Receives bounces (and replies) on ``inbound_host:inbound_port`` (``port`` may be
    given instead, 0 for any free one; after ``start`` it is the bound port).
    ``dkim_dns``: how DKIM keys are looked up (default: this machine's resolver)."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        host: str | None = None,
        port: int | None = None,
        dkim_dns: DnsFunction | None = None,
    ):
        settings = runtime.settings
        self.runtime = runtime
        self.host = host or settings.inbound_host
        port = settings.inbound_port if port is None else port
        if port is None:
            raise ValueError("the inbound endpoint needs a port (inbound_port)")
        self.port = port
        self.address = bounces.bounce_address(settings)
        self.dkim_dns = dkim_dns
        self._server: InboundServer | None = None

    async def start(self) -> None:
        rt = self.runtime
        # The key is made (once per installation) in a transaction of its own.
        key = await anyio.to_thread.run_sync(bounces.verp_key, rt)
        receiving = None
        if rt.settings.replies_enabled:
            receiving = ReplyReceiving(
                domain=rt.settings.effective_reply_domain,
                check=self._reply_refusal,
                on_reply=self._receive_replies,
            )
        self._server = InboundServer(
            self.address,
            token_is_ours=lambda token: (
                delivery_of_token(key, token) is not None or outbox_of_token(key, token) is not None
            ),
            on_bounce=self._record,
            host=self.host,
            port=self.port,
            replies=receiving,
            reply_max_bytes=rt.settings.reply_max_bytes,
        )
        await self._server.start()
        self.port = self._server.port
        log.info(
            "receiving %s on %s:%s",
            self.what,
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

    @property
    def what(self) -> str:
        """What this endpoint takes mail for, to say so at its start."""
        settings = self.runtime.settings
        if not settings.replies_enabled:
            return f"bounces for {self.return_paths}"
        return (
            f"bounces for {self.return_paths} and replies for "
            f"reply+…@{settings.effective_reply_domain}"
        )

    async def _record(self, token: str, failure: RecipientStatus) -> None:
        result = await anyio.to_thread.run_sync(
            lambda: bounces.record_bounce(
                self.runtime,
                token,
                status=failure.status,
                bounce_text=failure.bounce_text,
                final_recipient=failure.final_recipient,
            )
        )
        if result is bounces.BounceResult.IN_FLIGHT:
            raise TryAgainLater("the e-mail is being sent right now")

    async def _reply_refusal(self, token: str, mail_from: str) -> str | None:
        reason = await anyio.to_thread.run_sync(
            replies.refusal_at_rcpt, self.runtime, token, mail_from
        )
        return None if reason is None else replies.reason_text(reason)

    async def _receive_replies(self, tokens: list[str], raw: bytes, mail_from: str) -> str:
        """Each reply stored (or refused) before the answer: 250 means committed."""
        try:
            email = await anyio.to_thread.run_sync(self._read, raw, mail_from)
            results = [
                await anyio.to_thread.run_sync(
                    partial(replies.receive, self.runtime, token, email, via="smtp")
                )
                for token in tokens
            ]
        except Exception:
            log.exception("could not store a reply e-mail")
            return "451 4.3.0 Could not store the e-mail; try again later"
        refused = [r for r in results if not r.taken]
        if refused and len(results) == 1:
            return f"550 5.7.1 {replies.reason_text(refused[0].reason)}"
        return f"250 OK: {', '.join(sorted({r.reason for r in results}))}"

    def _read(self, raw: bytes, mail_from: str) -> ReceivedEmail:
        trusted = self.runtime.settings.inbound_authserv_id
        read = read_received(
            raw,
            envelope_sender=mail_from,
            text_limit=replies.REPLY_TEXT_MAX,
            authserv_id=trusted,
        )
        if trusted and read.authentication != Authentication():
            return read  # the verdicts of the mail server in front, named by the operator
        # Authentication-Results in an e-mail that came straight here were written by the
        # sender: only what is checked here counts.
        return replace(read, authentication=self._checked(raw, read.sender))

    def _checked(self, raw: bytes, sender: str) -> Authentication:
        """DKIM checked here (dkimpy); DMARC passes when a passing signature's domain is
        aligned with the From's. SPF is not checked (docs/reply-by-email.md)."""
        signature = message_from_bytes(raw, policy=compat32).get("dkim-signature")
        if signature is None:
            return Authentication(dkim="none")
        try:
            passed = (
                dkim.verify(raw, dnsfunc=self.dkim_dns, timeout=5)
                if self.dkim_dns is not None
                else dkim.verify(raw, timeout=5)
            )
        except Exception:  # a lookup that failed is no verdict on the e-mail
            log.info("a DKIM signature could not be checked", exc_info=True)
            return Authentication(dkim="temperror")
        if not passed:
            return Authentication(dkim="fail")
        found = _SIGNING_DOMAIN.search(" ".join(str(signature).split()))
        signer = found.group(1).lower() if found else ""
        from_domain = sender.rpartition("@")[2]
        aligned = bool(signer) and organizational_domain(signer) == organizational_domain(
            from_domain
        )
        return Authentication(dkim="pass", dmarc="pass" if aligned else None)
