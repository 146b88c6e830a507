"""Webhooks (docs/webhooks.md): an account's endpoints, the durable outbox of their events,
and what each attempt to deliver one was answered.

*The outbox.* An event is a row of ``webhook_messages`` per endpoint that wants it, written
by ``emit`` in the transaction that causes the event: a message stored, a conversation
opened or closed, a notification decided. It is sent if and only if that transaction
commits, and nothing is lost when a process dies: the engine's webhook loop claims due
rows under a lease, posts them, and records each answer; a row whose worker died is taken
again when its lease lapses, with the same ``webhook-id``, so a receiver that keeps the ids
it has seen drops the repeat (the window: a worker killed between the endpoint's 2xx and
the record of it).

*Retries.* A failed attempt (no answer within ``webhook_timeout``, or any status but 2xx)
is tried again with exponential backoff (``frontdesk.core.webhooks.retry_delay``) until
``webhook_retry_for`` after the event; then it is given up. An endpoint that has answered
no attempt well for ``webhook_disable_after`` is switched off: its waiting events are given
up, no new ones are written for it, and the account's owners are e-mailed. Switching it on
again starts afresh.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from frontdesk.core.model import Role
from frontdesk.core.webhooks import (
    SUBSCRIBABLE,
    WebhookEvent,
    WebhookKind,
    WebhookState,
    keeps_failing,
    mask_of,
    next_attempt,
    wants,
)
from frontdesk.errors import InvalidInput, NotFound
from frontdesk.mail.identifiers import conversation_link
from frontdesk.service.accounts import require_manager
from frontdesk.service.runtime import AgentCaller, Runtime
from frontdesk.store.models import (
    Account,
    Agent,
    Conversation,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
    table_of,
)
from frontdesk.store.plain import PlainStatement
from frontdesk.webhook import slack
from frontdesk.webhook.sender import WebhookAnswer, url_problem

WEBHOOK_BATCH = 50
SECRET_PREFIX = "whsec_"  # noqa: S105  (the prefix of every secret, not one)
# An account's endpoints: enough for every tool a team uses, few enough to fan out to.
MAX_ENDPOINTS = 20
# What a test event says.
TEST_TEXT = "This is a test event from Frontdesk: this endpoint receives its webhooks."

_messages = table_of(WebhookMessage)
_endpoints = table_of(WebhookEndpoint)
_accounts = table_of(Account)


def new_secret() -> str:
    """A signing secret as Standard Webhooks writes one: ``whsec_`` and base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def _msg_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


# --- endpoints (owners and admins) ----------------------------------------------------------


def list_endpoints(rt: Runtime, caller: AgentCaller) -> list[WebhookEndpoint]:
    require_manager(caller)
    with rt.database.read() as session:
        return list(
            session.scalars(
                select(WebhookEndpoint)
                .where(WebhookEndpoint.account_id == caller.account_id)
                .order_by(WebhookEndpoint.id)
            )
        )


def _events_of(events: Sequence[str]) -> list[str]:
    chosen = []
    for name in events:
        try:
            event = WebhookEvent(name)
        except ValueError:
            event = None
        if event is None or event not in SUBSCRIBABLE:
            known = ", ".join(e.value for e in SUBSCRIBABLE)
            raise InvalidInput(f"unknown event {name!r}; the events are {known}")
        if event.value not in chosen:
            chosen.append(event.value)
    if not chosen:
        raise InvalidInput("an endpoint wants at least one event")
    return chosen


def _check_url(rt: Runtime, url: str) -> None:
    problem = url_problem(url, local_hosts=rt.settings.webhook_local_hosts)
    if problem is not None:
        raise InvalidInput(problem, code="invalid_webhook_url")


