"""E-mails that are not one notification to one agent: the links that prove an address, and
the digest of what an agent's hourly cap held back (docs/security.md).

*Addresses proven first.* Anyone may type anyone's address at sign-up, in an invitation or
as a new address of their own. Such an address gets no notification (the engine leaves it
out, ``unconfirmed``) until the link sent to it is followed; the invitation e-mail is that
link. Until an owner of the account has confirmed their address, the account may cause
only ``unconfirmed_account_emails`` of these e-mails in all, so an anonymous sign-up is no
relay to strangers' inboxes.

*Hourly caps.* An agent gets at most ``emails_per_agent_per_hour`` notification e-mails in
any ``email_cap_window``, and an account's agents at most ``emails_per_account_per_hour``
together. Beyond a cap, the delivery is held and joins the agent's one pending digest,
which goes out when the window that filled the cap has passed.

Both kinds are rows of ``mail_outbox``, sent by the engine's send loop under leases with
the retries of a delivery.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from frontdesk.core.model import Locale, Role
from frontdesk.core.notifications import (
    DeliveryState,
    NotificationKind,
)
from frontdesk.errors import (
    Conflict,
    InvalidInput,
    PermissionDenied,
    TooManyRequests,
)
from frontdesk.mail.identifiers import (
    confirmation_link,
    conversation_link,
    dashboard_link,
    message_id_domain,
    notice_message_id,
    settings_link,
)
from frontdesk.mail.notices import DigestLine, Notice
from frontdesk.mail.transport import SendOutcome
from frontdesk.mail.verp import outbox_verp_token, return_path, return_path_base
from frontdesk.service import visitor_emails
from frontdesk.service.attempts import record_attempt
from frontdesk.service.runtime import AgentCaller, Runtime
from frontdesk.service.secrets import (
    VERP_KEY,
    address_confirmation,
    installation_secret,
    read_address_confirmation,
)
from frontdesk.store.models import (
    Account,
    Agent,
    Alert,
    Conversation,
    Delivery,
    Notification,
    OutboxEmail,
    OutboxKind,
    Visitor,
    WebhookEndpoint,
)

_ADDRESS_KINDS = (OutboxKind.CONFIRM_ADDRESS, OutboxKind.INVITATION)
_WAITING = (DeliveryState.PENDING, DeliveryState.DEFERRED)


# --- addresses ------------------------------------------------------------------------------


def new_address(
    session: Session,
    rt: Runtime,
    agent: Agent,
    kind: OutboxKind,
    *,
    sender_name: str | None = None,
    vouched: bool = False,
) -> None:
    """In the transaction that gives ``agent`` (flushed) its address: the address counts as
    proven when ``vouched`` (the operator's CLI, an operator's sign-up invitation) or when
    the installation does not ask for proof; otherwise it is unproven, and the link that
    proves it is queued."""
    now = rt.clock.now()
    if vouched or not rt.settings.confirm_addresses:
        agent.email_confirmed_at = now
        return
    agent.email_confirmed_at = None
    _require_account_may_mail(session, rt, agent.account_id, but=agent.id)
    _queue(session, rt, agent, kind, now, sender_name=sender_name)


def changed_address(
    session: Session, rt: Runtime, agent: Agent, *, old_email: str, old_proven: bool
) -> None:
    """In the transaction that changes ``agent``'s address (already set): notifications
    and the login move to it at once, and it gets a short e-mail at once, so that a typo or
    a full mailbox shows in the checklist within seconds (docs/reachability.md). When the
    installation asks for proof, that e-mail is the confirmation link; otherwise a test.
    The old address, if it was proven, is told what it was changed to, so a stolen session
    cannot quietly take an agent's notifications elsewhere."""
    now = rt.clock.now()
    if rt.settings.confirm_addresses:
        agent.email_confirmed_at = None
        _require_account_may_mail(session, rt, agent.account_id, but=agent.id)
        _queue(session, rt, agent, OutboxKind.CONFIRM_ADDRESS, now)
    else:
        agent.email_confirmed_at = now
        _queue(session, rt, agent, OutboxKind.ADDRESS_TEST, now)
    if old_proven:
        _queue(session, rt, agent, OutboxKind.ADDRESS_CHANGED, now, email=old_email)


