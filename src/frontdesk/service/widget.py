"""The visitor side: the widget's online status, visitors and their messages.

A widget is addressed by its account's public widget key; a visitor proves who it is with
the visitor token it got when it was created. A visitor message goes into the visitor's open
conversation, or opens a new one (SPEC section 2).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.core.model import ConversationStatus, MessageAuthor
from frontdesk.errors import NotAuthenticated, NotFound
from frontdesk.security import VISITOR_TOKEN_PREFIX, new_token, token_digest
from frontdesk.service import notifications
from frontdesk.service.groups import load_groups_of_account
from frontdesk.service.presence import PresenceEvent, mark_visitor_seen
from frontdesk.service.runtime import Runtime, VisitorCaller
from frontdesk.service.scope import online_agent_ids, scope_of
from frontdesk.store.models import Account, Conversation, Message, Visitor


@dataclass(frozen=True, slots=True)
class NewVisitor:
    visitor: Visitor
    token: str


@dataclass(frozen=True, slots=True)
class VisitorConversation:
    conversation: Conversation
    messages: list[Message]


@dataclass(frozen=True, slots=True)
class Posted:
    conversation: Conversation
    message: Message
    opened_conversation: bool
    presence_events: list[PresenceEvent]


def load_widget_account(session: Session, widget_key: str) -> Account:
    account = session.scalar(select(Account).where(Account.widget_key == widget_key))
    if account is None:
        raise NotFound("There is no widget with this key.", code="widget_not_found")
    return account


def visitor_scope(rt: Runtime, caller: VisitorCaller, *, group_id: int | None) -> frozenset[int]:
    """The agents a visitor's widget depends on: the group asked for, else the group of the
    visitor's open conversation, else the whole account."""
    with rt.database.read() as session:
        account = session.get_one(Account, caller.account_id)
        _check_group(session, account, group_id)
        if group_id is None:
            group_id = session.scalar(
                select(Conversation.group_id)
                .where(
                    Conversation.visitor_id == caller.visitor_id,
                    Conversation.status != ConversationStatus.CLOSED,
                )
                .order_by(Conversation.id.desc())
                .limit(1)
            )
        return scope_of(session, account, group_id)


def widget_is_online(rt: Runtime, widget_key: str, *, group_id: int | None) -> bool:
    with rt.database.read() as session:
        account = load_widget_account(session, widget_key)
        _check_group(session, account, group_id)
        scope = scope_of(session, account, group_id)
        return bool(
            online_agent_ids(session, account_id=account.id, now=rt.clock.now(), among=scope)
        )


def create_visitor(
    rt: Runtime,
    widget_key: str,
    *,
    name: str | None,
    email: str | None,
    page_url: str | None,
) -> NewVisitor:
    token = new_token(VISITOR_TOKEN_PREFIX)
    with rt.database.write() as session:
        account = load_widget_account(session, widget_key)
        visitor = Visitor(
            account_id=account.id,
            name=name,
            email=email,
            page_url=page_url,
            token_hash=token_digest(token),
            created_at=rt.clock.now(),
        )
        session.add(visitor)
    return NewVisitor(visitor=visitor, token=token)


def authenticate_visitor(rt: Runtime, widget_key: str, token: str) -> VisitorCaller:
    with rt.database.read() as session:
        row = session.execute(
            select(Visitor.id, Visitor.account_id)
            .join(Account, Account.id == Visitor.account_id)
            .where(Visitor.token_hash == token_digest(token), Account.widget_key == widget_key)
        ).one_or_none()
    if row is None:
        raise NotAuthenticated(
            "The visitor token is unknown or belongs to another widget; create a visitor "
            "with POST /api/v1/widget/{widget_key}/visitors.",
            code="invalid_visitor_token",
        )
    return VisitorCaller(visitor_id=row.id, account_id=row.account_id)


def update_visitor(
    rt: Runtime,
    caller: VisitorCaller,
    *,
    changes: dict[str, str],
) -> Visitor:
    """The visitor's own details, as the widget learns them: the e-mail of the offline
    form, a name, the page the visitor is on now. Only the keys given change."""
    with rt.database.write() as session:
        visitor = session.get_one(Visitor, caller.visitor_id)
        for field_name in ("name", "email", "page_url"):
            if field_name in changes:
                setattr(visitor, field_name, changes[field_name])
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


def post_visitor_message(
    rt: Runtime, caller: VisitorCaller, *, text: str, group_id: int | None
) -> Posted:
    now = rt.clock.now()
    with rt.database.write() as session:
        account = session.get_one(Account, caller.account_id)
        _check_group(session, account, group_id)
        # Locked: two messages of one conversation must not both open an offline
        # notification, and a join must see the message or come after it.
        conversation = session.scalar(
            select(Conversation)
            .where(
                Conversation.visitor_id == caller.visitor_id,
                Conversation.status != ConversationStatus.CLOSED,
            )
            .order_by(Conversation.id.desc())
            .limit(1)
            .with_for_update(of=Conversation)
        )
        opened = conversation is None
        if conversation is None:
            conversation = Conversation(
                account_id=caller.account_id,
                visitor_id=caller.visitor_id,
                group_id=group_id,
                status=ConversationStatus.UNSERVED,
                created_at=now,
                last_message_at=now,
            )
            session.add(conversation)
            session.flush()
            conversation.visitor = session.get_one(Visitor, caller.visitor_id)
        conversation.last_message_at = now
        message = Message(
            conversation_id=conversation.id,
            author=MessageAuthor.VISITOR,
            text=text,
            created_at=now,
        )
        session.add(message)
        session.flush()
        # Writing is a sign of life: a visitor without a socket is on the website too.
        arrived = mark_visitor_seen(session, rt, conversation.visitor, now=now)
        notifications.note_visitor_message(
            session, rt, account=account, conversation=conversation, message=message
        )
        return Posted(
            conversation=conversation,
            message=message,
            opened_conversation=opened,
            presence_events=arrived,
        )


def _check_group(session: Session, account: Account, group_id: int | None) -> None:
    if group_id is None:
        return
    load_groups_of_account(session, account.id, [group_id])