def create_endpoint(
    rt: Runtime,
    caller: AgentCaller,
    *,
    url: str,
    kind: WebhookKind,
    events: Sequence[str],
    description: str,
) -> WebhookEndpoint:
    require_manager(caller)
    _check_url(rt, url)
    chosen = _events_of(events)
    with rt.database.write() as session:
        count = session.scalar(
            select(func.count())
            .select_from(WebhookEndpoint)
            .where(WebhookEndpoint.account_id == caller.account_id)
        )
        if (count or 0) >= MAX_ENDPOINTS:
            raise InvalidInput(
                f"an account has at most {MAX_ENDPOINTS} webhook endpoints",
                code="too_many_webhooks",
            )
        endpoint = WebhookEndpoint(
            account_id=caller.account_id,
            kind=kind,
            url=url,
            description=description,
            events=chosen,
            secret=new_secret(),
            enabled=True,
            created_at=rt.clock.now(),
            failures=0,
        )
        session.add(endpoint)
        session.flush()
        _refresh_mask(session, caller.account_id)
        return endpoint


def _load(
    session: Session, caller: AgentCaller, endpoint_id: int, *, for_update: bool = False
) -> WebhookEndpoint:
    """The caller's endpoint; locked with ``for_update``, for a change only: a read that
    locked it would fail on PostgreSQL when the engine records an answer meanwhile."""
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id,
        WebhookEndpoint.account_id == caller.account_id,
    )
    endpoint = session.scalar(query.with_for_update() if for_update else query)
    if endpoint is None:
        raise NotFound("There is no such webhook endpoint.", code="webhook_not_found")
    return endpoint


def get_endpoint(rt: Runtime, caller: AgentCaller, endpoint_id: int) -> WebhookEndpoint:
    require_manager(caller)
    with rt.database.read() as session:
        return _load(session, caller, endpoint_id)


def update_endpoint(
    rt: Runtime,
    caller: AgentCaller,
    endpoint_id: int,
    *,
    url: str | None = None,
    events: Sequence[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
    new_secret_wanted: bool = False,
) -> WebhookEndpoint:
    """Change an endpoint. Switching it on again (``enabled``) starts its failure count
    afresh; ``new_secret_wanted`` replaces its secret (the old one signs nothing more)."""
    require_manager(caller)
    if url is not None:
        _check_url(rt, url)
    chosen = _events_of(events) if events is not None else None
    with rt.database.write() as session:
        endpoint = _load(session, caller, endpoint_id, for_update=True)
        if url is not None:
            endpoint.url = url
        if chosen is not None:
            endpoint.events = chosen
        if description is not None:
            endpoint.description = description
        if new_secret_wanted:
            endpoint.secret = new_secret()
        if enabled is not None and enabled != endpoint.enabled:
            endpoint.enabled = enabled
            endpoint.failing_since = None
            endpoint.failures = 0
            if enabled:
                endpoint.disabled_at = None
                endpoint.disabled_reason = None
            else:
                endpoint.disabled_at = rt.clock.now()
                endpoint.disabled_reason = "switched off by an owner or admin"
        session.flush()
        _refresh_mask(session, caller.account_id)
        return endpoint


def delete_endpoint(rt: Runtime, caller: AgentCaller, endpoint_id: int) -> None:
    """Delete an endpoint, its waiting events and its delivery log."""
    require_manager(caller)
    with rt.database.write() as session:
        endpoint = _load(session, caller, endpoint_id, for_update=True)
        session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id))
        _refresh_mask(session, caller.account_id)


def _refresh_mask(session: Session, account_id: int) -> None:
    """The account's ``webhook_events``: the events its enabled endpoints want."""
    wanted = session.scalars(
        select(WebhookEndpoint.events).where(
            WebhookEndpoint.account_id == account_id, WebhookEndpoint.enabled.is_(True)
        )
    ).all()
    mask = mask_of(event for events in wanted for event in events)
    session.execute(update(Account).where(Account.id == account_id).values(webhook_events=mask))


def send_test(rt: Runtime, caller: AgentCaller, endpoint_id: int) -> WebhookMessage:
    """A ``webhook.test`` event to the endpoint now (on or off), tried once: its answer is
    in the delivery log a moment later."""
    require_manager(caller)
    now = rt.clock.now()
    with rt.database.write() as session:
        endpoint = _load(session, caller, endpoint_id, for_update=True)
        account_name = session.scalar(select(Account.name).where(Account.id == caller.account_id))
        payload = _payload(
            WebhookEvent.TEST,
            now,
            caller.account_id,
            account_name or "",
            {"endpoint": {"id": endpoint.id}, "text": TEST_TEXT},
        )
        message = WebhookMessage(
            endpoint_id=endpoint.id,
            account_id=caller.account_id,
            event=WebhookEvent.TEST.value,
            msg_id=_msg_id(),
            payload=payload,
            state=WebhookState.PENDING,
            created_at=now,
            attempts=0,
            next_attempt_at=now,
        )
        session.add(message)
        session.flush()
        rt.webhooks_due(session)
        return message


