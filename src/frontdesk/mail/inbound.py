"""The inbound SMTP endpoint: asynchronous bounces, and replies to reply addresses
(docs/reply-by-email.md), with the reader of the bounces.

A mail server that accepted a notification e-mail and could not deliver it afterwards sends
a delivery-status notification (DSN, RFC 3464) to the e-mail's envelope sender: a VERP return
path (``frontdesk.mail.verp``) that names the delivery. ``InboundServer`` is an SMTP server
(aiosmtpd) that takes mail only for return paths this installation made (550 for any other
address, so it is no open mail sink), reads each e-mail with the stdlib ``email`` package,
and hands every permanent failure it reports to a callback; recording it is the caller's
business (this module knows no database). Anything else sent to a return path — a delayed
notice, an auto-reply, a human answering — is accepted and dropped with a log line.

With ``ReplyReceiving`` given, it also takes mail for the reply addresses of its domain
(``frontdesk.mail.reply_address``): a token that is not live is refused at RCPT (550),
and the e-mail is handed to a callback that answers for it, 250 only once it is stored.

Everything in a DSN is written by a remote server: the fields are read as text, lose their
control characters and are shortened before anyone sees or logs them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email import message_from_bytes, message_from_string
from email.message import Message
from email.policy import compat32
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from frontdesk.mail.listener import SmtpListener
from frontdesk.mail.reply_address import reply_token_of
from frontdesk.mail.verp import token_of

log = logging.getLogger("frontdesk.mail.inbound")

# A DSN is the report plus, at most, the returned e-mail; ours are small. Larger gets 552.
DATA_SIZE_LIMIT = 1024 * 1024
DIAGNOSTIC_MAX = 1000
FIELD_MAX = 320
# How long a connection may sit idle between commands (aiosmtpd's default is 5 minutes).
IDLE_TIMEOUT = 60.0
_LOG_MAX = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]+")
_STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
# "smtp; 550 …", "X-Postfix; …", "rfc822; someone@example.com": the type before the ";".
_TYPED = re.compile(r"^\s*[A-Za-z][A-Za-z0-9.-]{0,30}\s*;\s*")
_REPORT_PARTS = ("message/delivery-status", "message/global-delivery-status")


def clean_text(value: str, *, limit: int) -> str:
    """Remote text made fit to keep and show: one line, no control characters (nor the
    invisible ones that reorder text), at most ``limit`` characters."""
    try:  # bytes the parser kept as surrogates are read as UTF-8
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    flat = " ".join(_CONTROL.sub(" ", value).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def for_log(value: str | bytes) -> str:
    """Remote text for a log line: short, and ``repr`` so nothing in it acts on a terminal."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return repr(text[:_LOG_MAX] + ("…" if len(text) > _LOG_MAX else ""))


# --- reading a delivery-status notification ------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    """The per-recipient fields of a DSN (RFC 3464 section 2.3), cleaned."""

    action: str  # failed, delayed, delivered, relayed, expanded (lower case)
    status: str | None  # "5.1.1", or None when missing or malformed
    bounce_text: str | None  # the Diagnostic-Code without its type ("smtp;")
    final_recipient: str | None  # without its type ("rfc822;")


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    reporting_mta: str | None
    recipients: tuple[RecipientStatus, ...]

    @property
    def failure(self) -> RecipientStatus | None:
        """The recipient this report says the e-mail was not delivered to, if any.

        ``failed`` means the reporting server gave up for good (RFC 3464 2.3.3), whatever the
        class of its status: a 4.x.x with ``failed`` is "temporary failures for too long",
        and the e-mail is just as lost. Frontdesk sends each e-mail to one recipient, so
        the first failed one is the one.
        """
        return next((r for r in self.recipients if r.action == "failed"), None)


