"""The rules of webhooks (docs/webhooks.md): which events there are, when a failed
delivery is tried again, when it is given up, and when an endpoint that keeps failing is
switched off. Pure: the clock and every duration are passed in."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum


class WebhookEvent(StrEnum):
    OFFLINE_MESSAGE = "notification.offline_message"
    MISSED_CONVERSATION = "notification.missed_conversation"
    CONVERSATION_CREATED = "conversation.created"
    MESSAGE_CREATED = "message.created"
    CONVERSATION_CLOSED = "conversation.closed"
    # Sent by "send a test event" only; no endpoint subscribes to it.
    TEST = "webhook.test"

    @property
    def bit(self) -> int:
        """The event's bit in an account's ``webhook_events``: the events any enabled
        endpoint of the account wants, read with the rows a write reads anyway, so that an
        account without webhooks pays nothing for them."""
        return 1 << _ORDER.index(self)


_ORDER = list(WebhookEvent)
SUBSCRIBABLE = tuple(e for e in WebhookEvent if e is not WebhookEvent.TEST)


def mask_of(events: Iterable[WebhookEvent | str]) -> int:
    mask = 0
    for event in events:
        mask |= WebhookEvent(event).bit
    return mask


def wants(mask: int | None, event: WebhookEvent) -> bool:
    return bool((mask or 0) & event.bit)


class WebhookKind(StrEnum):
    STANDARD = "standard"  # signed JSON, the Standard Webhooks specification
    SLACK = "slack"  # Slack's incoming-webhook message format


class WebhookState(StrEnum):
    PENDING = "pending"  # not delivered yet: tried at next_attempt_at
    DELIVERED = "delivered"  # the endpoint answered 2xx
    FAILED = "failed"  # given up: retried for the whole retry window, or the endpoint off


def retry_delay(failures: int, *, first: float, longest: float) -> timedelta:
    """How long after its ``failures``-th failed attempt a delivery is tried again: ``first``
    seconds after the first, four times as long after each next one, never longer than
    ``longest`` (with 5 s and 6 h: 5 s, 20 s, 80 s, 5 min, 21 min, 85 min, 5.7 h, 6 h …)."""
    assert failures >= 1
    return timedelta(seconds=min(first * 4.0 ** min(failures - 1, 64), longest))


def next_attempt(
    failures: int,
    *,
    created_at: datetime,
    now: datetime,
    first: float,
    longest: float,
    retry_for: float,
) -> datetime | None:
    """When to try a delivery again after its ``failures``-th failure at ``now``, or None:
    give it up, the next attempt would come more than ``retry_for`` seconds after the event."""
    at = now + retry_delay(failures, first=first, longest=longest)
    if at > created_at + timedelta(seconds=retry_for):
        return None
    return at


def keeps_failing(
    failing_since: datetime | None, failures: int, *, now: datetime, disable_after: float
) -> bool:
    """Whether an endpoint is to be switched off: it has answered no attempt well for
    ``disable_after`` seconds, and failed more than once in that time."""
    return (
        failing_since is not None
        and failures >= 2
        and now - failing_since >= timedelta(seconds=disable_after)
    )
