"""Bodies of the webhook routes: an endpoint as an owner or admin makes it, and its
delivery log (docs/webhooks.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar

from pydantic import Field, StringConstraints

from frontdesk.api.schemas.common import Flag, Patch, Request, Response
from frontdesk.core.webhooks import SUBSCRIBABLE, WebhookKind, WebhookState
from frontdesk.webhook.sender import URL_MAX

Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=URL_MAX)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
EventName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Events = Annotated[
    list[EventName],
    Field(min_length=1, max_length=len(SUBSCRIBABLE), examples=[[e.value for e in SUBSCRIBABLE]]),
]


class WebhookIn(Request):
    url: Url
    # ``standard``: signed JSON (Standard Webhooks); ``slack``: a Slack incoming webhook.
    kind: WebhookKind = WebhookKind.STANDARD
    events: Events
    description: Description = ""


class WebhookPatch(Patch):
    nullable: ClassVar[frozenset[str]] = frozenset()

    url: Url | None = None
    events: Events | None = None
    description: Description | None = None
    # False switches the endpoint off; True on again, its failure count started afresh.
    enabled: Flag | None = None
    # True: a new signing secret (answered in ``secret``); the old one signs nothing more.
    new_secret: Flag | None = None


class WebhookOut(Response):
    id: int
    url: str
    kind: WebhookKind
    events: list[str]
    description: str
    enabled: bool
    created_at: datetime
    # Attempts failed since the last one answered well, and since when.
    failures: int
    failing_since: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None
    last_delivered_at: datetime | None


class WebhookWithSecretOut(WebhookOut):
    # ``whsec_`` and base64: the key of the signatures (docs/webhooks.md shows how to check).
    secret: str


class WebhookAttemptOut(Response):
    at: datetime
    delivered: bool
    # The HTTP status, or null when there was no answer (a timeout, a refused connection).
    status: int | None
    answer: str | None
    duration_ms: int


class WebhookDeliveryOut(Response):
    id: int
    # The ``webhook-id`` header: the same on every attempt.
    msg_id: str
    event: str
    state: WebhookState
    created_at: datetime
    attempts: int
    next_attempt_at: datetime | None
    finished_at: datetime | None
    last_status: int | None
    last_answer: str | None
    log: list[WebhookAttemptOut]
    # The body of a standard endpoint's request, as JSON text.
    payload: str