def queue_test_email(session: Session, rt: Runtime, agent: Agent, now: datetime) -> OutboxEmail:
    """The e-mail of a test notification, to the agent's present address."""
    return _queue(session, rt, agent, OutboxKind.TEST_NOTIFICATION, now)


def resend_confirmation(rt: Runtime, caller: AgentCaller) -> None:
    """``POST /me/confirmation``: the link once more, to the agent's present address."""
    now = rt.clock.now()
    with rt.database.write() as session:
        agent = session.get_one(Agent, caller.agent_id)
        if agent.email_confirmed_at is not None:
            raise Conflict("Your e-mail address is confirmed already.", code="already_confirmed")
        last = session.scalar(
            select(func.max(OutboxEmail.created_at)).where(
                OutboxEmail.agent_id == agent.id, OutboxEmail.kind.in_(_ADDRESS_KINDS)
            )
        )
        wait = rt.settings.confirmation_resend_after
        if last is not None and (since := (now - last).total_seconds()) < wait:
            raise TooManyRequests(
                "A confirmation link was sent to this address a moment ago; look for it "
                "(and in the spam folder) before asking for another.",
                retry_after=wait - since,
                code="confirmation_sent_recently",
            )
        _require_account_may_mail(session, rt, agent.account_id, but=None)
        _queue(session, rt, agent, OutboxKind.CONFIRM_ADDRESS, now)


def confirm_address(rt: Runtime, token: str) -> Agent:
    """Follow a confirmation or invitation link: the address it was sent to is proven, if
    it is still the agent's address."""
    proven = read_address_confirmation(rt, token)
    with rt.database.write() as session:
        agent = None if proven is None else session.get(Agent, proven.agent_id)
        if proven is None or agent is None or agent.email_key != proven.email_key:
            raise InvalidInput(
                "This confirmation link is not valid: it has run out, was made for an address "
                "the agent no longer has, or was not made by this installation. Ask for a new "
                "one in the dashboard.",
                code="confirmation_invalid",
            )
        if agent.email_confirmed_at is None:
            agent.email_confirmed_at = rt.clock.now()
        return agent


def _require_account_may_mail(
    session: Session, rt: Runtime, account_id: int, *, but: int | None
) -> None:
    """An account none of whose owners has proven an address makes few e-mails, in all."""
    proven_owner = session.scalar(
        select(Agent.id)
        .where(
            Agent.account_id == account_id,
            Agent.role == Role.OWNER,
            Agent.active.is_(True),
            Agent.email_confirmed_at.is_not(None),
        )
        .limit(1)
    )
    if proven_owner is not None:
        return
    made = session.scalar(
        select(func.count())
        .select_from(OutboxEmail)
        .where(OutboxEmail.account_id == account_id, OutboxEmail.kind.in_(_ADDRESS_KINDS))
    )
    cap = rt.settings.unconfirmed_account_emails
    if (made or 0) >= cap:
        raise PermissionDenied(
            f"Until an owner of this account confirms their e-mail address (the link sent at "
            f"sign-up), the account may send {cap} confirmation and invitation e-mails, and "
            "it has sent them. Confirm the owner's address first.",
            code="owner_unconfirmed",
        )


def _queue(
    session: Session,
    rt: Runtime,
    agent: Agent,
    kind: OutboxKind,
    now: datetime,
    *,
    sender_name: str | None = None,
    due: datetime | None = None,
    email: str | None = None,
) -> OutboxEmail:
    """``email``: to another address than the agent's present one (its old one)."""
    domain = message_id_domain(rt.settings.mail_from)
    row = OutboxEmail(
        kind=kind,
        account_id=agent.account_id,
        agent_id=agent.id,
        email=email or agent.email,
        sender_name=sender_name,
        message_id_header=notice_message_id(kind.value, domain),
        state=DeliveryState.PENDING,
        created_at=now,
        attempts=0,
        next_attempt_at=due or now,
    )
    session.add(row)
    session.flush()
    rt.deliveries_due(session, due)
    return row


