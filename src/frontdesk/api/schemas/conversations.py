"""Bodies of ``routes/conversations.py``: conversations as agents see them, with their
visitor and messages, reading and replying. Live frames (``api/live.py``) and the widget carry
the same message and visitor bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import AliasChoices, Field

from frontdesk.api.schemas.common import Id, MessageText, Request, Response
from frontdesk.core.model import ConversationStatus, Folder, MessageAuthor


class VisitorOut(Response):
    id: int
    name: str | None
    email: str | None
    page_url: str | None
    on_website: bool = Field(
        validation_alias=AliasChoices("present", "on_website"),
        description="Some widget connection of the visitor is open, or closed less than "
        "visitor_left_after ago.",
    )


class MessageOut(Response):
    id: int
    conversation_id: int
    author: MessageAuthor
    agent_id: int | None
    text: str
    created_at: datetime


class ConversationOut(Response):
    id: int
    status: ConversationStatus
    folder: Folder
    group_id: int | None
    assignee_id: int | None
    visitor: VisitorOut
    created_at: datetime
    last_message_at: datetime
    closed_at: datetime | None
    unread: bool
    last_message: MessageOut | None


class ConversationList(Response):
    conversations: list[ConversationOut]


class ConversationDetailOut(ConversationOut):
    last_read_message_id: int | None
    messages: list[MessageOut] = Field(
        description="A page of the messages, oldest first: the newest `limit` (100) of those "
        "before `before` (of all, without it)."
    )
    has_earlier: bool = Field(
        description="Older messages exist: ask with `before=` the first message's id."
    )


class ReadIn(Request):
    message_id: Id | None = None


class ReadOut(Response):
    last_read_message_id: int | None


class ReplyIn(Request):
    text: MessageText
