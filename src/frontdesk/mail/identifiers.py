"""What the product's e-mails name, written in one place: the identifiers of their headers
(Message-ID, the conversation's thread, the account's List-Id) and the links into the
product they carry (a conversation in the dashboard, the profile, the unsubscribe page, an
address confirmation, an invitation).

Mail clients thread, sort and filter by these, so they never change shape between
releases: a conversation's e-mails keep one thread id, an account's one List-Id."""

from __future__ import annotations

import secrets

from frontdesk.mail.verp import bare_address


def message_id_domain(mail_from: str) -> str:
    """The right-hand side of every Message-ID: the sender's domain."""
    return bare_address(mail_from).rpartition("@")[2] or "localhost"


def notification_message_id(notification_id: int, agent_id: int, domain: str) -> str:
    """A notification e-mail to one agent: unique, and naming both for whoever reads logs."""
    return f"<frontdesk.{notification_id}.{agent_id}.{secrets.token_hex(6)}@{domain}>"


def notice_message_id(kind: str, domain: str) -> str:
    """An outbox e-mail (a confirmation, an invitation, a digest…)."""
    return f"<frontdesk.{kind}.{secrets.token_hex(8)}@{domain}>"


def thread_id(conversation_id: int, domain: str) -> str:
    """The id every e-mail about one conversation refers to, so mail clients thread them."""
    return f"<frontdesk.conversation.{conversation_id}@{domain}>"


def list_id(account_id: int, domain: str) -> str:
    """One "list" per account, so that a mail rule can sort its notifications."""
    return f"<account-{account_id}.notifications.{domain}>"


def conversation_link(base_url: str, conversation_id: int) -> str:
    return f"{_base(base_url)}/dashboard/conversations/{conversation_id}"


def profile_link(base_url: str) -> str:
    return f"{_base(base_url)}/dashboard/profile"


def settings_link(base_url: str) -> str:
    return f"{_base(base_url)}/dashboard/settings"


def dashboard_link(base_url: str) -> str:
    return f"{_base(base_url)}/app"


def confirmation_link(base_url: str, token: str) -> str:
    return f"{_base(base_url)}/app#/confirm?token={token}"


def invitation_link(base_url: str, invitation: str) -> str:
    return f"{_base(base_url)}/app#/signup?invitation={invitation}"


def unsubscribe_link(base_url: str, token: str) -> str:
    return f"{_base(base_url)}/api/v1/unsubscribe/{token}"


def _base(base_url: str) -> str:
    return base_url.rstrip("/")
