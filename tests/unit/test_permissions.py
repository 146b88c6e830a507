"""Who may change whom: managers only, owners by owners, never the last active owner."""

from __future__ import annotations

import pytest

from frontdesk.core.folders import folder_of
from frontdesk.core.model import ConversationStatus, Folder, Role
from frontdesk.core.permissions import AgentChange, Refusal, refuse_agent_change


def change(**fields: object) -> AgentChange:
    base: dict[str, object] = {
        "actor_role": Role.OWNER,
        "target_role": Role.AGENT,
        "target_is_active": True,
        "new_role": None,
        "new_active": None,
        "active_owner_count": 1,
    }
    return AgentChange(**(base | fields))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "refusal"),
    [
        ({"actor_role": Role.AGENT}, Refusal.NOT_A_MANAGER),
        ({"actor_role": Role.ADMIN, "new_role": Role.ADMIN}, None),
        ({"actor_role": Role.ADMIN, "new_role": Role.OWNER}, Refusal.ONLY_OWNER_MANAGES_OWNERS),
        (
            {"actor_role": Role.ADMIN, "target_role": Role.OWNER, "new_active": False},
            Refusal.ONLY_OWNER_MANAGES_OWNERS,
        ),
        ({"actor_role": Role.ADMIN, "target_role": Role.OWNER}, None),
        ({"target_role": Role.OWNER, "new_role": Role.ADMIN}, Refusal.LAST_OWNER),
        ({"target_role": Role.OWNER, "new_active": False}, Refusal.LAST_OWNER),
        (
            {"target_role": Role.OWNER, "new_active": False, "active_owner_count": 2},
            None,
        ),
        ({"target_role": Role.OWNER, "new_role": Role.OWNER}, None),
        ({"new_role": Role.OWNER}, None),
    ],
)
def test_agent_changes(fields: dict[str, object], refusal: Refusal | None) -> None:
    assert refuse_agent_change(change(**fields)) is refusal


@pytest.mark.parametrize(
    ("status", "assignee", "folder"),
    [
        (ConversationStatus.UNSERVED, None, Folder.UNSERVED),
        (ConversationStatus.SERVED, 7, Folder.MINE),
        (ConversationStatus.SERVED, 8, Folder.SERVED),
        (ConversationStatus.CLOSED, 7, Folder.CLOSED),
        (ConversationStatus.CLOSED, None, Folder.CLOSED),
    ],
)
def test_folder_as_seen_by_agent_7(
    status: ConversationStatus, assignee: int | None, folder: Folder
) -> None:
    assert folder_of(status, assignee, viewer_id=7) is folder
