"""The dashboard's conversations: folders, a conversation, read, join, reply, close."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, status

from frontdesk.api.deps import AgentDep, RuntimeDep
from frontdesk.api.schemas.common import MAX_ID
from frontdesk.api.schemas.conversations import (
    ConversationDetailOut,
    ConversationList,
    ConversationOut,
    MessageOut,
    ReadIn,
    ReadOut,
    ReplyIn,
    VisitorOut,
)
from frontdesk.core.model import Folder
from frontdesk.service import conversations
from frontdesk.service.conversations import ConversationView

router = APIRouter(tags=["conversations"])
ConversationId = Annotated[int, Path(ge=1, le=MAX_ID)]


def conversation_out(view: ConversationView) -> ConversationOut:
    c = view.conversation
    return ConversationOut(
        id=c.id,
        status=c.status,
        folder=view.folder,
        group_id=c.group_id,
        assignee_id=c.assignee_id,
        visitor=VisitorOut.model_validate(c.visitor),
        created_at=c.created_at,
        last_message_at=c.last_message_at,
        closed_at=c.closed_at,
        unread=view.unread,
        last_message=MessageOut.model_validate(view.last_message) if view.last_message else None,
    )


@router.get("/conversations")
def list_conversations(
    caller: AgentDep,
    rt: RuntimeDep,
    folder: Folder = Folder.UNSERVED,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ConversationList:
    """One dashboard folder, newest activity first."""
    views = conversations.list_folder(rt, caller, folder, limit=limit, offset=offset)
    return ConversationList(conversations=[conversation_out(v) for v in views])


@router.get("/conversations/{conversation_id}")
def get_conversation(
    conversation_id: ConversationId,
    caller: AgentDep,
    rt: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> ConversationDetailOut:
    """The conversation and its newest ``limit`` messages, oldest first; ``has_earlier``
    says there are more: ask again with ``before=`` the first message's id."""
    detail = conversations.get_conversation(rt, caller, conversation_id, limit=limit, before=before)
    return ConversationDetailOut(
        **conversation_out(detail.view).model_dump(),
        last_read_message_id=detail.view.last_read_message_id,
        messages=[MessageOut.model_validate(m) for m in detail.messages],
        has_earlier=detail.has_earlier,
    )


@router.post("/conversations/{conversation_id}/read")
def read_conversation(
    conversation_id: ConversationId,
    caller: AgentDep,
    rt: RuntimeDep,
    body: Annotated[ReadIn | None, Body()] = None,
) -> ReadOut:
    """Opened in the dashboard: marks the messages up to ``message_id`` (default: all) read
    by you."""
    up_to = body.message_id if body else None
    position = conversations.mark_read(rt, caller, conversation_id, up_to_message_id=up_to)
    return ReadOut(last_read_message_id=position)


@router.post("/conversations/{conversation_id}/join")
def join_conversation(
    conversation_id: ConversationId, caller: AgentDep, rt: RuntimeDep
) -> ConversationOut:
    """Unserved → served, with you as the assignee (your *Mine* folder)."""
    joined = conversations.join(rt, caller, conversation_id)
    return conversation_out(joined.view)


@router.post("/conversations/{conversation_id}/close")
def close_conversation(
    conversation_id: ConversationId, caller: AgentDep, rt: RuntimeDep
) -> ConversationOut:
    closed = conversations.close(rt, caller, conversation_id)
    return conversation_out(closed.view)


@router.post("/conversations/{conversation_id}/messages", status_code=status.HTTP_201_CREATED)
def reply(
    conversation_id: ConversationId, body: ReplyIn, caller: AgentDep, rt: RuntimeDep
) -> MessageOut:
    """An agent reply; joins the conversation first if it is unserved."""
    replied = conversations.reply(rt, caller, conversation_id, text=body.text)
    return MessageOut.model_validate(replied.message)
