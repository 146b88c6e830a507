"""What each plan includes (docs/spec.md section 1: groups are PRO, missed-conversation e-mails are
STANDARD and PRO)."""

from __future__ import annotations

from frontdesk.core.model import Plan


def has_groups(plan: Plan) -> bool:
    return plan is Plan.PRO


def group_that_applies(plan: Plan, group_id: int | None) -> int | None:
    """The group whose agents a conversation belongs to (its scope, docs/spec.md section 3):
    the conversation's own group on a plan with groups, and none (every agent of the
    account) on a plan without, so that a downgraded account's group conversations fall back
    to all its agents instead of being left with nobody. The one place this rule is
    written: the engine, the scope queries and the hot path all ask it."""
    return group_id if has_groups(plan) else None


def has_missed_conversation_emails(plan: Plan) -> bool:
    return plan in (Plan.STANDARD, Plan.PRO)
