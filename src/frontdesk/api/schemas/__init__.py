"""Request and response bodies of the HTTP API, with the input limits of the product.

Requests forbid unknown keys. A PATCH body changes only the keys it sends; sending ``null``
for a key that cannot be empty is an error rather than a silent no-op.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    model_validator,
)

from frontdesk.core.model import (
    ConversationStatus,
    DeviceKind,
    DeviceStatus,
    Folder,
    Locale,
    MessageAuthor,
    Plan,
    Role,
)
from frontdesk.core.notifications import (
    DeliveryState,
    NotificationKind,
    NotificationState,
    NotRecipientBecause,
    SuppressedBecause,
)

MAX_ID = 2**63 - 1
MESSAGE_TEXT_MAX = 10_000
NAME_MAX = 200
# The longest delay an account may choose: a day. Longer would no longer be a notification.
OFFLINE_EMAIL_DELAY_MAX = 86_400.0


def _known_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            "must be an IANA time zone name such as Europe/Berlin, Europe/Prague or UTC"
        ) from None
    return value


# The zone an agent reads times in (e-mails show times in it).
TimeZone = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(_known_time_zone),
]


def _no_control_characters(value: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters (line breaks, tabs, NUL)")
    return value


def _contains_nul(data: Any) -> bool:
    if isinstance(data, str):
        return "\x00" in data
    if isinstance(data, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in data.items())
    if isinstance(data, list | tuple):
        return any(_contains_nul(item) for item in data)
    return False


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or only white space")
    return value


# Booleans and ids are strict: "no" or 1 is not a boolean and "5" is not an id; a client that
# sends them has a bug it should hear about rather than a guess.
Flag = Annotated[bool, Field(strict=True)]
Id = Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]
# Widget keys are made by ``frontdesk.security.new_widget_key`` (URL-safe base64).
WIDGET_KEY_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX),
    AfterValidator(_no_control_characters),
]


def _mailable(value: str) -> str:
    """An address the mail writer can put in a header and any SMTP server accepts: ASCII
    before the @ (no SMTPUTF8 end to end yet: refused at input rather than failing at every
    send for 48 hours), an internationalised domain in its ASCII form (``xn--…``), and no
    ``=?``, which a mail client would read as an encoded word."""
    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise ValueError(f"not an e-mail address Frontdesk can write to: {error}") from None
    address: str = checked.ascii_email or checked.normalized
    if "=?" in address:
        raise ValueError("an e-mail address may not contain '=?'")
    return address


Email = Annotated[
    str,
    Field(max_length=320, json_schema_extra={"format": "email"}),
    AfterValidator(_mailable),
]
Password = Annotated[
    str, Field(min_length=8, max_length=200), AfterValidator(_no_control_characters)
]
MessageText = Annotated[
    str, Field(min_length=1, max_length=MESSAGE_TEXT_MAX), AfterValidator(_not_blank)
]
DeviceKey = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$"),
]
PageUrl = Annotated[HttpUrl, Field(max_length=2048)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _reject_nul(cls, data: Any) -> Any:
        # PostgreSQL cannot store NUL in text, and no field of Frontdesk has a use for it:
        # refused here once, for every string of every body, nested or not.
        if _contains_nul(data):
            raise ValueError("text must not contain NUL characters")
        return data


class Patch(Request):
    # Keys for which ``null`` is a value ("back to the default") rather than a mistake.
    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _reject_null(self) -> Patch:
        for key in self.model_fields_set - self.nullable:
            if getattr(self, key) is None:
                raise ValueError(f"{key} cannot be null; leave it out to keep it unchanged")
        return self

    def sent(self) -> dict[str, Any]:
        """The keys the client sent, with their validated values."""
        return {key: getattr(self, key) for key in self.model_fields_set}


class Response(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- accounts and auth ------------------------------------------------------------------


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


class AccountOut(Response):
    id: int
    name: str
    plan: Plan
    widget_key: str
    created_at: datetime


class AccountPatch(Patch):
    name: Name | None = None
    plan: Plan | None = None


class NotificationSettingsOut(Response):
    offline_message_email: bool
    missed_conversation_email: bool
    # False on FREE: the switch is kept, but no missed-conversation e-mail is sent.
    missed_conversation_email_available: bool
    # None: the server's default, which ``default_offline_email_delay`` gives.
    offline_email_delay: float | None
    default_offline_email_delay: float


class NotificationSettingsPatch(Patch):
    nullable = frozenset({"offline_email_delay"})

    offline_message_email: Flag | None = None
    missed_conversation_email: Flag | None = None
    offline_email_delay: Annotated[float, Field(gt=0, le=OFFLINE_EMAIL_DELAY_MAX)] | None = None


# --- agents and groups ------------------------------------------------------------------


class AgentOut(Response):
    id: int
    name: str
    email: str
    role: Role
    locale: Locale
    time_zone: str
    active: bool
    email_confirmed: bool = Field(
        description="Whether the agent has followed the link sent to the address; until "
        "then no notification goes to it."
    )
    group_ids: list[int]
    created_at: datetime


class ConfirmAddressIn(Request):
    token: str = Field(min_length=1, max_length=1000)


class ConfirmedAddressOut(Response):
    email: str
    email_confirmed: bool


class DeviceOut(Response):
    device_id: str
    kind: DeviceKind
    status: DeviceStatus
    last_seen_at: datetime
    # Whether this device makes its agent online now: status online and still connected.
    online: bool


class AgentPresenceOut(AgentOut):
    """An agent with its presence: online iff active and some device is ``online``."""

    online: bool
    devices: list[DeviceOut]


class InvitedAgentOut(AgentOut):
    initial_password: str | None


class EmailBounceOut(Response):
    email: str
    at: datetime
    status: str | None = Field(description="The enhanced status code, such as 5.1.1.")
    diagnostic: str | None = Field(description="What the recipient's mail server said.")


class MeOut(AgentOut):
    account_id: int
    email_bounced: EmailBounceOut | None = Field(
        default=None,
        description="The latest e-mail to your current address that the mail server accepted "
        "and then returned undelivered (a bounce), unless one accepted after it arrived; "
        "null when your address has no bounce.",
    )


class AgentIn(Request):
    name: Name
    email: Email
    role: Role = Role.AGENT
    locale: Locale = Locale.EN
    time_zone: TimeZone = "UTC"
    password: Password | None = None
    group_ids: list[Id] | None = Field(default=None, max_length=1000)


class AgentPatch(Patch):
    name: Name | None = None
    role: Role | None = None
    locale: Locale | None = None
    time_zone: TimeZone | None = None
    active: Flag | None = None
    group_ids: list[Id] | None = Field(default=None, max_length=1000)


class MePatch(Patch):
    name: Name | None = None
    email: Email | None = None
    locale: Locale | None = None
    time_zone: TimeZone | None = None
    password: Password | None = None
    current_password: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class MyNotifications(Response):
    offline_message_email: bool
    missed_conversation_email: bool


class MyNotificationsPatch(Patch):
    offline_message_email: Flag | None = None
    missed_conversation_email: Flag | None = None


class GroupIn(Request):
    name: Name
    agent_ids: list[Id] = Field(default_factory=list, max_length=1000)


class GroupPatch(Patch):
    name: Name | None = None
    agent_ids: list[Id] | None = Field(default=None, max_length=1000)


class GroupOut(Response):
    id: int
    name: str
    agent_ids: list[int]


# --- presence ---------------------------------------------------------------------------


class StatusIn(Request):
    status: DeviceStatus
    device_id: DeviceKey | None = None


class HeartbeatIn(Request):
    kind: DeviceKind
    status: DeviceStatus


class PresenceOut(Response):
    online: bool
    devices: list[DeviceOut]


# --- conversations ----------------------------------------------------------------------


class VisitorOut(Response):
    id: int
    name: str | None
    email: str | None
    page_url: str | None
    on_website: bool = Field(
        validation_alias=AliasChoices("present", "on_website"),
        description="Some widget connection of the visitor is open, or closed less than "
        "visitor_left_after ago.",
    )


class MessageOut(Response):
    id: int
    conversation_id: int
    author: MessageAuthor
    agent_id: int | None
    text: str
    created_at: datetime


class ConversationOut(Response):
    id: int
    status: ConversationStatus
    folder: Folder
    group_id: int | None
    assignee_id: int | None
    visitor: VisitorOut
    created_at: datetime
    last_message_at: datetime
    closed_at: datetime | None
    unread: bool
    last_message: MessageOut | None


class ConversationList(Response):
    conversations: list[ConversationOut]


class ConversationDetailOut(ConversationOut):
    last_read_message_id: int | None
    messages: list[MessageOut] = Field(
        description="A page of the messages, oldest first: the newest `limit` (100) of those "
        "before `before` (of all, without it)."
    )
    has_earlier: bool = Field(
        description="Older messages exist: ask with `before=` the first message's id."
    )


class ReadIn(Request):
    message_id: Id | None = None


class ReadOut(Response):
    last_read_message_id: int | None


class ReplyIn(Request):
    text: MessageText


# --- widget -----------------------------------------------------------------------------


class WidgetStatusOut(Response):
    online: bool


class VisitorIn(Request):
    name: Name | None = None
    email: Email | None = None
    page_url: PageUrl | None = None


class NewVisitorOut(Response):
    visitor_id: int
    visitor_token: str


class VisitorMessageIn(Request):
    text: MessageText
    group_id: Id | None = None


class VisitorMessageOut(Response):
    conversation_id: int
    message_id: int


class VisitorPatch(Patch):
    name: Name | None = None
    email: Email | None = None
    page_url: PageUrl | None = None


class VisitorConversationOut(Response):
    """The visitor's latest conversation, for the widget to show again on the next page."""

    conversation_id: int
    status: ConversationStatus
    messages: list[MessageOut]


