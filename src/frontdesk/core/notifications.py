"""The notification rules of docs/spec.md section 3: facts and a clock in, a decision with a
reason out.

Two kinds of e-mail exist. An *offline message* e-mail tells the agents of a conversation's
scope that a visitor wrote while none of them was online; it is due ``offline_email_delay``
after the message that opened it, later offline messages of the conversation join it, and
it is called off when an agent of the scope comes online in the meantime. A *missed
conversation* e-mail tells them that a visitor left unanswered although one of them was
online. Everything here is pure: the store gathers the facts, this module decides, and the
engine records the decision and sends what it says. Design notes: docs/notifications.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from frontdesk.core.model import ConversationStatus, Plan
from frontdesk.core.plans import has_missed_conversation_emails


class NotificationKind(StrEnum):
    OFFLINE_MESSAGE = "offline_message"
    MISSED_CONVERSATION = "missed_conversation"
    # A push only (docs/push.md): a conversation opened while agents were online and still
    # unserved ``unserved_push_after`` later reminds the online agents away from it.
    UNSERVED_CONVERSATION = "unserved_conversation"


# What an agent chooses per kind and channel (``/me/notifications``), and the account's
# defaults for new agents (Settings → Notifications): every one on unless changed.
AGENT_CHOICES = (
    "offline_message_email",
    "missed_conversation_email",
    "offline_message_push",
    "missed_conversation_push",
    "unserved_conversation_push",
)


class NotificationState(StrEnum):
    SCHEDULED = "scheduled"  # waiting for its due time
    SENT = "sent"  # decided to send; each recipient's delivery has its own state
    SUPPRESSED = "suppressed"  # decided not to send, for ``reason``
    FAILED = "failed"  # decided to send, and no recipient could be delivered


class SuppressedBecause(StrEnum):
    SETTING_OFF = "setting_off"
    AGENT_CAME_ONLINE = "agent_came_online"
    READ_IN_DASHBOARD = "read_in_dashboard"
    CONVERSATION_SERVED = "conversation_served"
    CONVERSATION_CLOSED = "conversation_closed"
    PLAN_LACKS_FEATURE = "plan_lacks_feature"
    NO_RECIPIENTS = "no_recipients"
    OPTED_OUT = "opted_out"
    UNCONFIRMED = "unconfirmed"


class NotRecipientBecause(StrEnum):
    INACTIVE = "inactive"
    OPTED_OUT = "opted_out"
    NOT_IN_GROUP = "not_in_group"
    # The agent has not yet followed the link that proves the address is theirs.
    UNCONFIRMED = "unconfirmed"


class DeliveryState(StrEnum):
    PENDING = "pending"  # not tried yet, or being tried right now
    SENT = "sent"  # the recipient's mail server accepted it (250)
    DEFERRED = "deferred"  # a temporary failure; tried again at next_attempt_at
    REJECTED = "rejected"  # a permanent failure (5xx), or temporary ones for too long
    BOUNCED = "bounced"  # accepted, then returned by a delivery-status notification
    # The recipient had reached the hourly cap: the e-mail waits for their digest.
    HELD = "held"
    # It went out as a line of the recipient's digest e-mail, which was accepted.
    IN_DIGEST = "in_digest"
    # Not sent, for good: a visitor's e-mail of answers the visitor saw in the widget first.
    SUPPRESSED = "suppressed"


FINAL_DELIVERY_STATES = frozenset(
    {DeliveryState.SENT, DeliveryState.REJECTED, DeliveryState.BOUNCED, DeliveryState.IN_DIGEST}
)
# What the recipient got, one way or the other.
RECEIVED_DELIVERY_STATES = frozenset({DeliveryState.SENT, DeliveryState.IN_DIGEST})


# --- who gets an e-mail -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentFacts:
    """One agent of the account, as the rules need it at decision time."""

    agent_id: int
    active: bool
    in_scope: bool  # a member of the conversation's group, when a group applies
    wants_kind: bool  # the agent's own choice for this kind (``/me/notifications``)
    confirmed: bool = True  # the agent followed the link that proves the address


@dataclass(frozen=True, slots=True)
class Audience:
    recipients: tuple[int, ...]
    not_recipients: tuple[tuple[int, NotRecipientBecause], ...]

    @property
    def suppressed_because(self) -> SuppressedBecause | None:
        """Why nobody gets it, if nobody does: everyone of the scope opted out, or has not
        confirmed the address yet, or the scope has no active agent at all."""
        if self.recipients:
            return None
        reasons = {r for _, r in self.not_recipients}
        if NotRecipientBecause.OPTED_OUT in reasons:
            return SuppressedBecause.OPTED_OUT
        if NotRecipientBecause.UNCONFIRMED in reasons:
            return SuppressedBecause.UNCONFIRMED
        return SuppressedBecause.NO_RECIPIENTS


def audience(agents: Iterable[AgentFacts]) -> Audience:
    """Every active agent of the scope who has not opted out gets the e-mail (docs/spec.md
    section 3: all active agents of the account, or of the PRO group); everyone else is
    listed with the reason, so "why did I not get it?" has an answer per agent. An address
    nobody has confirmed gets no notification: anyone can type anyone's address at sign-up
    or in an invitation (docs/security.md)."""
    recipients: list[int] = []
    not_recipients: list[tuple[int, NotRecipientBecause]] = []
    for agent in sorted(agents, key=lambda a: a.agent_id):
        if not agent.active:
            not_recipients.append((agent.agent_id, NotRecipientBecause.INACTIVE))
        elif not agent.in_scope:
            not_recipients.append((agent.agent_id, NotRecipientBecause.NOT_IN_GROUP))
        elif not agent.wants_kind:
            not_recipients.append((agent.agent_id, NotRecipientBecause.OPTED_OUT))
        elif not agent.confirmed:
            not_recipients.append((agent.agent_id, NotRecipientBecause.UNCONFIRMED))
        else:
            recipients.append(agent.agent_id)
    return Audience(tuple(recipients), tuple(not_recipients))


# --- decisions ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """``reason`` is ``None`` exactly when the e-mail is to be sent."""

    reason: SuppressedBecause | None
    message_ids: tuple[int, ...] = ()
    recipients: tuple[int, ...] = ()

    @property
    def send(self) -> bool:
        return self.reason is None

    @property
    def state(self) -> NotificationState:
        return NotificationState.SENT if self.send else NotificationState.SUPPRESSED


def suppressed(reason: SuppressedBecause) -> Decision:
    return Decision(reason=reason)


class OnVisitorMessage(StrEnum):
    """What a visitor message does to the conversation's offline notification."""

    NOT_OFFLINE = "not_offline"  # the scope is online: not an offline message
    JOIN_OPEN = "join_open"  # joins the conversation's open notification
    OPEN_NEW = "open_new"  # opens a notification, due after the delay
    SUPPRESS_AT_ONCE = "suppress_at_once"  # opens one already suppressed: the setting is off


