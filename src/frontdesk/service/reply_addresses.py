"""Reply addresses (docs/reply-by-email.md): ``reply+<token>@<reply domain>``, the
Reply-To of an agent's notification and of a visitor's e-mail of answers, each bound to
that agent or visitor and one conversation (``ReplyAddress``; the token's format is
``frontdesk.mail.reply_address``). Made in the transaction that claims the e-mail, since
only the e-mail ever holds the token; revoked when the agent is deactivated or changes
address, and, for agents, when the conversation is closed. What comes back to them is
``frontdesk.service.replies``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, insert, update
from sqlalchemy.orm import Session

from frontdesk.mail.reply_address import new_reply_token, reply_address, token_hash
from frontdesk.service.runtime import Runtime
from frontdesk.store.models import ReplyAddress, ReplyParty, table_of

_reply_addresses = table_of(ReplyAddress)


@dataclass(frozen=True, slots=True)
class NewReplyAddress:
    account_id: int
    conversation_id: int
    party: ReplyParty
    email: str  # where the e-mail goes: its replies must come from there
    agent_id: int | None = None
    visitor_id: int | None = None


def issue(session: Session, rt: Runtime, wanted: Sequence[NewReplyAddress]) -> list[str]:
    """Reply addresses for ``wanted``, in the caller's transaction, in its order: one
    statement for the batch (a claim of the engine's makes one per e-mail)."""
    if not wanted:
        return []
    now = rt.clock.now()
    domain = rt.settings.effective_reply_domain
    tokens = [new_reply_token() for _ in wanted]
    session.execute(
        insert(_reply_addresses),
        [
            {
                "token_hash": token_hash(token),
                "account_id": new.account_id,
                "conversation_id": new.conversation_id,
                "party": new.party,
                "agent_id": new.agent_id,
                "visitor_id": new.visitor_id,
                "email_key": new.email.strip().lower(),
                "created_at": now,
            }
            for token, new in zip(tokens, wanted, strict=True)
        ],
    )
    return [reply_address(domain, token) for token in tokens]


def revoke_of_agent(session: Session, rt: Runtime, agent_id: int, *, reason: str) -> None:
    """An agent deactivated, or with a new address: replies to what the agent was sent
    before are refused."""
    _revoke(session, rt, _reply_addresses.c.agent_id == agent_id, reason)


def revoke_of_conversation(session: Session, rt: Runtime, conversation_id: int) -> None:
    """A closed conversation takes no more answers by e-mail (a visitor's e-mail opens a
    new conversation, as a visitor message after the close does)."""
    _revoke(
        session,
        rt,
        (_reply_addresses.c.conversation_id == conversation_id)
        & (_reply_addresses.c.party == ReplyParty.AGENT),
        "conversation_closed",
    )


def _revoke(session: Session, rt: Runtime, which: ColumnElement[bool], reason: str) -> None:
    session.execute(
        update(_reply_addresses)
        .where(which, _reply_addresses.c.revoked_at.is_(None))
        .values(revoked_at=rt.clock.now(), revoked_reason=reason)
    )
