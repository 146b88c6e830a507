"""Sign-up, login and logout, the account and its notification settings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from frontdesk.core.model import Locale, Plan, Role
from frontdesk.core.notifications import AGENT_CHOICES
from frontdesk.core.permissions import can_manage_account
from frontdesk.errors import (
    Conflict,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
)
from frontdesk.security import (
    AGENT_TOKEN_PREFIX,
    new_token,
    new_widget_key,
    password_weakness,
    token_digest,
)
from frontdesk.service.events import AgentAccessChanged, SessionsEnded
from frontdesk.service.outbox import new_address
from frontdesk.service.patching import UNCHANGED, Unchanged
from frontdesk.service.runtime import ACCESS_CHANNEL, AgentCaller, Runtime
from frontdesk.service.secrets import read_signup_invitation
from frontdesk.store.models import Account, Agent, AgentToken, OutboxKind, PushSubscription
from frontdesk.store.plain import PlainStatement


@dataclass(frozen=True, slots=True)
class NewAgent:
    name: str
    email: str
    password: str
    role: Role = Role.AGENT
    locale: Locale = Locale.EN
    time_zone: str = "UTC"


@dataclass(frozen=True, slots=True)
class SignedUp:
    account: Account
    owner: Agent
    token: str


def email_key(email: str) -> str:
    return email.strip().casefold()


def ensure_email_free(session: Session, email: str, *, except_agent_id: int | None = None) -> None:
    existing = session.scalar(select(Agent.id).where(Agent.email_key == email_key(email)))
    if existing is not None and existing != except_agent_id:
        raise Conflict(
            "An agent with this e-mail address already exists; the address is the login, "
            "so it can belong to one agent only.",
            code="email_taken",
        )


def add_agent(
    session: Session, rt: Runtime, account_id: int, new: NewAgent, *, password_hash: str
) -> Agent:
    """``password_hash``: ``new.password`` hashed before the transaction began (hashing
    takes tens of milliseconds, which a write transaction would hold SQLite for)."""
    ensure_email_free(session, new.email)
    agent = Agent(
        account_id=account_id,
        name=new.name,
        email=new.email,
        email_key=email_key(new.email),
        password_hash=password_hash,
        role=new.role,
        locale=new.locale,
        time_zone=new.time_zone,
        active=True,
        created_at=rt.clock.now(),
    )
    # The owner's defaults of the agent's own choices (Settings → Notifications).
    defaults = session.scalar(select(Account.agent_defaults).where(Account.id == account_id))
    for choice in AGENT_CHOICES:
        setattr(agent, choice, (defaults or {}).get(choice, True))
    session.add(agent)
    session.flush()
    return agent


def require_strong_password(rt: Runtime, password: str, *, known: Sequence[str]) -> None:
    """Refuse a new password that is easy to guess; ``known``: what a guesser would try
    first (the person's name and address, the account's name)."""
    weakness = password_weakness(
        password, user_inputs=known, min_guesses=rt.settings.password_min_guesses
    )
    if weakness is not None:
        raise InvalidInput(weakness, code="weak_password")


def issue_token(session: Session, rt: Runtime, agent_id: int) -> str:
    token = new_token(AGENT_TOKEN_PREFIX)
    session.add(
        AgentToken(agent_id=agent_id, token_hash=token_digest(token), created_at=rt.clock.now())
    )
    return token


def require_signup_allowed(rt: Runtime, email: str, invitation: str | None) -> None:
    """Whether ``FRONTDESK_SIGNUP`` lets this address create an account through the API
    (the admin CLI always may)."""
    mode = rt.settings.signup
    if mode == "open":
        return
    if mode == "closed":
        raise PermissionDenied(
            "Sign-up is closed on this installation: its operator creates accounts "
            "(frontdesk admin create-account).",
            code="signup_closed",
        )
    invited = None if invitation is None else read_signup_invitation(rt, invitation)
    if invited is None or invited != email_key(email):
        raise PermissionDenied(
            "Sign-up on this installation needs an invitation for this e-mail address, "
            "from its operator (frontdesk admin invite-account); an invitation is valid "
            "for one address and runs out.",
            code="signup_invitation_required",
        )


def sign_up(
    rt: Runtime,
    *,
    name: str,
    plan: Plan,
    owner: NewAgent,
    invitation: str | None = None,
    by_operator: bool = False,
) -> SignedUp:
    """A new account and its owner; ``by_operator``: the admin CLI, which
    ``FRONTDESK_SIGNUP`` does not restrict."""
    if not by_operator:
        require_signup_allowed(rt, owner.email, invitation)
    require_strong_password(rt, owner.password, known=(owner.name, owner.email, name))
    vouched = by_operator or (
        invitation is not None and read_signup_invitation(rt, invitation) == email_key(owner.email)
    )
    password_hash = rt.passwords.hash(owner.password)
    with rt.database.write() as session:
        account = Account(
            name=name,
            plan=plan,
            widget_key=new_widget_key(),
            offline_message_email=True,
            missed_conversation_email=False,
            created_at=rt.clock.now(),
        )
        session.add(account)
        session.flush()
        agent = add_agent(
            session,
            rt,
            account.id,
            NewAgent(
                name=owner.name,
                email=owner.email,
                password=owner.password,
                role=Role.OWNER,
                locale=owner.locale,
            ),
            password_hash=password_hash,
        )
        # The operator vouches for an address it typed or sent an invitation to.
        new_address(
            session,
            rt,
            agent,
            OutboxKind.CONFIRM_ADDRESS,
            vouched=vouched,
        )
        token = issue_token(session, rt, agent.id)
    return SignedUp(account=account, owner=agent, token=token)


def log_in(rt: Runtime, *, email: str, password: str) -> str:
    """A new token for the agent of ``email`` if ``password`` is its password. The
    password is checked between two transactions, not inside one; the token is issued only
    if the password is still the one checked."""
    with rt.database.read() as session:
        found = session.execute(
            select(Agent.id, Agent.password_hash).where(Agent.email_key == email_key(email))
        ).first()
    if not rt.passwords.verify(found.password_hash if found else None, password):
        raise _wrong_credentials()
    assert found is not None
    with rt.database.write() as session:
        agent = session.get(Agent, found.id)
        if agent is None or agent.password_hash != found.password_hash:
            raise _wrong_credentials()  # changed while it was checked
        if not agent.active:
            raise PermissionDenied(
                "This agent was deactivated by an administrator of the account.",
                code="agent_deactivated",
            )
        return issue_token(session, rt, agent.id)


def _wrong_credentials() -> NotAuthenticated:
    return NotAuthenticated("Wrong e-mail address or password.", code="invalid_credentials")


def log_out(rt: Runtime, caller: AgentCaller) -> None:
    """Revoke the caller's token; its open sockets close."""
    with rt.database.write() as session:
        token = session.get(AgentToken, caller.token_id)
        if token is not None and token.revoked_at is None:
            token.revoked_at = rt.clock.now()
            # This browser's pushes end with its login (frontdesk.service.push).
            session.execute(
                delete(PushSubscription).where(PushSubscription.token_id == caller.token_id)
            )
            access_changed(session, rt, caller.agent_id)
            rt.record(
                session,
                SessionsEnded(caller.account_id, caller.agent_id, token_ids=(caller.token_id,)),
            )