def on_visitor_message(
    *, scope_online: bool, has_open_notification: bool, setting_on: bool
) -> OnVisitorMessage:
    """docs/spec.md section 3, offline message, rule 1. A message joins an open notification even
    when the setting was switched off after it opened: the setting is read again at the due
    time, and the decision then covers the whole batch."""
    if scope_online:
        return OnVisitorMessage.NOT_OFFLINE
    if has_open_notification:
        return OnVisitorMessage.JOIN_OPEN
    if not setting_on:
        return OnVisitorMessage.SUPPRESS_AT_ONCE
    return OnVisitorMessage.OPEN_NEW


def offline_due_at(first_message_at: datetime, delay_seconds: float) -> datetime:
    return first_message_at + timedelta(seconds=delay_seconds)


@dataclass(frozen=True, slots=True)
class OfflineFacts:
    """An offline-message notification at its due time."""

    setting_on: bool
    # An agent of the scope was online at some moment since the notification opened. The
    # engine closes the notification the moment that happens (rule 2); this fact catches
    # a transition that committed while the notification's own transaction was in flight.
    scope_came_online: bool
    status: ConversationStatus
    batch: Sequence[int]  # the notification's message ids, oldest first
    opened_in_dashboard: frozenset[int]  # those of the batch an agent has opened since
    audience: Audience
    # An agent joined or answered the conversation after the batch's first message. A
    # conversation served before it (the visitor writes again, by e-mail say, when its
    # agent has gone) is no answer to these messages (docs/spec.md rule 3).
    served_since: bool = False