def tell_of_webhook_switched_off(
    session: Session, rt: Runtime, owner: Agent, endpoint_id: int, now: datetime
) -> None:
    """E-mail ``owner`` that the account's webhook endpoint kept failing and was switched
    off (docs/webhooks.md)."""
    row = _queue(session, rt, owner, OutboxKind.WEBHOOK_DISABLED, now)
    row.webhook_endpoint_id = endpoint_id


def queue_alert(
    session: Session, rt: Runtime, manager: Agent, alert_id: int, now: datetime
) -> None:
    """E-mail an owner or admin that an alert was raised (docs/reachability.md)."""
    row = _queue(session, rt, manager, OutboxKind.ALERT, now)
    row.alert_id = alert_id


# --- hourly caps ----------------------------------------------------------------------------


class HourlyCaps:
    """What the agents of a batch of decisions have had in the current window, kept up to
    date as the batch makes deliveries: ``admits`` says whether one more goes now, ``hold``
    puts one into the agent's digest instead."""

    def __init__(
        self, session: Session, rt: Runtime, account_ids: Iterable[int], now: datetime
    ) -> None:
        settings = rt.settings
        self.rt = rt
        self.now = now
        self.window = timedelta(seconds=settings.email_cap_window)
        self.per_agent = settings.emails_per_agent_per_hour
        self.per_account = settings.emails_per_account_per_hour
        self.agent_count: dict[int, int] = {}
        self.agent_first: dict[int, datetime] = {}
        self.account_count: dict[int, int] = {}
        self.account_first: dict[int, datetime] = {}
        self._digests: dict[int, OutboxEmail] = {}
        accounts = set(account_ids)
        if not (self.per_agent or self.per_account) or not accounts:
            return
        for account_id, agent_id, count, first in session.execute(
            select(Agent.account_id, Delivery.agent_id, func.count(), func.min(Delivery.created_at))
            .join(Agent, Agent.id == Delivery.agent_id)
            .where(
                Agent.account_id.in_(accounts),
                Delivery.created_at > now - self.window,
                Delivery.digest_id.is_(None),
            )
            .group_by(Agent.account_id, Delivery.agent_id)
        ):
            if agent_id is None or first is None:  # excluded by the join and the filter
                continue
            self.agent_count[agent_id] = count
            self.agent_first[agent_id] = first
            self.account_count[account_id] = self.account_count.get(account_id, 0) + count
            earliest = self.account_first.get(account_id, first)
            self.account_first[account_id] = min(earliest, first)

    def admits(self, account_id: int, agent_id: int) -> bool:
        """One more notification e-mail to this agent now, counted if so."""
        if self.per_agent and self.agent_count.get(agent_id, 0) >= self.per_agent:
            return False
        if self.per_account and self.account_count.get(account_id, 0) >= self.per_account:
            return False
        self.agent_count[agent_id] = self.agent_count.get(agent_id, 0) + 1
        self.agent_first.setdefault(agent_id, self.now)
        self.account_count[account_id] = self.account_count.get(account_id, 0) + 1
        self.account_first.setdefault(account_id, self.now)
        return True

    def _free_again_at(self, account_id: int, agent_id: int) -> datetime:
        """When the caps that hold this agent's e-mail have room again."""
        moments = [self.now]
        if self.per_agent and self.agent_count.get(agent_id, 0) >= self.per_agent:
            moments.append(self.agent_first[agent_id] + self.window)
        if self.per_account and self.account_count.get(account_id, 0) >= self.per_account:
            moments.append(self.account_first[account_id] + self.window)
        return max(moments)

    def hold(self, session: Session, delivery: Delivery, agent: Agent) -> None:
        """``delivery`` (not yet added) waits for the agent's digest: the one pending and
        not being sent, or a new one due when the cap has room again."""
        digest = self._digests.get(agent.id)
        if digest is None:
            digest = session.scalar(
                select(OutboxEmail)
                .where(
                    OutboxEmail.agent_id == agent.id,
                    OutboxEmail.kind == OutboxKind.DIGEST,
                    OutboxEmail.state == DeliveryState.PENDING,
                    OutboxEmail.lease_until.is_(None),
                    OutboxEmail.attempts == 0,
                )
                .order_by(OutboxEmail.id)
                .limit(1)
            )
        if digest is None:
            due = self._free_again_at(agent.account_id, agent.id)
            digest = _queue(session, self.rt, agent, OutboxKind.DIGEST, self.now, due=due)
        self._digests[agent.id] = digest
        delivery.state = DeliveryState.HELD
        delivery.next_attempt_at = None
        delivery.digest_id = digest.id


