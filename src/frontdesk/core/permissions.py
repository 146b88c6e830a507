"""Who may do what to whom.

Owners and admins manage the account (plan, settings, agents, groups); agents manage only
their own profile. Two rules keep an account from locking itself out: only an owner may make
or unmake owners, and the last active owner can be neither demoted nor deactivated.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from frontdesk.core.model import Role


class Refusal(StrEnum):
    NOT_A_MANAGER = "not_a_manager"
    ONLY_OWNER_MANAGES_OWNERS = "only_owner_manages_owners"
    LAST_OWNER = "last_owner"


MANAGER_ROLES = frozenset({Role.OWNER, Role.ADMIN})


def can_manage_account(role: Role) -> bool:
    return role in MANAGER_ROLES


@dataclass(frozen=True, slots=True)
class AgentChange:
    """A change one agent asks for on another agent (or on itself)."""

    actor_role: Role
    target_role: Role
    target_is_active: bool
    new_role: Role | None
    new_active: bool | None
    active_owner_count: int


def refuse_agent_change(change: AgentChange) -> Refusal | None:
    """``None`` when the change is allowed, else why not."""
    if not can_manage_account(change.actor_role):
        return Refusal.NOT_A_MANAGER
    touches_owner = change.target_role is Role.OWNER or change.new_role is Role.OWNER
    changes_role = change.new_role is not None and change.new_role is not change.target_role
    changes_active = change.new_active is not None and change.new_active != change.target_is_active
    if touches_owner and (changes_role or changes_active) and change.actor_role is not Role.OWNER:
        return Refusal.ONLY_OWNER_MANAGES_OWNERS
    stops_being_active_owner = (
        change.target_role is Role.OWNER
        and change.target_is_active
        and (
            (change.new_role is not None and change.new_role is not Role.OWNER)
            or change.new_active is False
        )
    )
    if stops_being_active_owner and change.active_owner_count <= 1:
        return Refusal.LAST_OWNER
    return None