def opened_in_dashboard(batch: Iterable[int], read_up_to: int | None) -> frozenset[int]:
    """The messages of a batch that count as opened in the dashboard: those up to the
    furthest read position any agent of the account reached in the conversation (a
    position moves on when an agent has the conversation open and visible)."""
    if read_up_to is None:
        return frozenset()
    return frozenset(m for m in batch if m <= read_up_to)


def decide_offline(facts: OfflineFacts) -> Decision:
    """docs/spec.md section 3, offline message, rule 3."""
    if not facts.setting_on:
        return suppressed(SuppressedBecause.SETTING_OFF)
    if facts.scope_came_online:
        return suppressed(SuppressedBecause.AGENT_CAME_ONLINE)
    if facts.status is ConversationStatus.CLOSED:
        return suppressed(SuppressedBecause.CONVERSATION_CLOSED)
    if facts.status is ConversationStatus.SERVED and facts.served_since:
        return suppressed(SuppressedBecause.CONVERSATION_SERVED)
    unread = tuple(m for m in facts.batch if m not in facts.opened_in_dashboard)
    if not unread:
        return suppressed(SuppressedBecause.READ_IN_DASHBOARD)
    if (nobody := facts.audience.suppressed_because) is not None:
        return suppressed(nobody)
    return Decision(reason=None, message_ids=unread, recipients=facts.audience.recipients)


# --- the push before the e-mail (docs/push.md) ----------------------------------------------


def offline_push_due_at(
    first_message_at: datetime, push_delay: float, email_delay: float
) -> datetime | None:
    """When the agents of an offline message's scope are pushed: ``push_delay`` after the
    message, or never when that is not before the e-mail (the e-mail is then the first
    word, and a push after it would only repeat it)."""
    if push_delay >= email_delay:
        return None
    return first_message_at + timedelta(seconds=push_delay)


class PushState(StrEnum):
    """What became of one push to one browser or phone."""

    SENDING = "sending"  # handed to the push service now (or the worker stopped meanwhile)
    SENT = "sent"  # the push service took it (201)
    GONE = "gone"  # the subscription no longer exists (404, 410); it was deleted
    FAILED = "failed"  # the push service refused it, or did not answer


class NotPushedBecause(StrEnum):
    """Why an agent of the push's audience was not pushed."""

    INACTIVE = "inactive"
    OPTED_OUT = "opted_out"
    NOT_IN_GROUP = "not_in_group"
    NO_SUBSCRIPTION = "no_subscription"  # no browser or phone of theirs is subscribed
    # The unserved-conversation reminder goes to agents who are online but away from it:
    NOT_ONLINE = "not_online"  # the agent is offline (the offline-message rules are theirs)
    LOOKING = "looking"  # a dashboard of theirs is in view: they see the conversation come


@dataclass(frozen=True, slots=True)
class PushDecision:
    """``reason`` is ``None`` exactly when the push goes out (to ``recipients``, who may be
    nobody: then ``not_recipients`` says why for each agent)."""

    reason: SuppressedBecause | None
    recipients: tuple[int, ...] = ()
    not_recipients: tuple[tuple[int, NotPushedBecause], ...] = ()


def decide_offline_push(facts: OfflineFacts, subscribed: frozenset[int]) -> PushDecision:
    """The offline message's push, at its due time: what rule 3 would decide for the
    e-mail now (an agent came online, the conversation was served or closed, the messages
    were read: no push), for the agents who want pushes (``facts.audience``, built from
    their push choice; the address need not be confirmed), and of them only those with a
    subscription."""
    decision = decide_offline(facts)
    if not decision.send and decision.reason not in (
        SuppressedBecause.NO_RECIPIENTS,
        SuppressedBecause.OPTED_OUT,
    ):
        return PushDecision(reason=decision.reason)
    return push_to(facts.audience, subscribed)


