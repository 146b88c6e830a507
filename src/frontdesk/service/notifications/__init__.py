"""The notification engine's side of the store (docs/spec.md section 3; docs/notifications.md),
in five rooms:

- ``opening``: three events open and close notifications, each inside the transaction that
  records it, so a notification exists exactly when its cause does. A visitor message
  (``note_visitor_message``) opens an offline-message notification or joins the open one;
  presence hands every transition it records to ``presence_recorded``, where an agent coming
  online calls off the open offline notifications of its scopes and a visitor leaving
  opens a missed-conversation notification when the conversation was missed (``missed``);
- ``deciding``: the worker (``frontdesk.engine``) calls ``decide_due`` for what is due: one
  transaction that claims rows no other worker holds, asks ``frontdesk.core.notifications``
  and records the decision with its deliveries;
- ``delivering``: ``claim_deliveries`` and ``record_outcomes`` around each e-mail it sends;
- ``pushing``: the push before the e-mail, ``claim_pushes`` and ``record_push_answers``;
- ``explaining``: ``list_notifications`` and friends read it all back to explain it.
"""

from frontdesk.service.notifications.deciding import DECIDE_BATCH, decide_due, next_decision_at
from frontdesk.service.notifications.delivering import (
    ClaimedDelivery,
    claim_deliveries,
    fail_if_nobody_got_it,
    next_delivery_at,
    record_outcomes,
    release_deliveries,
)
from frontdesk.service.notifications.explaining import (
    NotificationView,
    explain_conversation,
    list_notifications,
    views_of_account,
)
from frontdesk.service.notifications.opening import (
    AccountRules,
    OfflineOpening,
    Reminding,
    continue_call_off,
    continue_call_off_in,
    note_visitor_message,
    note_visitor_messages,
    open_offline_notifications_of,
    presence_recorded,
)
from frontdesk.service.notifications.pushing import (
    PUSH_BATCH,
    ClaimedPush,
    claim_pushes,
    next_push_at,
    record_push_answers,
)

__all__ = [
    "DECIDE_BATCH",
    "PUSH_BATCH",
    "AccountRules",
    "ClaimedDelivery",
    "ClaimedPush",
    "NotificationView",
    "OfflineOpening",
    "Reminding",
    "claim_deliveries",
    "claim_pushes",
    "continue_call_off",
    "continue_call_off_in",
    "decide_due",
    "explain_conversation",
    "fail_if_nobody_got_it",
    "list_notifications",
    "next_decision_at",
    "next_delivery_at",
    "next_push_at",
    "note_visitor_message",
    "note_visitor_messages",
    "open_offline_notifications_of",
    "presence_recorded",
    "record_outcomes",
    "record_push_answers",
    "release_deliveries",
    "views_of_account",
]