# --- sending --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClaimedNotice:
    outbox_id: int
    lease_token: str
    claimed_at: datetime
    lease_until: datetime
    envelope_from: str
    notice: Notice
    listed: tuple[int, ...]  # a digest's held deliveries


def claim_outbox(rt: Runtime, *, limit: int) -> list[ClaimedNotice]:
    """Take up to ``limit`` due outbox e-mails for ``delivery_lease`` seconds, written."""
    now = rt.clock.now()
    lease_until = now + timedelta(seconds=rt.settings.delivery_lease)
    token = secrets.token_hex(16)
    installation_secret(rt)  # made before the write transaction (claim_deliveries says why)
    verp_key = installation_secret(rt, VERP_KEY)
    settings = rt.settings
    base_url = settings.public_url.rstrip("/")
    envelope_from = return_path_base(settings.bounce_address, settings.mail_from)
    claimed: list[ClaimedNotice] = []
    with rt.database.write() as session:
        rows = session.execute(
            select(OutboxEmail, Agent, Account.name)
            .join(Agent, Agent.id == OutboxEmail.agent_id)
            .join(Account, Account.id == OutboxEmail.account_id)
            .where(
                OutboxEmail.state.in_(_WAITING),
                OutboxEmail.next_attempt_at <= now,
                or_(OutboxEmail.lease_until.is_(None), OutboxEmail.lease_until <= now),
            )
            .order_by(OutboxEmail.next_attempt_at, OutboxEmail.id)
            .limit(limit)
            .with_for_update(of=OutboxEmail, skip_locked=True)
        ).all()
        digests = [row.id for row, _, _ in rows if row.kind is OutboxKind.DIGEST]
        lines = _digest_lines(session, digests, base_url)
        endpoints = {
            e.id: e
            for e in session.scalars(
                select(WebhookEndpoint).where(
                    WebhookEndpoint.id.in_({row.webhook_endpoint_id for row, _, _ in rows} - {None})
                )
            )
        }
        alert_causes: dict[int, str] = dict(
            session.execute(
                select(Alert.id, Alert.cause).where(
                    Alert.id.in_({row.alert_id for row, _, _ in rows} - {None})
                )
            ).all()
        )
        for row, agent, account_name in rows:
            row.lease_until = lease_until
            row.lease_token = token
            if row.kind in (OutboxKind.VISITOR_REPLY, OutboxKind.TRANSCRIPT):
                prepared = visitor_emails.prepare(session, rt, row, agent, now)
                if prepared is not None:
                    claimed.append(
                        _visitor_notice(rt, row, token, now, lease_until, account_name, prepared)
                    )
                continue
            link = None
            endpoint = endpoints.get(row.webhook_endpoint_id or 0)
            if row.kind in _ADDRESS_KINDS:
                token_of_link = address_confirmation(rt, agent.id, row.email)
                link = confirmation_link(base_url, token_of_link)
            elif row.kind in (OutboxKind.WEBHOOK_DISABLED, OutboxKind.ALERT):
                link = settings_link(base_url)
            listed = lines.get(row.id, [])
            claimed.append(
                ClaimedNotice(
                    outbox_id=row.id,
                    lease_token=token,
                    claimed_at=now,
                    lease_until=lease_until,
                    # Its own return path: a bounce of it comes back to this row
                    # (docs/email.md), so an address test that bounces shows in the
                    # checklist (docs/reachability.md).
                    envelope_from=return_path(envelope_from, outbox_verp_token(verp_key, row.id)),
                    listed=tuple(delivery_id for delivery_id, _ in listed),
                    notice=Notice(
                        kind=row.kind.value,
                        message_id=row.message_id_header,
                        sender=settings.mail_from,
                        recipient_email=row.email,
                        recipient_name=agent.name,
                        locale=agent.locale if agent.locale is not None else Locale.EN,
                        time_zone=agent.time_zone,
                        account_name=account_name,
                        installation_url=base_url,
                        decided_at=now,
                        link=link,
                        sender_name=row.sender_name,
                        valid_days=max(1, round(settings.address_confirmation_valid_for / 86400)),
                        lines=tuple(line for _, line in listed),
                        dashboard_url=dashboard_link(base_url),
                        endpoint_url=_endpoint_shown(endpoint),
                        reason=(endpoint.disabled_reason or "") if endpoint is not None else "",
                        # An old address is told the present one (docs/reachability.md).
                        new_email=agent.email if row.kind is OutboxKind.ADDRESS_CHANGED else "",
                        alert_cause=alert_causes.get(row.alert_id or 0, ""),
                    ),
                )
            )
    return claimed