def push_to(audience: Audience, subscribed: frozenset[int]) -> PushDecision:
    """A push to every agent of ``audience`` (built from their push choice) with a browser
    or phone subscribed; the others listed with why. The missed conversation's push, made
    with its e-mail, is this alone (docs/push.md)."""
    left_out = [(agent, NotPushedBecause(why.value)) for agent, why in audience.not_recipients]
    left_out += [
        (agent, NotPushedBecause.NO_SUBSCRIPTION)
        for agent in audience.recipients
        if agent not in subscribed
    ]
    return PushDecision(
        reason=None,
        recipients=tuple(a for a in audience.recipients if a in subscribed),
        not_recipients=tuple(sorted(left_out)),
    )


def in_this_visit(sent_at: datetime, *, arrived_at: datetime | None, left_at: datetime) -> bool:
    """Whether a visitor message belongs to the visit that ended at ``left_at``: sent no
    later than the leaving and not before the visitor's last arrival before it (none
    recorded: the visitor's whole history is one visit). Only a visit's messages make a
    missed conversation, and a visit makes at most one."""
    return sent_at <= left_at and (arrived_at is None or sent_at >= arrived_at)


def is_missed(
    *,
    status: ConversationStatus,
    first_unanswered_at: datetime | None,
    left_at: datetime,
    scope_online_between: bool,
) -> bool:
    """docs/spec.md section 3, missed conversation: the visitor left while the conversation
    was still unserved, having written during this visit, and an agent of the scope was
    online at some moment between that first unanswered message and the leaving."""
    return (
        status is ConversationStatus.UNSERVED
        and first_unanswered_at is not None
        and first_unanswered_at <= left_at
        and scope_online_between
    )


@dataclass(frozen=True, slots=True)
class MissedFacts:
    plan: Plan
    setting_on: bool
    unanswered: Sequence[int]  # the visitor's messages of this visit, oldest first
    audience: Audience


def missed_decided_by_the_account(plan: Plan, *, setting_on: bool) -> Decision | None:
    """What ``decide_missed`` decides from the account alone (its plan, its setting), so
    known already when the visitor leaves; ``None`` when the audience decides."""
    if not has_missed_conversation_emails(plan):
        return suppressed(SuppressedBecause.PLAN_LACKS_FEATURE)
    if not setting_on:
        return suppressed(SuppressedBecause.SETTING_OFF)
    return None


def decide_missed(facts: MissedFacts) -> Decision:
    if (
        decided := missed_decided_by_the_account(facts.plan, setting_on=facts.setting_on)
    ) is not None:
        return decided
    if (nobody := facts.audience.suppressed_because) is not None:
        return suppressed(nobody)
    return Decision(
        reason=None, message_ids=tuple(facts.unanswered), recipients=facts.audience.recipients
    )


# --- delivery -----------------------------------------------------------------------------


def next_attempt_at(
    *,
    attempts: int,
    first_attempt_at: datetime,
    now: datetime,
    retry_base: float,
    retry_for: float,
) -> datetime | None:
    """When to try a temporarily failed delivery again: ``retry_base`` after the first
    failure, doubling each time, never past ``retry_for`` after the first attempt; ``None``
    once that time is up (give up)."""
    give_up_at = first_attempt_at + timedelta(seconds=retry_for)
    if now >= give_up_at:
        return None
    backoff = retry_base * 2 ** max(attempts - 1, 0)
    return min(now + timedelta(seconds=backoff), give_up_at)


@dataclass(frozen=True, slots=True)
class AfterAttempt:
    """What one attempt at an e-mail leaves it in: ``result`` names it for the metrics
    (``sent``, ``deferred``, ``gave_up``, ``rejected``), ``smtp_text`` is what to record."""

    state: DeliveryState
    result: str
    next_attempt_at: datetime | None
    smtp_text: str


def after_attempt(
    *,
    accepted: bool,
    code: int | None,
    text: str,
    attempts: int,
    first_attempt_at: datetime,
    now: datetime,
    retry_base: float,
    retry_for: float,
) -> AfterAttempt:
    """The state of an e-mail (a delivery or an outbox e-mail) after its ``attempts``-th
    attempt: accepted, tried again later after a temporary failure, or given up for good
    (a permanent failure, or temporary ones for ``retry_for``)."""
    if accepted:
        return AfterAttempt(DeliveryState.SENT, "sent", next_attempt_at=None, smtp_text=text)
    if not is_temporary_smtp_code(code):
        return AfterAttempt(
            DeliveryState.REJECTED, "rejected", next_attempt_at=None, smtp_text=text
        )
    retry_at = next_attempt_at(
        attempts=attempts,
        first_attempt_at=first_attempt_at,
        now=now,
        retry_base=retry_base,
        retry_for=retry_for,
    )
    if retry_at is not None:
        return AfterAttempt(
            DeliveryState.DEFERRED, "deferred", next_attempt_at=retry_at, smtp_text=text
        )
    gave_up = f"Gave up after {attempts} attempts over {retry_for:g} s; last reply: {text}"
    return AfterAttempt(DeliveryState.REJECTED, "gave_up", next_attempt_at=None, smtp_text=gave_up)