def log_out_everywhere(rt: Runtime, caller: AgentCaller) -> None:
    """Revoke every token of the caller's agent, this one too; every socket closes."""
    with rt.database.write() as session:
        revoke_tokens(session, rt, caller.account_id, caller.agent_id)


def revoke_tokens(
    session: Session,
    rt: Runtime,
    account_id: int,
    agent_id: int,
    *,
    but: int | None = None,
    close_sockets: bool = True,
) -> None:
    """Revoke the agent's tokens (all ``but`` one) in this transaction; once it commits,
    no process takes them, and unless ``close_sockets`` is off (the caller closes them
    another way), their sockets close."""
    revoking = update(AgentToken).where(
        AgentToken.agent_id == agent_id, AgentToken.revoked_at.is_(None)
    )
    if but is not None:
        revoking = revoking.where(AgentToken.id != but)
    session.execute(revoking.values(revoked_at=rt.clock.now()))
    # Their browsers' pushes end with their logins (frontdesk.service.push).
    forgetting = delete(PushSubscription).where(PushSubscription.agent_id == agent_id)
    if but is not None:
        forgetting = forgetting.where(PushSubscription.token_id != but)
    session.execute(forgetting)
    access_changed(session, rt, agent_id)
    if close_sockets:
        rt.record(session, SessionsEnded(account_id, agent_id, every_token=True, all_but=but))


