"""PRO groups: named sets of agents that a conversation can be routed to (docs/spec.md
section 2)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from frontdesk.core.plans import has_groups
from frontdesk.errors import Conflict, NotFound, PlanLacksFeature
from frontdesk.service.accounts import load_account, require_manager
from frontdesk.service.patching import UNCHANGED, Unchanged
from frontdesk.service.runtime import AgentCaller, Runtime
from frontdesk.store.models import Account, Agent, Group


def require_groups(account: Account) -> None:
    if not has_groups(account.plan):
        raise PlanLacksFeature(
            f"Groups are part of the PRO plan; this account is on {account.plan.value.upper()}.",
        )


def load_groups_of_account(
    session: Session, account_id: int, group_ids: Sequence[int]
) -> list[Group]:
    wanted = set(group_ids)
    groups = list(
        session.scalars(select(Group).where(Group.account_id == account_id, Group.id.in_(wanted)))
    )
    missing = wanted - {g.id for g in groups}
    if missing:
        raise group_not_found(min(missing))
    return sorted(groups, key=lambda g: g.id)


def group_not_found(group_id: int) -> NotFound:
    return NotFound(f"There is no group {group_id} in this account.", code="group_not_found")


def load_group(session: Session, caller: AgentCaller, group_id: int) -> Group:
    (group,) = load_groups_of_account(session, caller.account_id, [group_id])
    return group


def create_group(
    rt: Runtime, caller: AgentCaller, *, name: str, agent_ids: Sequence[int] = ()
) -> Group:
    require_manager(caller)
    with rt.database.write() as session:
        require_groups(load_account(session, caller))
        if _name_in_use(session, caller.account_id, name):
            raise _name_taken(name)
        group = Group(account_id=caller.account_id, name=name, created_at=rt.clock.now())
        group.members = _load_members(session, caller, agent_ids)
        session.add(group)
        try:
            session.flush()
        except IntegrityError as exc:  # a concurrent create with the same name won
            raise _name_taken(name) from exc
    return group


def list_groups(rt: Runtime, caller: AgentCaller) -> list[Group]:
    """On every plan, like deleting: an account that left PRO must find its groups to
    tidy them up (on FREE and STANDARD there are none otherwise)."""
    with rt.database.read() as session:
        return list(
            session.scalars(
                select(Group)
                .where(Group.account_id == caller.account_id)
                .options(selectinload(Group.members))
                .order_by(Group.id)
            )
        )


def update_group(
    rt: Runtime,
    caller: AgentCaller,
    group_id: int,
    *,
    name: str | Unchanged = UNCHANGED,
    agent_ids: Sequence[int] | Unchanged = UNCHANGED,
) -> Group:
    require_manager(caller)
    with rt.database.write() as session:
        require_groups(load_account(session, caller))
        group = load_group(session, caller, group_id)
        if name is not UNCHANGED and name != group.name:
            if _name_in_use(session, caller.account_id, name, except_group_id=group.id):
                raise _name_taken(name)
            group.name = name
        if agent_ids is not UNCHANGED:
            group.members = _load_members(session, caller, agent_ids)
        session.flush()
        session.refresh(group, ["members"])
        return group


def delete_group(rt: Runtime, caller: AgentCaller, group_id: int) -> None:
    """Allowed on every plan, so that an account that left PRO can still tidy up."""
    require_manager(caller)
    with rt.database.write() as session:
        group = load_group(session, caller, group_id)
        session.delete(group)


def _load_members(session: Session, caller: AgentCaller, agent_ids: Sequence[int]) -> list[Agent]:
    wanted = set(agent_ids)
    agents = list(
        session.scalars(
            select(Agent).where(Agent.account_id == caller.account_id, Agent.id.in_(wanted))
        )
    )
    missing = wanted - {a.id for a in agents}
    if missing:
        raise NotFound(f"There is no agent {min(missing)} in this account.", code="agent_not_found")
    return sorted(agents, key=lambda a: a.id)


def _name_in_use(
    session: Session, account_id: int, name: str, *, except_group_id: int | None = None
) -> bool:
    """Group names are compared without case: "Sales" and "sales" would confuse everyone."""
    query = select(Group.id).where(
        Group.account_id == account_id, func.lower(Group.name) == name.lower()
    )
    if except_group_id is not None:
        query = query.where(Group.id != except_group_id)
    return session.scalar(query) is not None


def _name_taken(name: str) -> Conflict:
    return Conflict(f"A group named {name!r} already exists.", code="group_name_taken")