def is_temporary_smtp_code(code: int | None) -> bool:
    """4xx replies (and no reply at all: a connection that failed) are worth another try."""
    return code is None or 400 <= code < 500


def decide_unserved_push(
    *,
    status: ConversationStatus,
    audience: Audience,
    online: frozenset[int],
    looking: frozenset[int],
    subscribed: frozenset[int],
) -> PushDecision:
    """The unserved-conversation reminder, at its due time: nobody when an agent joined or
    closed the conversation meanwhile; else every agent of ``audience`` (active, in scope,
    wanting these pushes) who is online, has no dashboard in view (``looking``) and has a
    browser or phone subscribed. The others are listed with why."""
    if status is ConversationStatus.SERVED:
        return PushDecision(reason=SuppressedBecause.CONVERSATION_SERVED)
    if status is ConversationStatus.CLOSED:
        return PushDecision(reason=SuppressedBecause.CONVERSATION_CLOSED)
    left_out = [(agent, NotPushedBecause(why.value)) for agent, why in audience.not_recipients]
    recipients: list[int] = []
    for agent in audience.recipients:
        if agent not in online:
            left_out.append((agent, NotPushedBecause.NOT_ONLINE))
        elif agent in looking:
            left_out.append((agent, NotPushedBecause.LOOKING))
        elif agent not in subscribed:
            left_out.append((agent, NotPushedBecause.NO_SUBSCRIPTION))
        else:
            recipients.append(agent)
    return PushDecision(
        reason=None if recipients else SuppressedBecause.NO_RECIPIENTS,
        recipients=tuple(recipients),
        not_recipients=tuple(sorted(left_out)),
    )


# --- explanations -------------------------------------------------------------------------


def explain(kind: NotificationKind, state: NotificationState, reason: str | None) -> str:
    """One sentence that answers "why did I (not) get an e-mail?" for a decision."""
    if kind is NotificationKind.UNSERVED_CONVERSATION:
        return _explain_reminder(state, reason)
    what = (
        "The offline-message e-mail"
        if kind is NotificationKind.OFFLINE_MESSAGE
        else "The missed-conversation e-mail"
    )
    if state is NotificationState.SCHEDULED:
        return f"{what} is scheduled: it is sent at the due time unless something calls it off."
    if state is NotificationState.SENT:
        return f"{what} was sent to every active agent of the scope who has not opted out."
    if state is NotificationState.FAILED:
        return (
            f"{what} was sent, but it reached no recipient: each mail server refused it or "
            "returned it; see recipients."
        )
    return f"{what} was not sent: {_REASONS.get(reason or '', 'for an unknown reason.')}"


_REASONS = {
    SuppressedBecause.SETTING_OFF.value: "this kind of e-mail is switched off in "
    "Settings → Notifications.",
    SuppressedBecause.AGENT_CAME_ONLINE.value: "an agent of the conversation's scope came "
    "online before it was due, so the message could be answered live.",
    SuppressedBecause.READ_IN_DASHBOARD.value: "every message it would have listed was opened "
    "in the dashboard before it was due.",
    SuppressedBecause.CONVERSATION_SERVED.value: "an agent joined or answered the conversation "
    "before it was due.",
    SuppressedBecause.CONVERSATION_CLOSED.value: "the conversation was closed before it was due.",
    SuppressedBecause.PLAN_LACKS_FEATURE.value: "missed-conversation e-mails are part of the "
    "STANDARD and PRO plans only.",
    SuppressedBecause.NO_RECIPIENTS.value: "the conversation's scope has no active agent.",
    SuppressedBecause.OPTED_OUT.value: "every active agent of the scope has switched this kind "
    "of e-mail off for themselves.",
    SuppressedBecause.UNCONFIRMED.value: "no active agent of the scope has confirmed their "
    "e-mail address yet (the link in the confirmation or invitation e-mail).",
}


