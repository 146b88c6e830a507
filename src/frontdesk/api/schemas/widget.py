"""Bodies of ``routes/widget.py`` (and of ``api/hot.py``, which serves the widget's messages
in front of FastAPI): the visitor, their messages and their latest conversation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, HttpUrl

from frontdesk.api.schemas.common import Email, Id, MessageText, Name, Patch, Request, Response
from frontdesk.api.schemas.conversations import MessageOut
from frontdesk.core.model import ConversationStatus, Locale

PageUrl = Annotated[HttpUrl, Field(max_length=2048)]


class WidgetStatusOut(Response):
    online: bool
    # Within the business hours (always, without hours); outside, when the team is back.
    open: bool = True
    back_at: datetime | None = None
    # An open alert says that a message written now would reach nobody: the widget says
    # so instead of promising an answer by e-mail (docs/reachability.md).
    nobody_to_tell: bool = False
    # While online, when the account shows it: the median first-response time of the last
    # 7 days in seconds (null: not shown, or too few answered conversations).
    reply_within: float | None = None


class VisitorIn(Request):
    name: Name | None = None
    email: Email | None = None
    page_url: PageUrl | None = None
    # The widget's language: the e-mails that bring agents' answers are written in it.
    locale: Locale | None = None


class NewVisitorOut(Response):
    visitor_id: int
    visitor_token: str


class VisitorMessageIn(Request):
    text: MessageText
    group_id: Id | None = None


class VisitorMessageOut(Response):
    conversation_id: int
    message_id: int


class VisitorPatch(Patch):
    name: Name | None = None
    email: Email | None = None
    page_url: PageUrl | None = None
    locale: Locale | None = None


class VisitorConversationOut(Response):
    """The visitor's latest conversation, for the widget to show again on the next page."""

    conversation_id: int
    status: ConversationStatus
    messages: list[MessageOut]


class VisitorConversationAnswer(Response):
    conversation: VisitorConversationOut | None
