"""Reply by e-mail over HTTP (docs/reply-by-email.md): a mail provider's inbound webhook
posts each e-mail for the reply domain here in raw MIME, and owners and admins read what
came back and what became of it."""

from __future__ import annotations

import base64
import binascii
import hmac
from email import message_from_bytes
from email.policy import compat32
from email.utils import getaddresses
from functools import partial
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from starlette.datastructures import UploadFile

from frontdesk.api.deps import AgentDep, RuntimeDep
from frontdesk.api.schemas.inbound import InboundAnswer, InboundEmailOut, InboundResultOut
from frontdesk.errors import InvalidInput, NotAuthenticated, NotFound
from frontdesk.mail.reading import read_received
from frontdesk.mail.reply_address import reply_token_of
from frontdesk.service import replies
from frontdesk.service.accounts import require_manager
from frontdesk.service.runtime import Runtime

router = APIRouter(tags=["inbound"])

# The form fields providers put the raw e-mail in: Mailgun's (``/mime`` routes), SendGrid's
# (Inbound Parse with "send raw"), and a plain ``mime``.
_MIME_FIELDS = ("body-mime", "email", "mime")
# And the recipients: Mailgun's ``recipient``, SendGrid's ``to``.
_RECIPIENT_FIELDS = ("recipient", "to")
# Headers that may name the reply address when the provider names no recipient.
_ADDRESS_HEADERS = ("delivered-to", "x-original-to", "to", "cc")


@router.post("/inbound/mime")
async def receive_mime(request: Request, rt: RuntimeDep) -> InboundAnswer:
    """One e-mail for the reply domain, as a mail provider's inbound webhook posts it: the
    raw MIME as the body (``Content-Type: message/rfc822``), or in a form field
    (``body-mime``, ``email`` or ``mime``, with the recipient in ``recipient`` or ``to``).
    Authenticated by the shared secret ``FRONTDESK_INBOUND_SECRET`` as a Bearer token or as
    the password of HTTP Basic. Every recipient's outcome is answered with 200, so the
    provider does not send it again; only a request that is not one is a 4xx."""
    _require_secret(rt, request.headers.get("authorization", ""))
    raw, recipients = await _posted(request)
    domain = rt.settings.effective_reply_domain
    tokens = _reply_tokens(domain, recipients or _header_addresses(raw))
    if not tokens:
        raise InvalidInput(
            f"None of the e-mail's recipients is a reply address of {domain}.",
            code="no_reply_address",
        )
    email = await anyio.to_thread.run_sync(
        lambda: read_received(
            raw,
            envelope_sender=None,
            text_limit=replies.REPLY_TEXT_MAX,
            authserv_id=rt.settings.inbound_authserv_id,
        )
    )
    results = []
    for token in tokens:
        received = await anyio.to_thread.run_sync(
            partial(replies.receive, rt, token, email, via="webhook")
        )
        results.append(
            InboundResultOut(
                outcome=received.outcome,
                reason=received.reason,
                detail=replies.reason_text(received.reason),
                message_id=received.message_id,
                repeat=received.repeat,
            )
        )
    return InboundAnswer(results=results)


@router.get("/inbound")
def list_inbound(
    caller: AgentDep,
    rt: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[InboundEmailOut]:
    """The e-mails received at the account's reply addresses, newest first, each with what
    became of it and why (owners and admins)."""
    require_manager(caller)
    return [
        InboundEmailOut.model_validate(e)
        for e in replies.recent(rt, caller.account_id, limit=limit)
    ]


def _require_secret(rt: Runtime, authorization: str) -> None:
    secret = rt.settings.inbound_secret
    if secret is None:
        raise NotFound(
            "The inbound webhook is off: set FRONTDESK_INBOUND_SECRET.", code="not_found"
        )
    scheme, _, value = authorization.partition(" ")
    given = ""
    if scheme.lower() == "bearer":
        given = value.strip()
    elif scheme.lower() == "basic":
        try:
            given = base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            given = ""
    if not hmac.compare_digest(given.encode(), secret.get_secret_value().encode()):
        raise NotAuthenticated(
            "The inbound webhook needs the shared secret (FRONTDESK_INBOUND_SECRET), as a "
            "Bearer token or the password of HTTP Basic.",
            code="inbound_secret_required",
        )


async def _posted(request: Request) -> tuple[bytes, list[str]]:
    """The raw e-mail and the recipients the provider named (none: read them from it)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.form()
        raw: bytes | None = None
        for field in _MIME_FIELDS:
            value = form.get(field)
            if isinstance(value, UploadFile):
                raw = await value.read()
            elif isinstance(value, str):
                raw = value.encode("utf-8", "surrogateescape")
            if raw:
                break
        recipients = [str(value) for field in _RECIPIENT_FIELDS for value in form.getlist(field)]
        if not raw:
            raise InvalidInput(
                "The form has no e-mail in body-mime, email or mime.", code="no_email"
            )
        return raw, [address for _, address in getaddresses(recipients) if address]
    if content_type not in ("message/rfc822", "application/octet-stream", "text/plain"):
        raise InvalidInput(
            "Post the e-mail as message/rfc822, or in a multipart/form-data field.",
            code="unsupported_content_type",
        )
    raw = await request.body()
    if not raw.strip():
        raise InvalidInput("The body is empty.", code="no_email")
    return raw, []


def _header_addresses(raw: bytes) -> list[str]:
    headers = message_from_bytes(raw.split(b"\r\n\r\n", 1)[0][:65536], policy=compat32)
    values = [str(v) for name in _ADDRESS_HEADERS for v in headers.get_all(name) or []]
    return [address for _, address in getaddresses(values) if address]


def _reply_tokens(domain: str, addresses: list[str]) -> list[str]:
    tokens: list[str] = []
    for address in addresses:
        token = reply_token_of(domain, address)
        if token is not None and token not in tokens:
            tokens.append(token)
    return tokens
