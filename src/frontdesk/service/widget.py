"""The visitor side: the widget's online status, visitors and their messages.

A widget is addressed by its account's public widget key; a visitor proves who it is with
the visitor token it got when it was created. A visitor's messages are
``frontdesk.service.visitor_messages``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Text, bindparam, cast, select
from sqlalchemy.orm import Session

from frontdesk.core.hours import BusinessHours
from frontdesk.core.model import ConversationStatus, Locale, Plan
from frontdesk.core.plans import group_that_applies
from frontdesk.errors import NotAuthenticated, NotFound
from frontdesk.security import VISITOR_TOKEN_PREFIX, new_token, token_digest
from frontdesk.service import alerts, hours, reply_times
from frontdesk.service.groups import group_not_found, load_groups_of_account
from frontdesk.service.patching import UNCHANGED, Unchanged
from frontdesk.service.runtime import Runtime, VisitorCaller
from frontdesk.service.scope import (
    online_agent_ids,
    scope_is_online,
    scope_of,
    scope_of_plan,
)
from frontdesk.store.models import (
    Account,
    Conversation,
    Group,
    Message,
    Visitor,
)
from frontdesk.store.plain import PlainStatement


@dataclass(frozen=True, slots=True)
class NewVisitor:
    visitor: Visitor
    token: str


@dataclass(frozen=True, slots=True)
class VisitorConversation:
    conversation: Conversation
    messages: list[Message]


def load_widget_account(session: Session, widget_key: str) -> Account:
    account = session.scalar(select(Account).where(Account.widget_key == widget_key))
    if account is None:
        raise NotFound("There is no widget with this key.", code="widget_not_found")
    return account


def visitor_scope(rt: Runtime, caller: VisitorCaller, *, group_id: int | None) -> frozenset[int]:
    """The agents a visitor's widget depends on: the group asked for, else the group of the
    visitor's open conversation, else the whole account."""
    with rt.database.read() as session:
        _plan, _group_id, scope = _visitor_scope(session.connection(), caller, group_id)
        return scope


@dataclass(frozen=True, slots=True)
class VisitorWidget:
    """What a visitor's socket greets with and then keeps up to date: the scope
    (``visitor_scope``), whether an agent of it is online now, and the business hours that
    apply (``None``: always open)."""

    scope: frozenset[int]
    members_online: bool
    hours: BusinessHours | None

    def status(self, members_online: bool, now: datetime) -> WidgetStatus:
        within = hours.opening(self.hours, now)
        return WidgetStatus(
            online=members_online and within.open, open=within.open, back_at=within.back_at
        )


def visitor_widget(rt: Runtime, caller: VisitorCaller, *, group_id: int | None) -> VisitorWidget:
    """``VisitorWidget`` in plain statements on a plain connection, as every socket of a
    reconnect storm asks it."""
    with rt.database.read_plain() as connection:
        found = _ACCOUNT_PLAN_AND_HOURS.first(connection, account_id=caller.account_id)
        if found is None:
            raise _account_gone()
        plan, account_hours = found
        group_id, scope = _scope_of_visitor(connection, caller, plan, group_id)
        online = scope_is_online(
            connection,
            account_id=caller.account_id,
            plan=plan,
            group_id=group_id,
            now=rt.clock.now(),
        )
        data = None
        applies = group_that_applies(plan, group_id)
        if applies is not None:
            data = _json(_GROUP_HOURS.scalar(connection, group_id=applies))
        if data is None:
            data = _json(account_hours)
        return VisitorWidget(scope, online, hours.read_hours(data))


def _json(text: str | None) -> Any:
    """A JSON column read as text (plain statements do not convert JSON)."""
    return None if text is None else json.loads(text)


def _account_gone() -> NotFound:
    return NotFound("The widget's account does not exist any more.", code="widget_not_found")


def _visitor_scope(
    connection: Connection, caller: VisitorCaller, group_id: int | None
) -> tuple[Plan, int | None, frozenset[int]]:
    """The account's plan, the group the visitor's widget is about, and its scope."""
    plan = _ACCOUNT_PLAN.scalar(connection, account_id=caller.account_id)
    if plan is None:
        raise _account_gone()
    group_id, scope = _scope_of_visitor(connection, caller, plan, group_id)
    return plan, group_id, scope


def _scope_of_visitor(
    connection: Connection, caller: VisitorCaller, plan: Plan, group_id: int | None
) -> tuple[int | None, frozenset[int]]:
    """The group the visitor's widget is about (the one asked for, else that of their open
    conversation), and its scope."""
    if group_id is not None:
        if (
            _GROUP_OF_ACCOUNT.first(connection, group_id=group_id, account_id=caller.account_id)
            is None
        ):
            raise group_not_found(group_id)
    else:
        group_id = _OPEN_CONVERSATION_GROUP.scalar(connection, visitor_id=caller.visitor_id)
    scope = scope_of_plan(connection, account_id=caller.account_id, plan=plan, group_id=group_id)
    return group_id, scope


_ACCOUNT_PLAN = PlainStatement(select(Account.plan).where(Account.id == bindparam("account_id")))
# The business hours as the JSON text they are stored as.
_ACCOUNT_PLAN_AND_HOURS = PlainStatement(
    select(Account.plan, cast(Account.business_hours, Text)).where(
        Account.id == bindparam("account_id")
    )
)
_GROUP_HOURS = PlainStatement(
    select(cast(Group.business_hours, Text)).where(Group.id == bindparam("group_id"))
)
_GROUP_OF_ACCOUNT = PlainStatement(
    select(Group.id).where(
        Group.id == bindparam("group_id"), Group.account_id == bindparam("account_id")
    )
)
_OPEN_CONVERSATION_GROUP = PlainStatement(
    select(Conversation.group_id)
    .where(
        Conversation.visitor_id == bindparam("visitor_id"),
        Conversation.status != ConversationStatus.CLOSED,
    )
    .order_by(Conversation.id.desc())
    .limit(1)
)