@dataclass(frozen=True, slots=True)
class Logged:
    """A webhook message of an endpoint, with its attempts, newest first."""

    message: WebhookMessage
    attempts: list[WebhookAttempt]


def delivery_log(
    rt: Runtime, caller: AgentCaller, endpoint_id: int, *, limit: int = 50
) -> list[Logged]:
    """The endpoint's latest events and every attempt of each, newest first."""
    require_manager(caller)
    with rt.database.read() as session:
        endpoint = _load(session, caller, endpoint_id)
        messages = session.scalars(
            select(WebhookMessage)
            .where(WebhookMessage.endpoint_id == endpoint.id)
            .order_by(WebhookMessage.id.desc())
            .limit(limit)
        ).all()
        attempts: dict[int, list[WebhookAttempt]] = {m.id: [] for m in messages}
        if messages:
            for attempt in session.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.message_id.in_(attempts))
                .order_by(WebhookAttempt.id.desc())
            ):
                attempts[attempt.message_id].append(attempt)
        return [Logged(m, attempts[m.id]) for m in messages]


# --- events ---------------------------------------------------------------------------------


def _payload(
    event: WebhookEvent, at: datetime, account_id: int, account_name: str, data: dict[str, Any]
) -> str:
    body = {
        "type": event.value,
        "timestamp": iso(at),
        "data": {"account": {"id": account_id, "name": account_name}, **data},
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def emit(
    session: Session,
    rt: Runtime,
    *,
    account_id: int,
    mask: int | None,
    event: WebhookEvent,
    data: dict[str, Any],
    notification_id: int | None = None,
) -> int:
    """The event, for every enabled endpoint of the account that wants it, in the caller's
    transaction; ``mask``: the account's ``webhook_events`` as the caller read them (an
    account whose endpoints want nothing of it costs no statement). Returns how many."""
    if not wants(mask, event):
        return 0
    connection = session.connection()
    rows = _ENDPOINTS_OF_ACCOUNT.rows(connection, account_id=account_id)
    targets = [endpoint_id for endpoint_id, events, _ in rows if event.value in events]
    if not targets:
        return 0
    now = rt.clock.now()
    payload = _payload(event, now, account_id, rows[0][2], data)
    _NEW_WEBHOOK_MESSAGE.run_many(
        connection,
        [
            {
                "endpoint_id": endpoint_id,
                "account_id": account_id,
                "event": event.value,
                "msg_id": _msg_id(),
                "payload": payload,
                "notification_id": notification_id,
                "at": now,
            }
            for endpoint_id in targets
        ],
    )
    rt.webhooks_due(session)
    return len(targets)


# What ``emit`` runs, compiled once (frontdesk.store.plain): it runs with visitor messages.
_ENDPOINTS_OF_ACCOUNT = PlainStatement(
    select(_endpoints.c.id, _endpoints.c.events, _accounts.c.name)
    .join(_accounts, _accounts.c.id == _endpoints.c.account_id)
    .where(_endpoints.c.account_id == bindparam("account_id"), _endpoints.c.enabled.is_(True))
    .order_by(_endpoints.c.id)
)
_NEW_WEBHOOK_MESSAGE = PlainStatement(
    insert(_messages).values(
        endpoint_id=bindparam("endpoint_id"),
        account_id=bindparam("account_id"),
        event=bindparam("event"),
        msg_id=bindparam("msg_id"),
        payload=bindparam("payload"),
        notification_id=bindparam("notification_id"),
        state=WebhookState.PENDING,
        created_at=bindparam("at"),
        attempts=0,
        next_attempt_at=bindparam("at"),
    )
)


def conversation_data(
    base_url: str, conversation_id: int, *, status: str, group_id: int | None
) -> dict[str, Any]:
    return {
        "id": conversation_id,
        "status": status,
        "group_id": group_id,
        "url": conversation_link(base_url, conversation_id),
    }


def about(rt: Runtime, conversation: Conversation) -> dict[str, Any]:
    """The ``conversation`` and ``visitor`` of an event's data, from a loaded conversation."""
    visitor = conversation.visitor
    return {
        "conversation": conversation_data(
            rt.settings.public_url,
            conversation.id,
            status=conversation.status.value,
            group_id=conversation.group_id,
        ),
        "visitor": visitor_data(
            visitor.id, name=visitor.name, email=visitor.email, page_url=visitor.page_url
        ),
    }


def visitor_data(
    visitor_id: int, *, name: str | None, email: str | None, page_url: str | None
) -> dict[str, Any]:
    return {"id": visitor_id, "name": name, "email": email, "page_url": page_url}


def message_data(
    message_id: int,
    *,
    author: str,
    text: str,
    at: datetime,
    agent: tuple[int, str] | None = None,
) -> dict[str, Any]:
    return {
        "id": message_id,
        "author": author,
        "agent": None if agent is None else {"id": agent[0], "name": agent[1]},
        "text": text,
        "created_at": iso(at),
    }


# --- the engine's webhook loop --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClaimedWebhook:
    message_id: int
    lease_token: str
    msg_id: str
    url: str
    secret: str
    body: bytes


def lease_of(rt: Runtime) -> timedelta:
    """How long a claimed webhook is the claimer's: three times an attempt's timeout."""
    return timedelta(seconds=3 * rt.settings.webhook_timeout)


def claim_webhooks(
    session: Session, rt: Runtime, *, limit: int = WEBHOOK_BATCH
) -> list[ClaimedWebhook]:
    """Take up to ``limit`` due webhook messages for ``lease_of`` (their ``next_attempt_at``
    moved to the lease's end, so that a worker that dies leaves them due again then). The
    engine runs it with ``run_write``: on SQLite in the group commit beside the requests'
    writes, where a thread's transaction would wait for a turn under load."""
    now = rt.clock.now()
    lease_until = now + lease_of(rt)
    token = secrets.token_hex(16)
    claimed: list[ClaimedWebhook] = []
    rows = session.execute(
        select(WebhookMessage, WebhookEndpoint)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
        .where(
            WebhookMessage.state == WebhookState.PENDING,
            WebhookMessage.next_attempt_at <= now,
        )
        .order_by(WebhookMessage.next_attempt_at, WebhookMessage.id)
        .limit(limit)
        .with_for_update(of=WebhookMessage, skip_locked=True)
    ).all()
    for message, endpoint in rows:
        if not endpoint.enabled and message.event != WebhookEvent.TEST.value:
            # Switched off after the event was written: given up with the others.
            _give_up(message, now, "the endpoint is switched off")
            continue
        message.next_attempt_at = lease_until
        message.lease_until = lease_until
        message.lease_token = token
        body = (
            slack.body(json.loads(message.payload))
            if endpoint.kind is WebhookKind.SLACK
            else message.payload.encode()
        )
        claimed.append(
            ClaimedWebhook(
                message_id=message.id,
                lease_token=token,
                msg_id=message.msg_id,
                url=endpoint.url,
                secret=endpoint.secret,
                body=body,
            )
        )
    return claimed


def _give_up(message: WebhookMessage, now: datetime, why: str) -> None:
    message.state = WebhookState.FAILED
    message.finished_at = now
    message.next_attempt_at = None
    message.lease_until = message.lease_token = None
    message.last_answer = why


def record_webhook_answers(
    session: Session,
    rt: Runtime,
    answered: Sequence[tuple[ClaimedWebhook, WebhookAnswer]],
    at: datetime,
) -> None:
    """What the endpoints answered, for the messages this worker still holds: delivered,
    tried again later, or given up; an endpoint that keeps failing is switched off."""
    settings = rt.settings
    for item, answer in answered:
        message = session.scalar(
            select(WebhookMessage)
            .where(
                WebhookMessage.id == item.message_id,
                WebhookMessage.lease_token == item.lease_token,
            )
            .with_for_update()
        )
        if message is None:
            continue  # taken over by another worker after the lease lapsed
        endpoint = session.get(WebhookEndpoint, message.endpoint_id, with_for_update=True)
        assert endpoint is not None  # deleting an endpoint deletes its messages
        session.add(
            WebhookAttempt(
                message_id=message.id,
                at=at,
                delivered=answer.delivered,
                status=answer.status,
                answer=answer.text,
                duration_ms=answer.duration_ms,
            )
        )
        message.attempts += 1
        message.last_status = answer.status
        message.last_answer = answer.text
        message.lease_until = message.lease_token = None
        test = message.event == WebhookEvent.TEST.value
        if answer.delivered:
            message.state = WebhookState.DELIVERED
            message.finished_at = at
            message.next_attempt_at = None
            endpoint.failing_since = None
            endpoint.failures = 0
            endpoint.last_delivered_at = at
            continue
        again = (
            None
            if test
            else next_attempt(
                message.attempts,
                created_at=message.created_at,
                now=at,
                first=settings.webhook_retry_first,
                longest=settings.webhook_retry_longest,
                retry_for=settings.webhook_retry_for,
            )
        )
        if again is None:
            message.state = WebhookState.FAILED
            message.finished_at = at
            message.next_attempt_at = None
        else:
            message.next_attempt_at = again
        if test or not endpoint.enabled:
            continue  # a test event does not count towards switching an endpoint off
        endpoint.failures += 1
        if endpoint.failing_since is None:
            endpoint.failing_since = at
        if keeps_failing(
            endpoint.failing_since,
            endpoint.failures,
            now=at,
            disable_after=settings.webhook_disable_after,
        ):
            _switch_off(session, rt, endpoint, answer, at)


def _switch_off(
    session: Session, rt: Runtime, endpoint: WebhookEndpoint, answer: WebhookAnswer, at: datetime
) -> None:
    from frontdesk.service.outbox import tell_of_webhook_switched_off

    said = f"HTTP {answer.status}" if answer.status is not None else answer.text
    endpoint.enabled = False
    endpoint.disabled_at = at
    endpoint.disabled_reason = (
        f"{endpoint.failures} attempts failed since {iso(endpoint.failing_since or at)}, "
        f"the last: {said}"
    )[:300]
    session.execute(
        update(WebhookMessage)
        .where(
            WebhookMessage.endpoint_id == endpoint.id,
            WebhookMessage.state == WebhookState.PENDING,
        )
        .values(
            state=WebhookState.FAILED,
            finished_at=at,
            next_attempt_at=None,
            lease_until=None,
            lease_token=None,
            last_answer="the endpoint was switched off",
        )
        .execution_options(synchronize_session=False)
    )
    _refresh_mask(session, endpoint.account_id)
    owners = session.scalars(
        select(Agent).where(
            Agent.account_id == endpoint.account_id,
            Agent.role == Role.OWNER,
            Agent.active.is_(True),
            Agent.email_confirmed_at.is_not(None),
        )
    ).all()
    for owner in owners:
        tell_of_webhook_switched_off(session, rt, owner, endpoint.id, at)


def next_webhook_at(rt: Runtime) -> datetime | None:
    """The earliest moment a webhook message is due."""
    with rt.database.read() as session:
        return session.scalar(
            select(func.min(WebhookMessage.next_attempt_at)).where(
                WebhookMessage.state == WebhookState.PENDING
            )
        )


def visitor_message_events(
    session: Session,
    rt: Runtime,
    *,
    account_id: int,
    mask: int | None,
    conversation: dict[str, Any],
    visitor: dict[str, Any],
    message: dict[str, Any],
    opened: bool,
) -> None:
    """``conversation.created`` (the message opened it) and ``message.created`` of a visitor
    message, for the endpoints that want them."""
    if not mask:
        return
    data = {"conversation": conversation, "visitor": visitor, "message": message}
    if opened:
        emit(
            session,
            rt,
            account_id=account_id,
            mask=mask,
            event=WebhookEvent.CONVERSATION_CREATED,
            data=data,
        )
    emit(
        session, rt, account_id=account_id, mask=mask, event=WebhookEvent.MESSAGE_CREATED, data=data
    )
