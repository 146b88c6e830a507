"""Bodies of the inbound routes: what became of an e-mail a mail provider posted, and the
received replies an owner or admin sees (docs/reply-by-email.md)."""

from __future__ import annotations

from datetime import datetime

from frontdesk.api.schemas.common import Response
from frontdesk.store.models import InboundOutcome


class InboundResultOut(Response):
    """One recipient of the posted e-mail: ``posted`` in the conversation, ``dropped``
    (an automatic e-mail, no new text) or ``refused`` (``reason`` says why). ``repeat``:
    the same e-mail had come before, and this is what became of it then."""

    outcome: InboundOutcome
    reason: str
    detail: str
    message_id: int | None
    repeat: bool


class InboundAnswer(Response):
    results: list[InboundResultOut]


class InboundEmailOut(Response):
    id: int
    received_at: datetime
    via: str
    sender: str
    subject: str
    conversation_id: int
    outcome: InboundOutcome
    reason: str
    detail: str | None
    message_id: int | None
    spf: str | None
    dkim: str | None
    dmarc: str | None
