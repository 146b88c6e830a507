"""The expected reply time a widget may show (docs/reachability.md): the median time from
a conversation's first visitor message to its first agent answer, over the conversations
opened in the last 7 days. Opt-in per account (``expected_reply_time``); kept per process
for a few minutes, as every widget of a busy site asks."""

from __future__ import annotations

from datetime import datetime, timedelta
from statistics import median

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from frontdesk.core.model import MessageAuthor
from frontdesk.store.models import Conversation, Message

WINDOW = timedelta(days=7)
# How long a median is kept before it is worked out again.
KEPT_FOR = timedelta(minutes=5)
# Fewer answered conversations than this say nothing worth showing.
ENOUGH = 3

_kept: dict[int, tuple[datetime, float | None]] = {}


def median_first_response(session: Session, account_id: int, now: datetime) -> float | None:
    """Seconds; ``None`` while fewer than ``ENOUGH`` conversations of the window had an
    answer."""
    kept = _kept.get(account_id)
    if kept is not None and now - kept[0] < KEPT_FOR and kept[0] <= now:
        return kept[1]
    first_visitor = func.min(Message.created_at).filter(Message.author == MessageAuthor.VISITOR)
    first_agent = func.min(Message.created_at).filter(Message.author == MessageAuthor.AGENT)
    rows = session.execute(
        select(first_visitor, first_agent)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            and_(
                Conversation.account_id == account_id,
                Conversation.created_at >= now - WINDOW,
            )
        )
        .group_by(Message.conversation_id)
    ).all()
    waits = [
        (answered - asked).total_seconds()
        for asked, answered in rows
        if asked is not None and answered is not None and answered >= asked
    ]
    found = median(waits) if len(waits) >= ENOUGH else None
    _kept[account_id] = (now, found)
    return found