def read_delivery_report(raw: bytes) -> DeliveryReport | None:
    """The DSN in an e-mail, or ``None`` when the e-mail is not one (``multipart/report;
    report-type=delivery-status`` with a ``message/delivery-status`` part)."""
    try:
        message = message_from_bytes(raw, policy=compat32)
        if message.get_content_type() != "multipart/report":
            return None
        report_type = message.get_param("report-type")
        if not isinstance(report_type, str) or report_type.lower() != "delivery-status":
            return None
        parts = message.get_payload()
        if not isinstance(parts, list):
            return None
        status_part = next(
            (p for p in parts if isinstance(p, Message) and p.get_content_type() in _REPORT_PARTS),
            None,
        )
        if status_part is None:
            return None
        blocks = _field_blocks(status_part)
        if not blocks:
            return None
        per_message, per_recipient = blocks[0], blocks[1:]
        return DeliveryReport(
            reporting_mta=_field(per_message, "reporting-mta", typed=True),
            recipients=tuple(
                _recipient_status(block) for block in per_recipient if _field(block, "action")
            ),
        )
    except Exception:  # the stdlib is lenient; whatever still breaks it is not a DSN
        log.info("an e-mail to a return path could not be read", exc_info=True)
        return None


def _field_blocks(part: Message) -> list[Message]:
    """The groups of fields of a delivery-status part: per message first, then one per
    recipient. The stdlib splits ``message/delivery-status`` into them itself; the UTF-8
    ``message/global-delivery-status`` (RFC 6533) it reads as one e-mail, split here."""
    payload = part.get_payload()
    if part.get_content_type() == "message/delivery-status" and isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    if isinstance(payload, list):
        text = "\n".join(_raw_text(block) for block in payload if isinstance(block, Message))
    elif isinstance(payload, str):
        text = payload
    else:
        return []
    chunks = re.split(r"\r?\n[ \t]*\r?\n", text.strip())
    return [message_from_string(chunk + "\n\n", policy=compat32) for chunk in chunks if chunk]


def _raw_text(block: Message) -> str:
    """A parsed block back as its text, 8-bit bytes kept (``as_string`` would replace them)."""
    fields = "".join(f"{name}: {value}\n" for name, value in block.raw_items())
    # Bytes, as sent: without ``decode`` the stdlib would replace what is not ASCII.
    body = block.get_payload(decode=True)
    return fields + "\n" + (body.decode("utf-8", "replace") if isinstance(body, bytes) else "")


def _field(block: Message, name: str, *, typed: bool = False, limit: int = FIELD_MAX) -> str | None:
    # The raw value: the stdlib would make 8-bit text (UTF-8 in the Diagnostic-Code) a ``Header``
    # that prints as replacement characters; ``clean_text`` decodes it as UTF-8 instead.
    text = next((v for k, v in block.raw_items() if k.lower() == name), None)
    if text is None:
        return None
    if typed:
        text = _TYPED.sub("", text, count=1)
    return clean_text(text, limit=limit) or None


def _recipient_status(block: Message) -> RecipientStatus:
    action = (_field(block, "action") or "").split("(")[0].strip().lower()
    status_text = _field(block, "status") or ""
    match = _STATUS.match(status_text)
    return RecipientStatus(
        action=action,
        status=".".join(match.groups()) if match else None,
        bounce_text=_field(block, "diagnostic-code", typed=True, limit=DIAGNOSTIC_MAX),
        final_recipient=_field(block, "final-recipient", typed=True),
    )


# --- the SMTP endpoint --------------------------------------------------------------------


# Called with the return path's token and the failure the DSN reports. It records the
# bounce; an exception makes the endpoint answer 451, so the sending server tries again.
BounceCallback = Callable[[str, RecipientStatus], Awaitable[None]]


class TryAgainLater(Exception):
    """Raised by a ``BounceCallback`` that cannot record the report yet (the e-mail it is
    about is still being sent): the sending server is told 451 and tries again later."""


# Whether this installation made the token (an HMAC check; no I/O).
TokenCheck = Callable[[str], bool]


