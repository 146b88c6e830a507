"""The visitor side, addressed by the account's public widget key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response, status

from frontdesk.api.deps import RuntimeDep, VisitorDep
from frontdesk.api.schemas.common import MAX_ID, WIDGET_KEY_PATTERN
from frontdesk.api.schemas.conversations import MessageOut, VisitorOut
from frontdesk.api.schemas.widget import (
    NewVisitorOut,
    VisitorConversationAnswer,
    VisitorConversationOut,
    VisitorIn,
    VisitorMessageIn,
    VisitorMessageOut,
    VisitorPatch,
    WidgetStatusOut,
)
from frontdesk.service import presence, visitor_messages_together, widget
from frontdesk.service.patching import UNCHANGED
from frontdesk.service.visitor_messages import Replayed

router = APIRouter(prefix="/widget/{widget_key}", tags=["widget"])
VISITOR_HISTORY = 200
WidgetKey = Annotated[str, Path(pattern=WIDGET_KEY_PATTERN)]


@router.get("/status")
def widget_status(
    widget_key: WidgetKey,
    rt: RuntimeDep,
    group_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> WidgetStatusOut:
    """Online iff an agent of the scope (the account, or the PRO group) is online and the
    team is within its business hours; outside them ``back_at`` says when it is back."""
    return _status_out(widget.widget_status(rt, widget_key, group_id=group_id))


@router.post("/visitors", status_code=status.HTTP_201_CREATED)
def create_visitor(widget_key: WidgetKey, body: VisitorIn, rt: RuntimeDep) -> NewVisitorOut:
    created = widget.create_visitor(
        rt,
        widget_key,
        name=body.name,
        email=body.email,
        page_url=str(body.page_url) if body.page_url else None,
        locale=body.locale,
    )
    return NewVisitorOut(visitor_id=created.visitor.id, visitor_token=created.token)


@router.patch("/visitor")
def patch_visitor(
    widget_key: WidgetKey, body: VisitorPatch, visitor: VisitorDep, rt: RuntimeDep
) -> VisitorOut:
    """The visitor's own name, e-mail (asked by the offline form), current page and the
    widget's language."""
    sent = body.sent()
    locale = sent.pop("locale", UNCHANGED)
    changed = widget.update_visitor(
        rt,
        visitor,
        locale=locale,
        # Strings, not pydantic's URL and address types; null is refused by the schema.
        **{key: str(value) for key, value in sent.items()},
    )
    return VisitorOut.model_validate(changed)


@router.get("/conversation")
def get_visitor_conversation(
    widget_key: WidgetKey, visitor: VisitorDep, rt: RuntimeDep
) -> VisitorConversationAnswer:
    """The visitor's latest conversation (``null`` before the first message) with its
    newest 200 messages, so the widget shows it again on the next page of the site."""
    found = widget.visitor_conversation(rt, visitor, max_messages=VISITOR_HISTORY)
    if found is None:
        return VisitorConversationAnswer(conversation=None)
    return VisitorConversationAnswer(
        conversation=VisitorConversationOut(
            conversation_id=found.conversation.id,
            status=found.conversation.status,
            messages=[MessageOut.model_validate(message) for message in found.messages],
        )
    )


@router.post("/messages", status_code=status.HTTP_201_CREATED)
async def post_message(
    widget_key: WidgetKey,
    body: VisitorMessageIn,
    visitor: VisitorDep,
    rt: RuntimeDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=r"^[\x21-\x7e]{1,100}$",
            description="A key of the client's for this message (1 to 100 visible ASCII "
            "characters, a UUID say): sent again with the same key, the message is not "
            "stored twice; the answer is the first one's, with `Idempotent-Replayed: true`.",
        ),
    ] = None,
) -> VisitorMessageOut:
    """A visitor message: joins the visitor's open conversation or opens one. (The plain
    case is served ahead of this route, by frontdesk.api.hot, with the same answer.)"""
    posted = await visitor_messages_together.post_visitor_message_soon(
        rt, visitor, text=body.text, group_id=body.group_id, idempotency_key=idempotency_key
    )
    if isinstance(posted, Replayed):
        response.headers["Idempotent-Replayed"] = "true"
    return VisitorMessageOut(conversation_id=posted.conversation_id, message_id=posted.message_id)


@router.post("/heartbeat")
def visitor_heartbeat(
    widget_key: WidgetKey, visitor: VisitorDep, rt: RuntimeDep
) -> WidgetStatusOut:
    """REST presence of a visitor without a socket: call at least every
    ``visitor_left_after`` seconds, or the visitor counts as having left. Answers whether
    the widget is online for this visitor."""
    presence.visitor_seen(rt, visitor)
    return _status_out(widget.visitor_status(rt, visitor))


def _status_out(found: widget.WidgetStatus) -> WidgetStatusOut:
    return WidgetStatusOut(
        online=found.online,
        open=found.open,
        back_at=found.back_at,
        nobody_to_tell=found.nobody_to_tell,
        reply_within=found.reply_within,
    )
