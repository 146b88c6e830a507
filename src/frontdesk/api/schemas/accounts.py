"""Bodies of ``routes/accounts.py``: signing up, logging in, proving an address, the account
and its notification settings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from frontdesk.api.schemas.common import Email, Flag, Name, Password, Patch, Request, Response
from frontdesk.core.model import Locale, Plan

# The longest delay an account may choose: a day. Longer would no longer be a notification.
OFFLINE_EMAIL_DELAY_MAX = 86_400.0
# Idle and nobody-online thresholds: fractions of a second for tests, at most a day.
IDLE_AFTER_MAX = 86_400.0


class OwnerIn(Request):
    name: Name
    email: Email
    password: Password
    locale: Locale = Locale.EN


class SignUpIn(Request):
    name: Name
    plan: Plan = Plan.FREE
    owner: OwnerIn
    # With FRONTDESK_SIGNUP=invite: the invitation for owner.email (docs/security.md).
    invitation: Annotated[str, Field(min_length=1, max_length=500)] | None = None


class SignUpOut(Response):
    account_id: int
    agent_id: int
    widget_key: str
    token: str


class LoginIn(Request):
    email: Annotated[str, Field(min_length=1, max_length=320)]
    password: Annotated[str, Field(min_length=1, max_length=200)]


class TokenOut(Response):
    token: str
    agent_id: int
    account_id: int


class ConfirmAddressIn(Request):
    token: str = Field(min_length=1, max_length=1000)


class ConfirmedAddressOut(Response):
    email: str
    email_confirmed: bool


class AccountOut(Response):
    id: int
    name: str
    plan: Plan
    widget_key: str
    created_at: datetime


class AccountPatch(Patch):
    name: Name | None = None
    plan: Plan | None = None


class AgentChoices(Response):
    """An agent's own choices per kind and channel (``/me/notifications``)."""

    offline_message_email: bool
    missed_conversation_email: bool
    offline_message_push: bool
    missed_conversation_push: bool
    unserved_conversation_push: bool


class AgentChoicesPatch(Patch):
    offline_message_email: Flag | None = None
    missed_conversation_email: Flag | None = None
    offline_message_push: Flag | None = None
    missed_conversation_push: Flag | None = None
    unserved_conversation_push: Flag | None = None


class NotificationSettingsOut(Response):
    offline_message_email: bool
    missed_conversation_email: bool
    # False on FREE: the switch is kept, but no missed-conversation e-mail is sent.
    missed_conversation_email_available: bool
    # None: the server's default, which ``default_offline_email_delay`` gives.
    offline_email_delay: float | None
    default_offline_email_delay: float
    # The push before the e-mail (docs/push.md); None: the server's default. A delay not
    # shorter than the e-mail's means no push.
    offline_push_delay: float | None
    default_offline_push_delay: float
    # What each agent added from now on chooses for themselves until they change it.
    agent_defaults: AgentChoices
    # A closed conversation's transcript e-mailed to its visitor (docs/reply-by-email.md).
    visitor_transcript: bool
    # Seconds without activity on every online device after which an agent is away and
    # counted offline; null: off (docs/reachability.md).
    agent_idle_after: float | None
    # Within business hours, nobody online for this many seconds raises an alert; null: off.
    alert_nobody_online_after: float | None
    # The widget shows the median first-response time of the last 7 days.
    expected_reply_time: bool


class NotificationSettingsPatch(Patch):
    nullable = frozenset(
        {
            "offline_email_delay",
            "offline_push_delay",
            "agent_idle_after",
            "alert_nobody_online_after",
        }
    )

    offline_message_email: Flag | None = None
    missed_conversation_email: Flag | None = None
    offline_email_delay: Annotated[float, Field(gt=0, le=OFFLINE_EMAIL_DELAY_MAX)] | None = None
    offline_push_delay: Annotated[float, Field(gt=0, le=OFFLINE_EMAIL_DELAY_MAX)] | None = None
    agent_defaults: AgentChoicesPatch | None = None
    visitor_transcript: Flag | None = None
    agent_idle_after: Annotated[float, Field(gt=0, le=IDLE_AFTER_MAX)] | None = None
    alert_nobody_online_after: Annotated[float, Field(gt=0, le=IDLE_AFTER_MAX)] | None = None
    expected_reply_time: Flag | None = None