class VisitorConversationAnswer(Response):
    conversation: VisitorConversationOut | None


# --- the notification log ------------------------------------------------------------------


class DeliveryOut(Response):
    agent_id: int | None
    email: str
    state: DeliveryState
    smtp_code: int | None
    smtp_text: str | None
    attempts: int
    next_attempt_at: datetime | None
    sent_at: datetime | None
    # Set when the e-mail, accepted, came back undelivered (state "bounced").
    bounced_at: datetime | None = None
    bounce_status: str | None = None
    bounce_text: str | None = None


class NotRecipientOut(Response):
    agent_id: int
    reason: NotRecipientBecause


class AgentNotificationOut(Response):
    agent_id: int
    text: str


class NotificationOut(Response):
    id: int
    kind: NotificationKind
    conversation_id: int
    state: NotificationState
    reason: SuppressedBecause | None
    reason_text: str
    opened_at: datetime
    due_at: datetime
    decided_at: datetime | None
    visitor_left_at: datetime | None
    message_ids: list[int]
    listed_message_ids: list[int] = Field(
        description="The messages the e-mail lists: those of message_ids nobody had opened "
        "in the dashboard by the decision."
    )
    recipients: list[DeliveryOut]
    not_recipients: list[NotRecipientOut]
    for_agent: AgentNotificationOut | None = Field(
        description="With ?agent_id=: the decision told from that agent's side."
    )


class NotificationList(Response):
    notifications: list[NotificationOut]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorOut(BaseModel):
    error: ErrorBody
