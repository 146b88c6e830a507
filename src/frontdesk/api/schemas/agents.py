"""Bodies of ``routes/agents.py``: the agents of an account, the caller's own profile and
own notification choices, and the zone an agent reads times in."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, StringConstraints

from frontdesk.api.schemas.accounts import AgentChoices, AgentChoicesPatch
from frontdesk.api.schemas.common import (
    Email,
    Flag,
    Id,
    Name,
    Password,
    Patch,
    Request,
    Response,
)
from frontdesk.api.schemas.presence import DeviceOut
from frontdesk.core.model import Locale, Role


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


class AgentPresenceOut(AgentOut):
    """An agent with its presence: online iff active and some device is ``online``."""

    online: bool
    # online; away: only idle devices would make the agent online (counted offline);
    # offline (docs/reachability.md).
    state: Literal["online", "away", "offline"]
    devices: list[DeviceOut]


class InvitedAgentOut(AgentOut):
    initial_password: str | None


class EmailBounceOut(Response):
    email: str
    at: datetime
    status: str | None = Field(description="The enhanced status code, such as 5.1.1.")
    bounce_text: str | None = Field(description="What the recipient's mail server said.")


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


class MyNotifications(AgentChoices):
    """Your own choices per kind and channel: the e-mails, the push before the offline
    e-mail, the push with the missed-conversation e-mail, and the reminder of a conversation
    waiting unserved while you are online but away from it (docs/push.md)."""


class MyNotificationsPatch(AgentChoicesPatch):
    pass
