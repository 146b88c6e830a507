"""Agents of an account: invite, list, change, deactivate; and each agent's own profile.

The e-mail address of an agent is also its login (docs/spec.md section 2), so changing it on the
profile changes how the agent logs in, and it stays unique across all accounts.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from frontdesk.core.model import Locale, Role
from frontdesk.core.notifications import NotificationKind
from frontdesk.core.permissions import AgentChange, Refusal, refuse_agent_change
from frontdesk.errors import Conflict, NotAuthenticated, NotFound, PermissionDenied
from frontdesk.service import reply_addresses
from frontdesk.service.accounts import (
    NewAgent,
    access_changed,
    add_agent,
    email_key,
    ensure_email_free,
    load_account,
    require_manager,
    require_strong_password,
    revoke_tokens,
)
from frontdesk.service.events import AgentDeactivated
from frontdesk.service.groups import load_groups_of_account, require_groups
from frontdesk.service.outbox import changed_address, new_address
from frontdesk.service.patching import UNCHANGED, Unchanged, or_none
from frontdesk.service.presence import settle_and_describe
from frontdesk.service.runtime import AgentCaller, Runtime
from frontdesk.service.secrets import read_unsubscribe_token
from frontdesk.store.models import Account, Agent, OutboxKind


@dataclass(frozen=True, slots=True)
class Invited:
    agent: Agent
    # Set when the inviter gave no password: shown once, so it can be handed to the agent.
    initial_password: str | None


def load_agent(session: Session, caller: AgentCaller, agent_id: int) -> Agent:
    agent = session.scalar(
        select(Agent)
        .where(Agent.id == agent_id, Agent.account_id == caller.account_id)
        .options(selectinload(Agent.groups))
    )
    if agent is None:
        raise NotFound(f"There is no agent {agent_id} in this account.", code="agent_not_found")
    return agent


def invite_agent(
    rt: Runtime,
    caller: AgentCaller,
    *,
    name: str,
    email: str,
    role: Role,
    locale: Locale,
    time_zone: str = "UTC",
    password: str | None,
    group_ids: Sequence[int] | None,
) -> Invited:
    require_manager(caller)
    if role is Role.OWNER and caller.role is not Role.OWNER:
        raise _refusal_error(Refusal.ONLY_OWNER_MANAGES_OWNERS)
    initial_password = None if password else secrets.token_urlsafe(12)
    if password:
        require_strong_password(rt, password, known=(name, email))
    password_hash = rt.passwords.hash(password or initial_password or "")
    with rt.database.write() as session:
        groups = []
        if group_ids:
            account = load_account(session, caller)
            require_groups(account)
            groups = load_groups_of_account(session, caller.account_id, group_ids)
        agent = add_agent(
            session,
            rt,
            caller.account_id,
            NewAgent(
                name=name,
                email=email,
                password=password or initial_password or "",
                role=role,
                locale=locale,
                time_zone=time_zone,
            ),
            password_hash=password_hash,
        )
        agent.groups = groups
        inviter = session.get_one(Agent, caller.agent_id)
        # The invitation e-mail is the link that proves the address.
        new_address(session, rt, agent, OutboxKind.INVITATION, sender_name=inviter.name)
    return Invited(agent=agent, initial_password=initial_password)


def list_agents(rt: Runtime, caller: AgentCaller) -> list[Agent]:
    with rt.database.read() as session:
        return list(
            session.scalars(
                select(Agent)
                .where(Agent.account_id == caller.account_id)
                .options(selectinload(Agent.groups))
                .order_by(Agent.id)
            )
        )


def update_agent(
    rt: Runtime,
    caller: AgentCaller,
    agent_id: int,
    *,
    name: str | Unchanged = UNCHANGED,
    role: Role | Unchanged = UNCHANGED,
    locale: Locale | Unchanged = UNCHANGED,
    time_zone: str | Unchanged = UNCHANGED,
    active: bool | Unchanged = UNCHANGED,
    group_ids: Sequence[int] | Unchanged = UNCHANGED,
) -> Agent:
    with rt.database.write() as session:
        agent = load_agent(session, caller, agent_id)
        refusal = refuse_agent_change(
            AgentChange(
                actor_role=caller.role,
                target_role=agent.role,
                target_is_active=agent.active,
                new_role=or_none(role),
                new_active=or_none(active),
                active_owner_count=_active_owner_count(session, caller.account_id),
            )
        )
        if refusal is not None:
            raise _refusal_error(refusal)
        if group_ids is not UNCHANGED:
            require_groups(load_account(session, caller))
            agent.groups = load_groups_of_account(session, caller.account_id, group_ids)
        if name is not UNCHANGED:
            agent.name = name
        if role is not UNCHANGED and role != agent.role:
            agent.role = role
            access_changed(session, rt, agent.id)
        if locale is not UNCHANGED:
            agent.locale = locale
        if time_zone is not UNCHANGED:
            agent.time_zone = time_zone
        if active is not UNCHANGED and active != agent.active:
            agent.active = active
            access_changed(session, rt, agent.id)
            if not active:
                # AgentDeactivated below closes its sockets, telling them why.
                revoke_tokens(session, rt, caller.account_id, agent.id, close_sockets=False)
                reply_addresses.revoke_of_agent(session, rt, agent.id, reason="agent_deactivated")
            # A deactivated agent is offline at once, whatever its devices say (the going
            # offline, or back online, is announced after the commit).
            settle_and_describe(session, rt, agent, rt.clock.now())
            if not active:  # dashboards drop it; its own sockets close (sockets.py)
                rt.record(session, AgentDeactivated(caller.account_id, agent.id))
        return agent


def get_me(rt: Runtime, caller: AgentCaller) -> Agent:
    with rt.database.read() as session:
        return load_agent(session, caller, caller.agent_id)


def update_me(
    rt: Runtime,
    caller: AgentCaller,
    *,
    name: str | Unchanged = UNCHANGED,
    email: str | Unchanged = UNCHANGED,
    locale: Locale | Unchanged = UNCHANGED,
    time_zone: str | Unchanged = UNCHANGED,
    password: str | Unchanged = UNCHANGED,
    current_password: str | None = None,
) -> Agent:
    """A new e-mail address or password needs the current password, checked (and the new
    one hashed) between transactions; the change is made only if the password is still
    the one checked. ``current_password`` changes nothing: it proves the caller."""
    changes_login = False
    checked_hash = new_hash = None
    if email is not UNCHANGED or password is not UNCHANGED:
        with rt.database.read() as session:
            agent = load_agent(session, caller, caller.agent_id)
            checked_hash = agent.password_hash
            known = (agent.name, agent.email, or_none(name) or "", or_none(email) or "")
            changes_login = password is not UNCHANGED or (
                email is not UNCHANGED and email_key(email) != agent.email_key
            )
        if changes_login:
            if not (current_password and rt.passwords.verify(checked_hash, current_password)):
                raise NotAuthenticated(
                    "Changing the e-mail address or the password needs the current password "
                    "in current_password.",
                    code="current_password_required",
                )
            if password is not UNCHANGED:
                require_strong_password(rt, password, known=known)
                new_hash = rt.passwords.hash(password)
    with rt.database.write() as session:
        agent = load_agent(session, caller, caller.agent_id)
        if changes_login and agent.password_hash != checked_hash:
            raise Conflict(
                "The password changed while this request checked it; send it again with "
                "the current password.",
                code="password_changed",
            )
        if email is not UNCHANGED:
            ensure_email_free(session, email, except_agent_id=agent.id)
            if email_key(email) != agent.email_key:
                old_email, old_proven = agent.email, agent.email_confirmed_at is not None
                agent.email = email
                agent.email_key = email_key(email)
                changed_address(session, rt, agent, old_email=old_email, old_proven=old_proven)
                reply_addresses.revoke_of_agent(session, rt, agent.id, reason="email_changed")
            else:
                agent.email = email  # the same address, written otherwise
        if new_hash is not None:
            agent.password_hash = new_hash
        if changes_login:
            # Whoever else holds a session of this agent held it with the old login: every
            # other token ends, and its sockets close; the one that made the change stays.
            revoke_tokens(session, rt, caller.account_id, agent.id, but=caller.token_id)
        if name is not UNCHANGED:
            agent.name = name
        if locale is not UNCHANGED:
            agent.locale = locale
        if time_zone is not UNCHANGED:
            agent.time_zone = time_zone
        return agent


def update_my_notifications(
    rt: Runtime,
    caller: AgentCaller,
    *,
    offline_message_email: bool | Unchanged = UNCHANGED,
    missed_conversation_email: bool | Unchanged = UNCHANGED,
    offline_message_push: bool | Unchanged = UNCHANGED,
    missed_conversation_push: bool | Unchanged = UNCHANGED,
    unserved_conversation_push: bool | Unchanged = UNCHANGED,
) -> Agent:
    with rt.database.write() as session:
        agent = load_agent(session, caller, caller.agent_id)
        if offline_message_email is not UNCHANGED:
            agent.offline_message_email = offline_message_email
        if missed_conversation_email is not UNCHANGED:
            agent.missed_conversation_email = missed_conversation_email
        if offline_message_push is not UNCHANGED:
            agent.offline_message_push = offline_message_push
        if missed_conversation_push is not UNCHANGED:
            agent.missed_conversation_push = missed_conversation_push
        if unserved_conversation_push is not UNCHANGED:
            agent.unserved_conversation_push = unserved_conversation_push
        return agent


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    """Whom an unsubscribe link concerns, and what it switches off."""

    email: str
    locale: Locale
    kind: NotificationKind
    done: bool


def unsubscribe(rt: Runtime, token: str, *, confirm: bool) -> Unsubscribed:
    """An e-mail's unsubscribe link: read it (``confirm=False``, nothing changes) or follow
    it (switches that kind of e-mail off for that agent; doing it twice changes nothing).
    The dashboard switches it on again (``PATCH /me/notifications``)."""
    target = read_unsubscribe_token(rt, token)
    if target is None:
        raise NotFound(
            "This unsubscribe link is not valid: it was changed or cut short.",
            code="unsubscribe_link_invalid",
        )
    with rt.database.write() if confirm else rt.database.read() as session:
        agent = session.get(Agent, target.agent_id)
        if agent is None:
            raise NotFound(
                "The agent this unsubscribe link was sent to no longer exists.",
                code="agent_not_found",
            )
        if confirm:
            if target.kind is NotificationKind.OFFLINE_MESSAGE:
                agent.offline_message_email = False
            else:
                agent.missed_conversation_email = False
        return Unsubscribed(email=agent.email, locale=agent.locale, kind=target.kind, done=confirm)


def _active_owner_count(session: Session, account_id: int) -> int:
    """Counted under row locks: two owners demoting each other at once must not both succeed
    and leave the account without an owner. On PostgreSQL the second transaction waits here
    and re-reads the rows the first one changed; SQLite's BEGIN IMMEDIATE already runs
    writers one at a time."""
    owners = session.scalars(
        select(Agent.id)
        .where(Agent.account_id == account_id, Agent.role == Role.OWNER, Agent.active.is_(True))
        .with_for_update()
    ).all()
    return len(owners)


def _refusal_error(refusal: Refusal) -> PermissionDenied | Conflict:
    match refusal:
        case Refusal.NOT_A_MANAGER:
            return PermissionDenied(
                "Only an owner or an admin of the account may change agents.",
                code=refusal.value,
            )
        case Refusal.ONLY_OWNER_MANAGES_OWNERS:
            return PermissionDenied(
                "Only an owner may make, unmake or deactivate an owner.", code=refusal.value
            )
        case Refusal.LAST_OWNER:
            return Conflict(
                "This is the last active owner of the account; make another agent owner first.",
                code=refusal.value,
            )


def create_agent(rt: Runtime, account_id: int, new: NewAgent) -> Agent:
    """Add an agent to an account without an acting agent (the admin CLI)."""
    require_strong_password(rt, new.password, known=(new.name, new.email))
    password_hash = rt.passwords.hash(new.password)
    with rt.database.write() as session:
        if session.get(Account, account_id) is None:
            raise NotFound(f"There is no account {account_id}.", code="account_not_found")
        agent = add_agent(session, rt, account_id, new, password_hash=password_hash)
        agent.groups = []
        new_address(session, rt, agent, OutboxKind.INVITATION, vouched=True)
        return agent


def vouch_for_address(rt: Runtime, email: str) -> Agent:
    """The operator's ``frontdesk admin confirm-address``: the agent of ``email`` counts as
    having proven it."""
    with rt.database.write() as session:
        agent = session.scalar(select(Agent).where(Agent.email_key == email_key(email)))
        if agent is None:
            raise NotFound(f"No agent has the address {email}.", code="agent_not_found")
        if agent.email_confirmed_at is None:
            agent.email_confirmed_at = rt.clock.now()
        return agent
