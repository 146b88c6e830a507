"""Which dashboard folder a conversation is in, for one agent (docs/spec.md section 2)."""

from __future__ import annotations

from frontdesk.core.model import ConversationStatus, Folder


def folder_of(status: ConversationStatus, assignee_id: int | None, viewer_id: int) -> Folder:
    if status is ConversationStatus.CLOSED:
        return Folder.CLOSED
    if status is ConversationStatus.UNSERVED or assignee_id is None:
        return Folder.UNSERVED
    return Folder.MINE if assignee_id == viewer_id else Folder.SERVED