def _explain_reminder(state: NotificationState, reason: str | None) -> str:
    what = "The unserved-conversation push"
    if state is NotificationState.SCHEDULED:
        return (
            f"{what} is scheduled: at the due time it reminds the online agents of the scope "
            "who are away from the dashboard, unless an agent joined or closed it first."
        )
    if state is NotificationState.SENT:
        return (
            f"{what} went to the online agents of the scope who were away from the "
            "dashboard and have a browser or phone subscribed; see push."
        )
    if reason == SuppressedBecause.NO_RECIPIENTS.value:
        return (
            f"{what} reached nobody: no online agent of the scope was away from the "
            "dashboard with a browser or phone subscribed; see push."
        )
    return f"{what} was not made: {_REASONS.get(reason or '', 'for an unknown reason.')}"


def smtp_reply(code: int | None, text: str | None) -> str | None:
    """What a mail server said, as the API, the CLI and the dashboard show it:
    ``552 5.2.2 Mailbox full``; the code or the text alone when only one is known."""
    said = " ".join(part for part in (str(code) if code is not None else None, text) if part)
    return said or None


def describe_bounce(bounced_at: datetime, status: str | None, bounce_text: str | None) -> str:
    """A bounce in words: ``bounced at 2026-01-05T09:07:44+00:00: 5.1.1 User unknown``."""
    said = " ".join(part for part in (status, bounce_text) if part)
    when = bounced_at.isoformat(timespec="seconds")
    return f"bounced at {when}: {said}" if said else f"bounced at {when}"


def explain_for_agent(
    *,
    kind: NotificationKind,
    state: NotificationState,
    reason: str | None,
    delivery: DeliveryState | None,
    left_out_because: NotRecipientBecause | None,
    smtp_reply: str | None,
    bounce: str | None = None,
) -> str:
    """The same decision, told to one agent: what happened to *your* e-mail. ``bounce`` is
    ``describe_bounce`` of a bounced delivery."""
    if state is NotificationState.SCHEDULED:
        return "It is not decided yet; it is decided at its due time."
    if delivery is not None:
        reply = f" ({smtp_reply})" if smtp_reply else ""
        match delivery:
            case DeliveryState.PENDING:
                return "It is being sent to you."
            case DeliveryState.SENT:
                return f"It was sent to you and your mail server accepted it{reply}."
            case DeliveryState.DEFERRED:
                return (
                    f"Your mail server has not taken it yet{reply}; Frontdesk tries again "
                    "at next_attempt_at."
                )
            case DeliveryState.REJECTED:
                return f"Your mail server refused it{reply}."
            case DeliveryState.BOUNCED:
                returned = f", but it {bounce.rstrip('.')}" if bounce else ", then returned it"
                return f"Your mail server accepted it{reply}{returned}."
            case DeliveryState.HELD:
                return (
                    "You had reached the hourly cap on notification e-mails, so it waits "
                    "for your digest e-mail, which lists everything held back."
                )
            case DeliveryState.IN_DIGEST:
                return (
                    "You had reached the hourly cap on notification e-mails, so it went out "
                    f"as a line of your digest e-mail, which your mail server accepted{reply}."
                )
            case DeliveryState.SUPPRESSED:
                return "It was not sent: what it would have said had been seen already."
    if left_out_because is not None:
        return {
            NotRecipientBecause.INACTIVE: "You were not sent it: you were deactivated.",
            NotRecipientBecause.OPTED_OUT: "You were not sent it: you switched this kind of "
            "e-mail off for yourself (GET /api/v1/me/notifications).",
            NotRecipientBecause.NOT_IN_GROUP: "You were not sent it: the conversation belongs "
            "to a group you are not a member of.",
            NotRecipientBecause.UNCONFIRMED: "You were not sent it: you had not confirmed your "
            "e-mail address yet (the link in the confirmation or invitation e-mail).",
        }[left_out_because]
    return explain(kind, state, reason)
