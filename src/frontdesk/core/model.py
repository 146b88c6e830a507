"""The vocabulary of the product (docs/spec.md section 2) as enums shared by every layer."""

from __future__ import annotations

from enum import StrEnum


class Plan(StrEnum):
    FREE = "free"
    STANDARD = "standard"
    PRO = "pro"


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    AGENT = "agent"


class Locale(StrEnum):
    EN = "en"
    DE = "de"
    CS = "cs"


class ConversationStatus(StrEnum):
    UNSERVED = "unserved"
    SERVED = "served"
    CLOSED = "closed"


class Folder(StrEnum):
    """The dashboard folders, as one agent sees them."""

    UNSERVED = "unserved"
    MINE = "mine"
    SERVED = "served"
    CLOSED = "closed"


class MessageAuthor(StrEnum):
    VISITOR = "visitor"
    AGENT = "agent"
    SYSTEM = "system"


class DeviceKind(StrEnum):
    WEB = "web"
    MOBILE = "mobile"
    DESKTOP = "desktop"


class DeviceStatus(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