def _visitor_notice(
    rt: Runtime,
    row: OutboxEmail,
    lease_token: str,
    now: datetime,
    lease_until: datetime,
    account_name: str,
    prepared: visitor_emails.VisitorEmail,
) -> ClaimedNotice:
    settings = rt.settings
    return ClaimedNotice(
        outbox_id=row.id,
        lease_token=lease_token,
        claimed_at=now,
        lease_until=lease_until,
        envelope_from=return_path_base(settings.bounce_address, settings.mail_from),
        listed=(),
        notice=Notice(
            kind=row.kind.value,
            message_id=row.message_id_header,
            sender=settings.mail_from,
            recipient_email=row.email,
            recipient_name=prepared.recipient_name,
            locale=prepared.locale,
            time_zone="UTC",
            account_name=account_name,
            installation_url=settings.public_url.rstrip("/"),
            decided_at=now,
            answers=prepared.answers,
            reply_to=prepared.reply_to,
        ),
    )


def _endpoint_shown(endpoint: WebhookEndpoint | None) -> str:
    """An endpoint as an e-mail names it: its origin and description. Its path stays out,
    since some endpoints' paths are their secret (a Slack incoming webhook's is)."""
    if endpoint is None:
        return ""
    parts = urlsplit(endpoint.url)
    origin = f"{parts.scheme}://{parts.netloc}/…"
    return f"{origin} ({endpoint.description})" if endpoint.description else origin


def _digest_lines(
    session: Session, digest_ids: Sequence[int], base_url: str
) -> dict[int, list[tuple[int, DigestLine]]]:
    lines: dict[int, list[tuple[int, DigestLine]]] = {}
    if not digest_ids:
        return lines
    for delivery_id, digest_id, kind, decided_at, conversation_id, visitor_name in session.execute(
        select(
            Delivery.id,
            Delivery.digest_id,
            Notification.kind,
            Notification.decided_at,
            Conversation.id,
            Visitor.name,
        )
        .join(Notification, Notification.id == Delivery.notification_id)
        .join(Conversation, Conversation.id == Notification.conversation_id)
        .join(Visitor, Visitor.id == Conversation.visitor_id)
        .where(Delivery.digest_id.in_(digest_ids), Delivery.state == DeliveryState.HELD)
        .order_by(Delivery.id)
    ):
        if digest_id is None or decided_at is None:  # excluded by the filter; decided
            continue
        lines.setdefault(digest_id, []).append(
            (
                delivery_id,
                DigestLine(
                    offline=kind is NotificationKind.OFFLINE_MESSAGE,
                    at=decided_at,
                    conversation_id=conversation_id,
                    visitor_name=visitor_name,
                    conversation_url=conversation_link(base_url, conversation_id),
                ),
            )
        )
    return lines