# Called at RCPT with a reply address's token and the envelope sender: ``None`` takes it,
# a text refuses it (550).
ReplyCheck = Callable[[str, str], Awaitable[str | None]]
# Called at DATA with the reply tokens, the e-mail and the envelope sender ("" for the null
# sender); returns the SMTP answer, given only once the e-mail is stored.
ReplyCallback = Callable[[list[str], bytes, str], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class ReplyReceiving:
    domain: str
    check: ReplyCheck
    on_reply: ReplyCallback


class ReturnPathHandler:
    """aiosmtpd's hooks: RCPT for our return paths (and reply addresses) only, DATA read
    as a DSN (or handed to the replies' callback)."""

    def __init__(
        self,
        bounce_address: str,
        *,
        token_is_ours: TokenCheck,
        on_bounce: BounceCallback,
        replies: ReplyReceiving | None = None,
    ) -> None:
        self.bounce_address = bounce_address
        self.token_is_ours = token_is_ours
        self.on_bounce = on_bounce
        self.replies = replies

    def _reply_token(self, address: str) -> str | None:
        return reply_token_of(self.replies.domain, address) if self.replies else None

    async def handle_RCPT(
        self, _server: SMTP, session: Session, envelope: Envelope, address: str, _options: Any
    ) -> str:
        if self.replies is not None and (reply := self._reply_token(address)) is not None:
            try:
                refusal = await self.replies.check(reply, str(envelope.mail_from or ""))
            except Exception:
                log.exception("could not look up a reply address")
                return "451 4.3.0 Could not look up the address; try again later"
            if refusal is not None:
                log.info("refused mail for a reply address (%s) from %s", refusal, session.peer)
                return f"550 5.1.1 {refusal}"
            envelope.rcpt_tos.append(address)
            return "250 OK"
        token = token_of(self.bounce_address, address)
        if token is None or not self.token_is_ours(token):
            log.info("refused mail for %s from %s", for_log(address), session.peer)
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        replies = [t for rcpt in envelope.rcpt_tos if (t := self._reply_token(rcpt))]
        if replies and self.replies is not None:
            # A reply address and a return path in one envelope: only the reply is read.
            return await self.replies.on_reply(replies, raw, str(envelope.mail_from or ""))
        report = read_delivery_report(raw)
        tokens = [t for rcpt in envelope.rcpt_tos if (t := token_of(self.bounce_address, rcpt))]
        if report is None:
            subject = message_from_bytes(raw[:8192], policy=compat32).get("subject", "")
            log.info(
                "mail to a return path that is no delivery report (an auto-reply?), "
                "dropped: from %s, subject %s",
                for_log(str(envelope.mail_from)),
                for_log(str(subject)),
            )
            return "250 OK: not a delivery report, dropped"
        failure = report.failure
        if failure is None:
            actions = ", ".join(sorted({r.action or "?" for r in report.recipients})) or "none"
            log.info(
                "a delivery report (%s) from %s for %s, nothing failed: nothing to record",
                for_log(actions),
                for_log(report.reporting_mta or str(session.peer)),
                for_log(", ".join(tokens)),
            )
            return "250 OK: noted"
        try:
            for token in tokens:
                await self.on_bounce(token, failure)
        except TryAgainLater as later:
            log.info("a delivery report for %s, not yet: %s", for_log(", ".join(tokens)), later)
            return "451 4.3.0 The e-mail is still being sent; try again later"
        except Exception:
            log.exception("could not record a bounce for %s", for_log(", ".join(tokens)))
            return "451 4.3.0 Could not record the report; try again later"
        return "250 OK: bounce recorded"


class InboundServer(SmtpListener):
    """The endpoint on ``host:port`` (0 picks a free port, then ``port`` says which)."""

    def __init__(
        self,
        bounce_address: str,
        *,
        token_is_ours: TokenCheck,
        on_bounce: BounceCallback,
        host: str = "127.0.0.1",
        port: int = 0,
        hostname: str | None = None,
        replies: ReplyReceiving | None = None,
        reply_max_bytes: int = DATA_SIZE_LIMIT,
    ) -> None:
        self.handler = ReturnPathHandler(
            bounce_address, token_is_ours=token_is_ours, on_bounce=on_bounce, replies=replies
        )
        self.hostname = hostname
        size_limit = max(DATA_SIZE_LIMIT, reply_max_bytes) if replies else DATA_SIZE_LIMIT
        super().__init__(
            lambda: SMTP(
                self.handler,
                hostname=self.hostname,
                ident="Frontdesk inbound endpoint",
                data_size_limit=size_limit,
                # A DSN for an internationalized address (RFC 6533) may need it.
                enable_SMTPUTF8=True,
                timeout=IDLE_TIMEOUT,
            ),
            host=host,
            port=port,
        )