@dataclass(frozen=True, slots=True)
class WidgetStatus:
    """Online: an agent of the scope is online and the team is within its business hours
    (``open``); outside them, ``back_at`` says when it is back (docs/reachability.md)."""

    online: bool
    open: bool
    back_at: datetime | None
    # An open alert says a message written now would reach nobody (docs/reachability.md).
    nobody_to_tell: bool = False
    # The median first-response time of the last 7 days, in seconds, while online and when
    # the account shows it (``expected_reply_time``); None otherwise.
    reply_within: float | None = None


def widget_status(rt: Runtime, widget_key: str, *, group_id: int | None) -> WidgetStatus:
    with rt.database.read() as session:
        account = load_widget_account(session, widget_key)
        _check_group(session, account, group_id)
        return _status(session, account, group_id, scope_of(session, account, group_id), rt)


def visitor_status(rt: Runtime, caller: VisitorCaller) -> WidgetStatus:
    """``widget_status`` for a visitor's widget: of the group of their open conversation."""
    with rt.database.read() as session:
        _plan, group_id, scope = _visitor_scope(session.connection(), caller, None)
        account = session.get_one(Account, caller.account_id)
        return _status(session, account, group_id, scope, rt)


def _status(
    session: Session, account: Account, group_id: int | None, scope: frozenset[int], rt: Runtime
) -> WidgetStatus:
    now = rt.clock.now()
    group = session.get(Group, group_id) if group_id is not None else None
    within = hours.opening(hours.hours_of_scope(account, group), now)
    online = bool(online_agent_ids(session, account_id=account.id, now=now, among=scope))
    shown_online = online and within.open
    return WidgetStatus(
        online=shown_online,
        open=within.open,
        back_at=within.back_at,
        nobody_to_tell=alerts.nobody_would_be_told(session.connection(), account.id),
        reply_within=(
            reply_times.median_first_response(session, account.id, now)
            if shown_online and account.expected_reply_time
            else None
        ),
    )


def create_visitor(
    rt: Runtime,
    widget_key: str,
    *,
    name: str | None,
    email: str | None,
    page_url: str | None,
    locale: Locale | None = None,
) -> NewVisitor:
    token = new_token(VISITOR_TOKEN_PREFIX)
    with rt.database.write() as session:
        account = load_widget_account(session, widget_key)
        visitor = Visitor(
            account_id=account.id,
            name=name,
            email=email,
            page_url=page_url,
            locale=locale,
            token_hash=token_digest(token),
            created_at=rt.clock.now(),
        )
        session.add(visitor)
    return NewVisitor(visitor=visitor, token=token)


def authenticate_visitor(rt: Runtime, widget_key: str, token: str) -> VisitorCaller:
    digest = token_digest(token)
    known = rt.visitor_callers.get(widget_key, digest)
    if known is not None:
        return known
    with rt.database.read() as session:
        row = session.execute(
            select(Visitor.id, Visitor.account_id)
            .join(Account, Account.id == Visitor.account_id)
            .where(Visitor.token_hash == digest, Account.widget_key == widget_key)
        ).one_or_none()
    if row is None:
        raise NotAuthenticated(
            "The visitor token is unknown or belongs to another widget; create a visitor "
            "with POST /api/v1/widget/{widget_key}/visitors.",
            code="invalid_visitor_token",
        )
    caller = VisitorCaller(visitor_id=row.id, account_id=row.account_id)
    rt.visitor_callers.remember(widget_key, digest, caller)
    return caller


def known_visitor(rt: Runtime, widget_key: str, token: str) -> VisitorCaller | None:
    """The visitor of this token if it was proven before (no I/O), else None."""
    return rt.visitor_callers.get(widget_key, token_digest(token))


def update_visitor(
    rt: Runtime,
    caller: VisitorCaller,
    *,
    name: str | Unchanged = UNCHANGED,
    email: str | Unchanged = UNCHANGED,
    page_url: str | Unchanged = UNCHANGED,
    locale: Locale | Unchanged = UNCHANGED,
) -> Visitor:
    """The visitor's own details, as the widget learns them: the e-mail of the offline
    form, a name, the page the visitor is on now, the widget's language."""
    with rt.database.write() as session:
        visitor = session.get_one(Visitor, caller.visitor_id)
        if name is not UNCHANGED:
            visitor.name = name
        if email is not UNCHANGED:
            visitor.email = email
        if page_url is not UNCHANGED:
            visitor.page_url = page_url
        if locale is not UNCHANGED:
            visitor.locale = locale
        return visitor


def visitor_conversation(
    rt: Runtime, caller: VisitorCaller, *, max_messages: int
) -> VisitorConversation | None:
    """The visitor's latest conversation (open, or the last one closed) with its newest
    ``max_messages`` messages, oldest first: what the widget shows again after the visitor
    moved to another page of the site."""
    with rt.database.read() as session:
        conversation = session.scalar(
            select(Conversation)
            .where(Conversation.visitor_id == caller.visitor_id)
            .order_by(Conversation.id.desc())
            .limit(1)
        )
        if conversation is None:
            return None
        newest = session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation.id)
            .order_by(Message.id.desc())
            .limit(max_messages)
        ).all()
        return VisitorConversation(conversation=conversation, messages=list(reversed(newest)))


def _check_group(session: Session, account: Account, group_id: int | None) -> None:
    if group_id is None:
        return
    load_groups_of_account(session, account.id, [group_id])
