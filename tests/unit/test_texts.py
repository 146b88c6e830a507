"""Every code the engine can record has its words in every home of words: the API's and
the CLI's sentences (``core.notifications``), and the dashboard's in each language. A new
reason, state or delivery state without them fails here, not on an agent's screen."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from frontdesk.core.model import Locale
from frontdesk.core.notifications import (
    DeliveryState,
    NotificationKind,
    NotificationState,
    NotRecipientBecause,
    SuppressedBecause,
    explain,
    explain_for_agent,
    smtp_reply,
)
from frontdesk.core.reachability import ItemKey, Problem

LOCALES = Path(__file__).resolve().parents[2] / "src/frontdesk/web/static/locales"


def dashboard_words(locale: Locale) -> dict[str, str]:
    words: dict[str, str] = json.loads((LOCALES / f"{locale.value}.json").read_text("utf-8"))
    return words


@pytest.mark.parametrize("reason", list(SuppressedBecause))
def test_each_reason_is_explained_in_a_sentence_of_its_own(reason: SuppressedBecause) -> None:
    said = explain(NotificationKind.OFFLINE_MESSAGE, NotificationState.SUPPRESSED, reason.value)
    assert "unknown reason" not in said
    others = {
        explain(NotificationKind.OFFLINE_MESSAGE, NotificationState.SUPPRESSED, r.value)
        for r in SuppressedBecause
        if r is not reason
    }
    assert said not in others


@pytest.mark.parametrize("left_out", list(NotRecipientBecause))
def test_each_reason_to_leave_an_agent_out_is_told_to_that_agent(
    left_out: NotRecipientBecause,
) -> None:
    said = explain_for_agent(
        kind=NotificationKind.OFFLINE_MESSAGE,
        state=NotificationState.SENT,
        reason=None,
        delivery=None,
        left_out_because=left_out,
        smtp_reply=None,
    )
    assert said.startswith("You were not sent it: ")


@pytest.mark.parametrize("state", list(DeliveryState))
def test_each_delivery_state_is_told_to_its_recipient(state: DeliveryState) -> None:
    said = explain_for_agent(
        kind=NotificationKind.OFFLINE_MESSAGE,
        state=NotificationState.SENT,
        reason=None,
        delivery=state,
        left_out_because=None,
        smtp_reply="250 ok",
    )
    assert said  # every case of the match returns a sentence
    assert said != explain(NotificationKind.OFFLINE_MESSAGE, NotificationState.SENT, None)


@pytest.mark.parametrize("locale", list(Locale))
def test_the_dashboard_has_words_for_every_code_in_every_language(locale: Locale) -> None:
    words = dashboard_words(locale)
    wanted = (
        [f"reason.{r.value}" for r in SuppressedBecause]
        + [f"not_recipient.{r.value}" for r in NotRecipientBecause]
        + [f"state.{s.value}" for s in NotificationState]
        + [f"kind.{k.value}" for k in NotificationKind]
        + [f"delivery.{d.value}{part}" for d in DeliveryState for part in ("", ".label", ".detail")]
    )
    missing = [key for key in wanted if not words.get(key, "").strip()]
    assert missing == []
    if locale is not Locale.EN:  # translated, not the English left in place
        english = dashboard_words(Locale.EN)
        same = [key for key in wanted if words[key] == english[key] and len(english[key]) > 12]
        assert same == []


@pytest.mark.parametrize("locale", list(Locale))
def test_the_dashboard_says_each_checklist_item_and_what_to_do_in_every_language(
    locale: Locale,
) -> None:
    words = dashboard_words(locale)
    wanted = [f"reachability.item.{k.value}" for k in ItemKey] + [
        f"reachability.problem.{p.value}" for p in Problem
    ]
    missing = [key for key in wanted if not words.get(key, "").strip()]
    assert missing == []
    if locale is not Locale.EN:
        english = dashboard_words(Locale.EN)
        assert [key for key in wanted if words[key] == english[key]] == []


@pytest.mark.parametrize(
    ("code", "text", "said"),
    [
        (552, "5.2.2 Mailbox full", "552 5.2.2 Mailbox full"),
        (None, "connection refused", "connection refused"),
        (250, None, "250"),
        (250, "", "250"),
        (None, None, None),
        (None, "", None),
    ],
)
def test_a_mail_server_s_reply_is_told_one_way_everywhere(
    code: int | None, text: str | None, said: str | None
) -> None:
    assert smtp_reply(code, text) == said