def access_changed(session: Session, rt: Runtime, agent_id: int) -> None:
    """What the agent's tokens prove changes with this transaction: once it commits, no
    process takes them from what it remembered (``AgentCallers``)."""
    rt.record(session, AgentAccessChanged(agent_id))
    rt.tell_others(session, ACCESS_CHANNEL)


def known_agent(rt: Runtime, token: str) -> AgentCaller | None:
    """The agent of a token this process has proven and remembers, while what it proved
    still holds (no I/O)."""
    return _remembered(rt, token_digest(token), rt.clock.now())


def _remembered(rt: Runtime, digest: str, now: datetime) -> AgentCaller | None:
    known = rt.agent_callers.get(digest)
    if known is None or (known.fresh_until is not None and now >= known.fresh_until):
        return None
    return known


@dataclass(frozen=True, slots=True)
class ProvenToken:
    """An agent token looked up: whose it is, whether its use is to be recorded now (it
    was last recorded ``token_touch_every`` ago or more), and the remembered-callers
    version read before the look-up."""

    digest: str
    caller: AgentCaller
    touch: bool
    seen: int


def prove_agent_token(rt: Runtime, token: str) -> ProvenToken:
    """Look an agent token up (a read; ``authenticate_agent`` records its use and
    remembers it). A token expires ``token_idle_timeout`` after it was last used and
    ``token_lifetime`` after it was issued, whatever its use (docs/security.md)."""
    digest = token_digest(token)
    callers = rt.agent_callers
    now = rt.clock.now()
    known = _remembered(rt, digest, now)
    if known is not None:
        return ProvenToken(digest, known, touch=False, seen=callers.version)
    seen = callers.version
    with rt.database.read() as session:
        row = _AGENT_OF_TOKEN.first(session.connection(), token_hash=digest)
    if row is None:
        raise NotAuthenticated(
            "The bearer token is unknown, revoked or belongs to a deactivated agent; "
            "log in again with POST /api/v1/auth/login.",
            code="invalid_token",
        )
    token_id, agent_id, account_id, role, created_at, last_used_at = row
    settings = rt.settings
    used_at = last_used_at or created_at
    ends_at = min(
        created_at + timedelta(seconds=settings.token_lifetime),
        used_at + timedelta(seconds=settings.token_idle_timeout),
    )
    if now >= ends_at:
        raise NotAuthenticated(
            "The session has run out (unused for too long, or too old); log in again with "
            "POST /api/v1/auth/login.",
            code="token_expired",
        )
    touch_every = timedelta(seconds=token_touch_every(rt))
    touch = now - used_at >= touch_every
    recheck_at = min(
        (now if touch else used_at) + touch_every,
        created_at + timedelta(seconds=settings.token_lifetime),
    )
    caller = AgentCaller(
        agent_id=agent_id,
        account_id=account_id,
        role=role,
        token_id=token_id,
        fresh_until=recheck_at,
    )
    return ProvenToken(digest, caller, touch=touch, seen=seen)


def token_touch_every(rt: Runtime) -> float:
    """How often a token's use is written down: a tenth of the idle timeout, at most an
    hour, so the idle timeout is kept to within that and a busy token costs one write an
    hour."""
    return min(rt.settings.token_idle_timeout / 10, 3600.0)


def touch_token(session: Session, rt: Runtime, proven: ProvenToken) -> None:
    """Record that the token was used now (``run_write`` or a write transaction)."""
    session.execute(
        update(AgentToken)
        .where(AgentToken.id == proven.caller.token_id)
        .values(last_used_at=rt.clock.now())
    )


def remember_agent(rt: Runtime, proven: ProvenToken) -> AgentCaller:
    rt.agent_callers.remember(proven.digest, proven.caller, seen=proven.seen)
    return proven.caller


def authenticate_agent(rt: Runtime, token: str) -> AgentCaller:
    """The agent of a bearer token (every request of the dashboard, every agent socket),
    remembered once proven until the agent's access changes or it is time to look again
    (``fresh_until``)."""
    proven = prove_agent_token(rt, token)
    if proven.touch:
        with rt.database.write() as session:
            touch_token(session, rt, proven)
    return remember_agent(rt, proven)


_AGENT_OF_TOKEN = PlainStatement(
    select(
        AgentToken.id,
        Agent.id,
        Agent.account_id,
        Agent.role,
        AgentToken.created_at,
        AgentToken.last_used_at,
    )
    .join(Agent, Agent.id == AgentToken.agent_id)
    .where(
        AgentToken.token_hash == bindparam("token_hash"),
        AgentToken.revoked_at.is_(None),
        Agent.active.is_(True),
    )
)


