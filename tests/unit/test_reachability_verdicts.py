"""The checklist's verdicts (``frontdesk.core.reachability``), case by case: facts in, whether
the item is fine and what to do when it is not."""

from __future__ import annotations

import pytest

from frontdesk.core.notifications import DeliveryState
from frontdesk.core.reachability import (
    Problem,
    SenderDomainState,
    Verdict,
    emails_on,
    last_email,
    last_test,
    sender_domain,
)

ALL_ON = {
    "account_offline": True,
    "account_missed": True,
    "missed_in_plan": True,
    "own_offline": True,
    "own_missed": True,
}


@pytest.mark.parametrize(
    ("changed", "verdict"),
    [
        ({}, Verdict(True)),
        ({"account_offline": False}, Verdict(False, Problem.ACCOUNT_EMAILS_OFF)),
        # The account's switch is named first: only an owner or admin can help then.
        (
            {"account_offline": False, "own_offline": False},
            Verdict(False, Problem.ACCOUNT_EMAILS_OFF),
        ),
        ({"own_offline": False}, Verdict(False, Problem.OWN_EMAILS_OFF)),
        ({"own_missed": False}, Verdict(False, Problem.OWN_EMAILS_OFF)),
        # Missed-conversation e-mails the account does not send, or the plan lacks, are
        # nobody's gap.
        ({"own_missed": False, "account_missed": False}, Verdict(True)),
        ({"own_missed": False, "missed_in_plan": False}, Verdict(True)),
    ],
)
def test_e_mails_switched_on(changed: dict[str, bool], verdict: Verdict) -> None:
    assert emails_on(**(ALL_ON | changed)) == verdict


@pytest.mark.parametrize(
    ("state", "verdict"),
    [
        (None, Verdict(None)),
        (DeliveryState.PENDING, Verdict(None)),
        (DeliveryState.HELD, Verdict(None)),
        (DeliveryState.SENT, Verdict(True)),
        (DeliveryState.IN_DIGEST, Verdict(True)),
        (DeliveryState.REJECTED, Verdict(False, Problem.LAST_EMAIL_REJECTED)),
        (DeliveryState.BOUNCED, Verdict(False, Problem.LAST_EMAIL_BOUNCED)),
        (DeliveryState.DEFERRED, Verdict(False, Problem.LAST_EMAIL_DEFERRED)),
    ],
)
def test_the_last_e_mail(state: DeliveryState | None, verdict: Verdict) -> None:
    assert last_email(state) == verdict


@pytest.mark.parametrize(
    ("state", "verdict"),
    [
        (SenderDomainState.OK, Verdict(True)),
        (SenderDomainState.FAILING, Verdict(False, Problem.SENDER_DOMAIN_FAILING)),
        (SenderDomainState.UNCHECKED, Verdict(False, Problem.SENDER_DOMAIN_UNCHECKED)),
        (SenderDomainState.CHECKING, Verdict(None)),
        (SenderDomainState.NOT_APPLICABLE, Verdict(None)),
    ],
)
def test_the_sender_domain(state: SenderDomainState, verdict: Verdict) -> None:
    assert sender_domain(state) == verdict


@pytest.mark.parametrize(
    ("facts", "verdict"),
    [
        ({"requested": False}, Verdict(None)),
        ({"email_state": DeliveryState.PENDING, "push_results": ["sent"]}, Verdict(None)),
        ({"email_state": DeliveryState.SENT, "push_results": None}, Verdict(None)),
        ({"email_state": DeliveryState.SENT, "push_results": []}, Verdict(True)),
        ({"email_state": DeliveryState.SENT, "push_results": ["sent", "sent"]}, Verdict(True)),
        (
            {"email_state": DeliveryState.SENT, "push_results": ["sent", "gone"]},
            Verdict(False, Problem.TEST_PUSH_FAILED),
        ),
        # What the mail server said comes first: the e-mail is the notification's last word.
        (
            {"email_state": DeliveryState.REJECTED, "push_results": ["refused"]},
            Verdict(False, Problem.TEST_EMAIL_FAILED),
        ),
        (
            {"email_skipped": True, "email_state": None, "push_results": ["sent"]},
            Verdict(False, Problem.TEST_EMAIL_SKIPPED),
        ),
    ],
)
def test_the_last_test_notification(facts: dict[str, object], verdict: Verdict) -> None:
    given: dict[str, object] = {
        "requested": True,
        "email_state": None,
        "email_skipped": False,
        "push_results": None,
    }
    assert last_test(**(given | facts)) == verdict  # type: ignore[arg-type]
