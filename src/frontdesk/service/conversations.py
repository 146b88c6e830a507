"""The agent side of conversations: the dashboard folders, reading, joining, replying,
closing (docs/spec.md section 2).

Joining moves a conversation from *Unserved* to the joining agent's *Mine*; it then counts as
served. A reply joins an unserved conversation first. Reading marks every message up to the
newest as opened in the dashboard by that agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from frontdesk.core.folders import folder_of
from frontdesk.core.model import ConversationStatus, Folder, MessageAuthor
from frontdesk.core.webhooks import WebhookEvent, wants
from frontdesk.errors import Conflict, NotFound
from frontdesk.service import events, reply_addresses, visitor_emails, webhooks
from frontdesk.service.runtime import AgentCaller, Runtime
from frontdesk.store.models import Account, Agent, Conversation, ConversationRead, Message


@dataclass(frozen=True, slots=True)
class ConversationView:
    """A conversation as one agent sees it."""

    conversation: Conversation
    folder: Folder
    last_message: Message | None
    last_read_message_id: int | None

    @property
    def unread(self) -> bool:
        return self.last_message is not None and (
            self.last_read_message_id is None or self.last_message.id > self.last_read_message_id
        )


@dataclass(frozen=True, slots=True)
class ConversationDetail:
    view: ConversationView
    messages: list[Message]  # oldest first
    has_earlier: bool  # messages before these exist (``before=`` the first one's id)


def list_folder(
    rt: Runtime, caller: AgentCaller, folder: Folder, *, limit: int, offset: int
) -> list[ConversationView]:
    query = select(Conversation).where(Conversation.account_id == caller.account_id)
    query = _in_folder(query, folder, caller.agent_id)
    query = query.order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
    with rt.database.read() as session:
        conversations = list(session.scalars(query.limit(limit).offset(offset)))
        return _views(session, caller, conversations)


def get_conversation(
    rt: Runtime,
    caller: AgentCaller,
    conversation_id: int,
    *,
    limit: int = 100,
    before: int | None = None,
) -> ConversationDetail:
    """The conversation with a page of its messages: the newest ``limit`` of those before
    message ``before`` (of all, without it), oldest first."""
    with rt.database.read() as session:
        conversation = _load(session, caller, conversation_id)
        query = select(Message).where(Message.conversation_id == conversation.id)
        if before is not None:
            query = query.where(Message.id < before)
        newest_first = list(session.scalars(query.order_by(Message.id.desc()).limit(limit + 1)))
        (view,) = _views(session, caller, [conversation])
        return ConversationDetail(
            view=view,
            messages=newest_first[:limit][::-1],
            has_earlier=len(newest_first) > limit,
        )


def mark_read(
    rt: Runtime, caller: AgentCaller, conversation_id: int, *, up_to_message_id: int | None = None
) -> int | None:
    """Mark messages as opened in the dashboard; returns the new read position."""
    with rt.database.write() as session:
        conversation = _load(session, caller, conversation_id)
        newest = session.scalar(
            select(func.max(Message.id)).where(Message.conversation_id == conversation.id)
        )
        position: int | None = None  # an empty conversation: nothing to read
        if newest is not None:
            target = newest
            if up_to_message_id is not None:
                if not session.scalar(
                    select(Message.id).where(
                        Message.id == up_to_message_id, Message.conversation_id == conversation.id
                    )
                ):
                    raise NotFound(
                        f"There is no message {up_to_message_id} in this conversation.",
                        code="message_not_found",
                    )
                target = up_to_message_id
            position = _advance_read(session, rt, conversation.id, caller.agent_id, target)
        rt.record(
            session,
            events.ConversationRead(conversation.id, caller.account_id, caller.agent_id, position),
        )
        return position


@dataclass(frozen=True, slots=True)
class Changed:
    """A conversation after a change, with the messages the change added (a join's or a
    close's ``system`` message), for the live side to announce."""

    view: ConversationView
    new_messages: list[Message]


def join(rt: Runtime, caller: AgentCaller, conversation_id: int) -> Changed:
    with rt.database.write() as session:
        conversation = _load(session, caller, conversation_id, for_update=True)
        joined = _join(session, caller, conversation, now=rt.clock.now())
        (view,) = _views(session, caller, [conversation])
        changed = Changed(view=view, new_messages=[joined] if joined else [])
        rt.record(session, events.ConversationChanged(conversation, tuple(changed.new_messages)))
        return changed


@dataclass(frozen=True, slots=True)
class Replied:
    conversation: Conversation
    message: Message
    # The system message of the join a reply to an unserved conversation makes first.
    joined: Message | None = None


def reply(rt: Runtime, caller: AgentCaller, conversation_id: int, *, text: str) -> Replied:
    with rt.database.write() as session:
        return reply_in(session, rt, caller, conversation_id, text)


def reply_in(
    session: Session, rt: Runtime, caller: AgentCaller, conversation_id: int, text: str
) -> Replied:
    """An agent's answer in the caller's transaction (from the dashboard, or by e-mail:
    ``frontdesk.service.replies``): joins an unserved conversation first; e-mailed to a
    visitor who has left and gave an address (``visitor_emails``)."""
    now = rt.clock.now()
    conversation = _load(session, caller, conversation_id, for_update=True)
    joined = None
    if conversation.status is ConversationStatus.UNSERVED:
        joined = _join(session, caller, conversation, now=now)
    elif conversation.status is ConversationStatus.CLOSED:
        raise _closed(conversation.id)
    message = Message(
        conversation_id=conversation.id,
        author=MessageAuthor.AGENT,
        agent_id=caller.agent_id,
        text=text,
        created_at=now,
    )
    session.add(message)
    conversation.last_message_at = now
    session.flush()
    # Whoever writes a reply has read everything before it.
    _advance_read(session, rt, conversation.id, caller.agent_id, message.id)
    messages = (joined, message) if joined else (message,)
    _tell_webhooks(
        session,
        rt,
        caller,
        conversation,
        WebhookEvent.MESSAGE_CREATED,
        message=webhooks.message_data(
            message.id,
            author=MessageAuthor.AGENT.value,
            text=text,
            at=now,
            agent=(caller.agent_id, _agent_name(session, caller)),
        ),
    )
    visitor_emails.answered(session, rt, conversation, message)
    rt.record(session, events.ConversationChanged(conversation, messages))
    return Replied(conversation=conversation, message=message, joined=joined)


def close(rt: Runtime, caller: AgentCaller, conversation_id: int) -> Changed:
    with rt.database.write() as session:
        conversation = _load(session, caller, conversation_id, for_update=True)
        new_messages = []
        if conversation.status is not ConversationStatus.CLOSED:
            now = rt.clock.now()
            conversation.status = ConversationStatus.CLOSED
            conversation.closed_at = now
            if rt.settings.replies_enabled:
                reply_addresses.revoke_of_conversation(session, rt, conversation.id)
            visitor_emails.closed(session, rt, conversation, caller.agent_id)
            new_messages.append(
                _system_message(
                    session,
                    conversation,
                    f"{_agent_name(session, caller)} closed the conversation.",
                    now=now,
                )
            )
            _tell_webhooks(
                session,
                rt,
                caller,
                conversation,
                WebhookEvent.CONVERSATION_CLOSED,
                closed_by={"id": caller.agent_id, "name": _agent_name(session, caller)},
                closed_at=webhooks.iso(now),
            )
        (view,) = _views(session, caller, [conversation])
        rt.record(session, events.ConversationChanged(conversation, tuple(new_messages)))
        return Changed(view=view, new_messages=new_messages)


def _tell_webhooks(
    session: Session,
    rt: Runtime,
    caller: AgentCaller,
    conversation: Conversation,
    event: WebhookEvent,
    **data: object,
) -> None:
    """The webhook event of an agent's change, in its transaction (docs/webhooks.md)."""
    mask = session.scalar(select(Account.webhook_events).where(Account.id == caller.account_id))
    if not wants(mask, event):
        return
    webhooks.emit(
        session,
        rt,
        account_id=caller.account_id,
        mask=mask,
        event=event,
        data=webhooks.about(rt, conversation) | data,
    )


def _join(
    session: Session, caller: AgentCaller, conversation: Conversation, *, now: datetime
) -> Message | None:
    """Join, returning the system message that says so (``None``: joined already)."""
    if conversation.status is ConversationStatus.CLOSED:
        raise _closed(conversation.id)
    if conversation.status is ConversationStatus.SERVED:
        if conversation.assignee_id == caller.agent_id:
            return None
        raise Conflict("Another agent has already joined this conversation.", code="already_served")
    conversation.status = ConversationStatus.SERVED
    conversation.assignee_id = caller.agent_id
    return _system_message(
        session, conversation, f"{_agent_name(session, caller)} joined the conversation.", now=now
    )


def _system_message(
    session: Session, conversation: Conversation, text: str, *, now: datetime
) -> Message:
    message = Message(
        conversation_id=conversation.id,
        author=MessageAuthor.SYSTEM,
        text=text,
        created_at=now,
    )
    session.add(message)
    session.flush()
    return message


def _agent_name(session: Session, caller: AgentCaller) -> str:
    return session.get_one(Agent, caller.agent_id).name


def _advance_read(
    session: Session, rt: Runtime, conversation_id: int, agent_id: int, message_id: int
) -> int:
    mark = session.get(ConversationRead, (conversation_id, agent_id))
    if mark is None:
        session.add(
            ConversationRead(
                conversation_id=conversation_id,
                agent_id=agent_id,
                last_read_message_id=message_id,
                read_at=rt.clock.now(),
            )
        )
        return message_id
    if message_id > mark.last_read_message_id:  # a read position never moves back
        mark.last_read_message_id = message_id
        mark.read_at = rt.clock.now()
    return mark.last_read_message_id


def _load(
    session: Session, caller: AgentCaller, conversation_id: int, *, for_update: bool = False
) -> Conversation:
    query = select(Conversation).where(
        Conversation.id == conversation_id, Conversation.account_id == caller.account_id
    )
    if for_update:
        query = query.with_for_update(of=Conversation)
    conversation = session.scalar(query)
    if conversation is None:
        raise NotFound(
            f"There is no conversation {conversation_id} in this account.",
            code="conversation_not_found",
        )
    return conversation


def _in_folder(query: Select[Conversation], folder: Folder, agent_id: int) -> Select[Conversation]:
    match folder:
        case Folder.UNSERVED:
            return query.where(Conversation.status == ConversationStatus.UNSERVED)
        case Folder.MINE:
            return query.where(
                Conversation.status == ConversationStatus.SERVED,
                Conversation.assignee_id == agent_id,
            )
        case Folder.SERVED:
            return query.where(
                Conversation.status == ConversationStatus.SERVED,
                Conversation.assignee_id != agent_id,
            )
        case Folder.CLOSED:
            return query.where(Conversation.status == ConversationStatus.CLOSED)


def _views(
    session: Session, caller: AgentCaller, conversations: list[Conversation]
) -> list[ConversationView]:
    ids = [c.id for c in conversations]
    if not ids:
        return []
    newest_ids = (
        select(func.max(Message.id))
        .where(Message.conversation_id.in_(ids))
        .group_by(Message.conversation_id)
    )
    last_messages = {
        m.conversation_id: m
        for m in session.scalars(select(Message).where(Message.id.in_(newest_ids)))
    }
    reads = dict(
        session.execute(
            select(ConversationRead.conversation_id, ConversationRead.last_read_message_id).where(
                ConversationRead.conversation_id.in_(ids),
                ConversationRead.agent_id == caller.agent_id,
            )
        ).all()
    )
    return [
        ConversationView(
            conversation=c,
            folder=folder_of(c.status, c.assignee_id, caller.agent_id),
            last_message=last_messages.get(c.id),
            last_read_message_id=reads.get(c.id),
        )
        for c in conversations
    ]


def _closed(conversation_id: int) -> Conflict:
    return Conflict(
        f"Conversation {conversation_id} is closed; a new visitor message opens a new one.",
        code="conversation_closed",
    )