def record_notice(rt: Runtime, claimed: ClaimedNotice, outcome: SendOutcome) -> bool:
    """What the mail server said, if this worker still holds the lease; for a digest, its
    held deliveries follow it."""
    from frontdesk.service.notifications.delivering import fail_if_nobody_got_it

    now = rt.clock.now()
    with rt.database.write() as session:
        row = session.scalar(
            select(OutboxEmail)
            .where(
                OutboxEmail.id == claimed.outbox_id,
                OutboxEmail.lease_token == claimed.lease_token,
            )
            .with_for_update()
        )
        if row is None:
            return False
        after = record_attempt(
            session, rt, row, claimed_at=claimed.claimed_at, outcome=outcome, now=now
        )
        if after.next_attempt_at is not None:
            return True
        final = after.state
        if row.kind is OutboxKind.DIGEST:
            _settle_digest(session, rt, row, claimed.listed, final, now)
            if final is DeliveryState.REJECTED:
                for notification_id in set(
                    session.scalars(
                        select(Delivery.notification_id).where(Delivery.id.in_(claimed.listed))
                    )
                ):
                    fail_if_nobody_got_it(session, rt, notification_id, now)
        return True


def _settle_digest(
    session: Session,
    rt: Runtime,
    digest: OutboxEmail,
    listed: Sequence[int],
    final: DeliveryState,
    now: datetime,
) -> None:
    received = final is DeliveryState.SENT
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(listed), Delivery.state == DeliveryState.HELD)
        .values(
            state=DeliveryState.IN_DIGEST if received else DeliveryState.REJECTED,
            sent_at=now if received else None,
            smtp_code=digest.smtp_code,
            smtp_text=digest.smtp_text,
        )
        .execution_options(synchronize_session=False)
    )
    # Held while this digest was being written: the next digest takes them, at once.
    later = list(
        session.scalars(
            select(Delivery.id).where(
                Delivery.digest_id == digest.id, Delivery.state == DeliveryState.HELD
            )
        )
    )
    if later:
        agent = session.get_one(Agent, digest.agent_id)
        successor = _queue(session, rt, agent, OutboxKind.DIGEST, now)
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(later))
            .values(digest_id=successor.id)
            .execution_options(synchronize_session=False)
        )


def release_notices(rt: Runtime, claimed: Sequence[ClaimedNotice]) -> None:
    if not claimed:
        return
    with rt.database.write() as session:
        for item in claimed:
            session.execute(
                update(OutboxEmail)
                .where(
                    OutboxEmail.id == item.outbox_id,
                    OutboxEmail.lease_token == item.lease_token,
                )
                .values(lease_until=None, lease_token=None)
            )
        rt.deliveries_due(session)


def next_notice_at(session: Session) -> datetime | None:
    """The earliest moment an outbox e-mail is due, or a lease of one runs out."""
    candidates = [
        session.scalar(
            select(func.min(OutboxEmail.next_attempt_at)).where(
                OutboxEmail.state.in_(_WAITING), OutboxEmail.lease_until.is_(None)
            )
        ),
        session.scalar(
            select(func.min(OutboxEmail.lease_until)).where(
                OutboxEmail.state.in_(_WAITING), OutboxEmail.lease_until.is_not(None)
            )
        ),
    ]
    return min((c for c in candidates if c is not None), default=None)
