"""What each plan includes (docs/spec.md section 1: groups are PRO, missed-conversation e-mails are
STANDARD and PRO)."""

from __future__ import annotations

from frontdesk.core.model import Plan


def has_groups(plan: Plan) -> bool:
    return plan is Plan.PRO


def has_missed_conversation_emails(plan: Plan) -> bool:
    return plan in (Plan.STANDARD, Plan.PRO)