def require_manager(caller: AgentCaller) -> None:
    if not can_manage_account(caller.role):
        raise PermissionDenied(
            "Only an owner or an admin of the account may do this.", code="not_a_manager"
        )


def load_account(session: Session, caller: AgentCaller) -> Account:
    account = session.get(Account, caller.account_id)
    if account is None:  # the account was deleted under a live token
        raise NotFound("The account does not exist any more.", code="account_not_found")
    return account


def get_account(rt: Runtime, caller: AgentCaller) -> Account:
    with rt.database.read() as session:
        return load_account(session, caller)


def agent_idle_after(rt: Runtime, caller: AgentCaller) -> float | None:
    """The account's ``agent_idle_after`` (docs/reachability.md)."""
    with rt.database.read() as session:
        return session.scalar(
            select(Account.agent_idle_after).where(Account.id == caller.account_id)
        )


def update_account(
    rt: Runtime,
    caller: AgentCaller,
    *,
    name: str | Unchanged = UNCHANGED,
    plan: Plan | Unchanged = UNCHANGED,
) -> Account:
    require_manager(caller)
    with rt.database.write() as session:
        account = load_account(session, caller)
        if name is not UNCHANGED:
            account.name = name
        if plan is not UNCHANGED:
            account.plan = plan
        return account


def update_notification_settings(
    rt: Runtime,
    caller: AgentCaller,
    *,
    offline_message_email: bool | Unchanged = UNCHANGED,
    missed_conversation_email: bool | Unchanged = UNCHANGED,
    offline_email_delay: float | Unchanged | None = UNCHANGED,
    offline_push_delay: float | Unchanged | None = UNCHANGED,
    agent_defaults: Mapping[str, bool] | Unchanged = UNCHANGED,
    visitor_transcript: bool | Unchanged = UNCHANGED,
    agent_idle_after: float | Unchanged | None = UNCHANGED,
    alert_nobody_online_after: float | Unchanged | None = UNCHANGED,
    expected_reply_time: bool | Unchanged = UNCHANGED,
) -> Account:
    """A delay ``None``: the installation's again. ``agent_defaults``: the choices new
    agents start with, merged into the current ones (agents added before keep theirs).
    ``agent_idle_after`` ``None``: nobody is ever away; a change applies to every device
    at once (``presence.idle_after_changed``)."""
    require_manager(caller)
    with rt.database.write() as session:
        account = load_account(session, caller)
        if offline_message_email is not UNCHANGED:
            account.offline_message_email = offline_message_email
        if missed_conversation_email is not UNCHANGED:
            account.missed_conversation_email = missed_conversation_email
        if offline_email_delay is not UNCHANGED:
            account.offline_email_delay = offline_email_delay
        if offline_push_delay is not UNCHANGED:
            account.offline_push_delay = offline_push_delay
        if agent_defaults is not UNCHANGED:
            account.agent_defaults = agent_defaults_of(account) | dict(agent_defaults)
        if visitor_transcript is not UNCHANGED:
            account.visitor_transcript = visitor_transcript
        if alert_nobody_online_after is not UNCHANGED:
            account.alert_nobody_online_after = alert_nobody_online_after
        if expected_reply_time is not UNCHANGED:
            account.expected_reply_time = expected_reply_time
        if agent_idle_after is not UNCHANGED and agent_idle_after != account.agent_idle_after:
            account.agent_idle_after = agent_idle_after
            session.flush()
            # Presence reaches the engine, whose webhooks ask this module who manages.
            from frontdesk.service.presence import idle_after_changed

            idle_after_changed(session, rt, account.id, agent_idle_after)
        return account


def agent_defaults_of(account: Account) -> dict[str, bool]:
    """Every agent choice with the account's default for new agents."""
    chosen = account.agent_defaults or {}
    return {choice: bool(chosen.get(choice, True)) for choice in AGENT_CHOICES}


def sole_widget_key(rt: Runtime) -> str | None:
    """The widget key of the installation's only account, or ``None`` when there are none
    or several: the demo page uses it so that a new installation shows its own widget."""
    with rt.database.read() as session:
        keys = session.scalars(select(Account.widget_key).limit(2)).all()
    return keys[0] if len(keys) == 1 else None
