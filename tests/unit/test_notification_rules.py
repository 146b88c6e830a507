"""The notification rules of docs/spec.md section 3 on their own: facts in, decision out."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from frontdesk.core.model import ConversationStatus, Plan
from frontdesk.core.notifications import (
    AgentFacts,
    Audience,
    MissedFacts,
    NotificationKind,
    NotificationState,
    NotRecipientBecause,
    OfflineFacts,
    OnVisitorMessage,
    SuppressedBecause,
    audience,
    decide_missed,
    decide_offline,
    explain,
    is_missed,
    is_temporary_smtp_code,
    next_attempt_at,
    on_visitor_message,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def agent(agent_id: int, **facts: bool) -> AgentFacts:
    return AgentFacts(
        agent_id=agent_id,
        active=facts.get("active", True),
        in_scope=facts.get("in_scope", True),
        wants_kind=facts.get("wants_kind", True),
    )


EVERYONE = audience([agent(1), agent(2)])
OFFLINE = OfflineFacts(
    setting_on=True,
    scope_came_online=False,
    status=ConversationStatus.UNSERVED,
    batch=(10, 11, 12),
    opened_in_dashboard=frozenset(),
    audience=EVERYONE,
)


# --- audience -------------------------------------------------------------------------------


def test_every_active_agent_of_the_scope_who_wants_it_is_a_recipient() -> None:
    result = audience(
        [
            agent(4, wants_kind=False),
            agent(1),
            agent(3, in_scope=False),
            agent(2, active=False),
            agent(5),
        ]
    )
    assert result.recipients == (1, 5)
    assert result.not_recipients == (
        (2, NotRecipientBecause.INACTIVE),
        (3, NotRecipientBecause.NOT_IN_GROUP),
        (4, NotRecipientBecause.OPTED_OUT),
    )
    assert result.suppressed_because is None


def test_a_deactivated_group_member_is_inactive_before_anything_else() -> None:
    result = audience([agent(1, active=False, in_scope=False, wants_kind=False)])
    assert result.not_recipients == ((1, NotRecipientBecause.INACTIVE),)


def test_nobody_left_is_opted_out_when_someone_opted_out_else_no_recipients() -> None:
    assert audience([agent(1, wants_kind=False)]).suppressed_because is (
        SuppressedBecause.OPTED_OUT
    )
    assert audience([agent(1, active=False)]).suppressed_because is (
        SuppressedBecause.NO_RECIPIENTS
    )
    assert audience([]).suppressed_because is SuppressedBecause.NO_RECIPIENTS


# --- a visitor message ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope_online", "has_open", "setting_on", "expected"),
    [
        (True, False, True, OnVisitorMessage.NOT_OFFLINE),
        (True, True, True, OnVisitorMessage.NOT_OFFLINE),
        (False, True, True, OnVisitorMessage.JOIN_OPEN),
        (False, True, False, OnVisitorMessage.JOIN_OPEN),
        (False, False, True, OnVisitorMessage.OPEN_NEW),
        (False, False, False, OnVisitorMessage.SUPPRESS_AT_ONCE),
    ],
)
def test_what_a_visitor_message_does(
    scope_online: bool, has_open: bool, setting_on: bool, expected: OnVisitorMessage
) -> None:
    assert (
        on_visitor_message(
            scope_online=scope_online, has_open_notification=has_open, setting_on=setting_on
        )
        is expected
    )


# --- offline message at its due time ---------------------------------------------------------


def test_an_offline_notification_lists_the_batch_to_everyone() -> None:
    decision = decide_offline(OFFLINE)
    assert decision.send
    assert decision.state is NotificationState.SENT
    assert decision.message_ids == (10, 11, 12)
    assert decision.recipients == (1, 2)


def test_messages_opened_in_the_dashboard_are_left_out() -> None:
    decision = decide_offline(replace(OFFLINE, opened_in_dashboard=frozenset({10, 11})))
    assert decision.message_ids == (12,)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"setting_on": False}, SuppressedBecause.SETTING_OFF),
        ({"scope_came_online": True}, SuppressedBecause.AGENT_CAME_ONLINE),
        (
            {"status": ConversationStatus.SERVED, "served_since": True},
            SuppressedBecause.CONVERSATION_SERVED,
        ),
        ({"status": ConversationStatus.CLOSED}, SuppressedBecause.CONVERSATION_CLOSED),
        ({"opened_in_dashboard": frozenset({10, 11, 12})}, SuppressedBecause.READ_IN_DASHBOARD),
        ({"audience": audience([agent(1, wants_kind=False)])}, SuppressedBecause.OPTED_OUT),
        ({"audience": Audience((), ())}, SuppressedBecause.NO_RECIPIENTS),
    ],
)
def test_each_suppression_of_an_offline_notification(
    change: dict[str, object], reason: SuppressedBecause
) -> None:
    decision = decide_offline(replace(OFFLINE, **change))  # type: ignore[arg-type]
    assert decision.reason is reason
    assert decision.state is NotificationState.SUPPRESSED
    assert decision.recipients == ()


def test_a_conversation_served_before_the_messages_is_no_answer_to_them() -> None:
    """The visitor writes again when the agent who served the conversation has gone: the
    agents are told, as of any offline message (only a join or an answer after the first
    message of the batch suppresses it)."""
    decision = decide_offline(replace(OFFLINE, status=ConversationStatus.SERVED))
    assert decision.send
    assert decision.message_ids == (10, 11, 12)


def test_the_setting_is_checked_before_anything_else() -> None:
    everything_wrong = replace(
        OFFLINE,
        setting_on=False,
        scope_came_online=True,
        status=ConversationStatus.CLOSED,
        opened_in_dashboard=frozenset({10, 11, 12}),
        audience=Audience((), ()),
    )
    assert decide_offline(everything_wrong).reason is SuppressedBecause.SETTING_OFF


# --- missed conversation --------------------------------------------------------------------


def test_missed_only_when_unserved_written_and_someone_was_online() -> None:
    common = {"first_unanswered_at": at(0), "left_at": at(60), "scope_online_between": True}
    assert is_missed(status=ConversationStatus.UNSERVED, **common)  # type: ignore[arg-type]
    assert not is_missed(status=ConversationStatus.SERVED, **common)  # type: ignore[arg-type]
    assert not is_missed(status=ConversationStatus.CLOSED, **common)  # type: ignore[arg-type]
    assert not is_missed(
        status=ConversationStatus.UNSERVED,
        first_unanswered_at=None,
        left_at=at(60),
        scope_online_between=True,
    )
    assert not is_missed(
        status=ConversationStatus.UNSERVED,
        first_unanswered_at=at(0),
        left_at=at(60),
        scope_online_between=False,
    )


@pytest.mark.parametrize(
    ("plan", "setting_on", "reached", "reason"),
    [
        (Plan.FREE, True, EVERYONE, SuppressedBecause.PLAN_LACKS_FEATURE),
        (Plan.FREE, False, EVERYONE, SuppressedBecause.PLAN_LACKS_FEATURE),
        (Plan.STANDARD, False, EVERYONE, SuppressedBecause.SETTING_OFF),
        (Plan.PRO, True, Audience((), ()), SuppressedBecause.NO_RECIPIENTS),
        (Plan.STANDARD, True, EVERYONE, None),
        (Plan.PRO, True, EVERYONE, None),
    ],
)
def test_the_missed_conversation_plan_gate_and_setting(
    plan: Plan, setting_on: bool, reached: Audience, reason: SuppressedBecause | None
) -> None:
    decision = decide_missed(
        MissedFacts(plan=plan, setting_on=setting_on, unanswered=(7, 8), audience=reached)
    )
    assert decision.reason is reason
    if reason is None:
        assert decision.message_ids == (7, 8)
        assert decision.recipients == (1, 2)


# --- retries --------------------------------------------------------------------------------


def test_retries_double_from_the_base_and_stop_at_the_limit() -> None:
    def retry(attempts: int, now: float) -> datetime | None:
        return next_attempt_at(
            attempts=attempts,
            first_attempt_at=at(0),
            now=at(now),
            retry_base=30,
            retry_for=200,
        )

    assert retry(1, 0) == at(30)
    assert retry(2, 30) == at(90)
    assert retry(3, 90) == at(200)  # 90 + 120 would pass the limit: the last try is at it
    assert retry(4, 200) is None


def test_temporary_and_permanent_smtp_replies() -> None:
    assert is_temporary_smtp_code(None)
    assert is_temporary_smtp_code(421)
    assert is_temporary_smtp_code(452)
    assert not is_temporary_smtp_code(550)
    assert not is_temporary_smtp_code(552)


# --- explanations ---------------------------------------------------------------------------


@pytest.mark.parametrize("reason", list(SuppressedBecause))
def test_every_reason_has_its_own_sentence(reason: SuppressedBecause) -> None:
    text = explain(NotificationKind.OFFLINE_MESSAGE, NotificationState.SUPPRESSED, reason)
    assert text.startswith("The offline-message e-mail was not sent: ")
    assert "unknown" not in text
    others = {
        explain(NotificationKind.OFFLINE_MESSAGE, NotificationState.SUPPRESSED, other)
        for other in SuppressedBecause
        if other is not reason
    }
    assert text not in others


def test_header_safe_text_is_one_short_line_without_control_characters() -> None:
    from frontdesk.mail.compose import header_safe

    assert header_safe("Eve\r\nBcc: x@example.com\x00\t") == "Eve Bcc: x@example.com"
    assert header_safe("a\u2028b\u0085c") == "a b c"
    long = header_safe("x" * 500)
    assert len(long) == 60
    assert long.endswith("…")
