"""Alerts on a manual clock (docs/reachability.md): each cause raised once however often it
happens, resolved when it ends, dismissed by a manager and raised anew after; nobody
online within business hours (opt-in); every e-mail of a notification refused."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from frontdesk.clock import ManualClock
from frontdesk.core.alerts import AlertCause
from frontdesk.core.notifications import DeliveryState
from frontdesk.mail.transport import SendOutcome
from frontdesk.service import alerts, notifications
from frontdesk.service.runtime import Runtime
from frontdesk.store.models import Alert, Delivery, OutboxEmail, OutboxKind
from tests.support import SignedUp, new_visitor

DELAY = 120  # the default offline_email_delay


def account_alerts(runtime: Runtime, account: SignedUp) -> list[Alert]:
    with runtime.database.read() as session:
        return list(
            session.scalars(
                select(Alert).where(Alert.account_id == account.account_id).order_by(Alert.id)
            )
        )


def alert_emails(runtime: Runtime, account: SignedUp) -> list[OutboxEmail]:
    with runtime.database.read() as session:
        return list(
            session.scalars(
                select(OutboxEmail).where(
                    OutboxEmail.account_id == account.account_id,
                    OutboxEmail.kind == OutboxKind.ALERT,
                )
            )
        )


def decide(runtime: Runtime, clock: ManualClock) -> None:
    clock.advance(DELAY + 1)
    while notifications.decide_due(runtime):
        pass


def test_everybody_opted_out_is_one_alert_and_an_e_mail_again_resolves_it(
    runtime: Runtime, client: TestClient, account: SignedUp, clock: ManualClock
) -> None:
    switched = account.patch("/me/notifications", {"offline_message_email": False})
    assert switched.status_code == 200, switched.text
    for text in ("First", "Second", "Third"):
        new_visitor(client, account.widget_key).say(text)
    decide(runtime, clock)

    (alert,) = account_alerts(runtime, account)
    assert (alert.cause, alert.subject, alert.occurrences) == (
        AlertCause.NOBODY_TO_TELL.value,
        "account",
        3,
    )
    assert alert.open_key is not None
    (told,) = alert_emails(runtime, account)
    assert (told.agent_id, told.alert_id) == (account.agent_id, alert.id)

    account.patch("/me/notifications", {"offline_message_email": True})
    new_visitor(client, account.widget_key).say("Fourth")
    decide(runtime, clock)
    (resolved,) = account_alerts(runtime, account)
    assert (resolved.open_key, resolved.cleared_by) == (None, "resolved")
    assert len(alert_emails(runtime, account)) == 1


def test_a_dismissed_alert_is_raised_anew_by_its_cause_happening_again(
    runtime: Runtime, client: TestClient, account: SignedUp, clock: ManualClock
) -> None:
    account.patch("/me/notifications", {"offline_message_email": False})
    new_visitor(client, account.widget_key).say("First")
    decide(runtime, clock)
    (first,) = account_alerts(runtime, account)
    assert account.post(f"/alerts/{first.id}/dismiss").json()["cleared_by"] == "dismissed"

    new_visitor(client, account.widget_key).say("Second")
    decide(runtime, clock)
    old, new = account_alerts(runtime, account)
    assert (old.id, old.open_key) == (first.id, None)
    assert (new.occurrences, new.open_key) == (1, "nobody_to_tell:account")
    assert len(alert_emails(runtime, account)) == 2
    assert account.post("/alerts/999999999/dismiss").status_code == 404


def test_every_e_mail_of_a_notification_refused_raises_deliveries_failed(
    runtime: Runtime, client: TestClient, account: SignedUp, clock: ManualClock
) -> None:
    new_visitor(client, account.widget_key).say("Hello?")
    decide(runtime, clock)
    claimed = notifications.claim_deliveries(runtime, limit=10)
    (mine,) = [c for c in claimed if c.email.recipient_email == account.email]
    with runtime.database.write() as session:
        notifications.record_outcomes(
            session,
            runtime,
            [(mine, SendOutcome(accepted=False, code=550, text="5.1.1 No such user"))],
        )
    with runtime.database.read() as session:
        assert session.get_one(Delivery, mine.delivery_id).state is DeliveryState.REJECTED
    (alert,) = account_alerts(runtime, account)
    assert alert.cause == AlertCause.DELIVERIES_FAILED.value
    assert alert.details is not None
    assert set(alert.details) == {"conversation_id", "notification_id"}


def test_nobody_online_within_business_hours_is_an_alert_when_the_account_wants_it(
    runtime: Runtime, account: SignedUp, clock: ManualClock
) -> None:
    """Opt-in; counted from the opening or the last agent going offline, whichever is
    later; resolved by somebody coming online; nothing outside the hours."""
    everyday = {
        day: ["08:00-20:00"]
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    }
    # 09:00 UTC is 10:00 at UTC+1: open since 08:00 local, two hours ago.
    assert (
        account.put("/settings/hours", {"time_zone": "Etc/GMT-1", "weekly": everyday}).status_code
        == 200
    )
    clock.advance(7200)  # nobody online for hours, but the account did not ask
    alerts.check_nobody_online(runtime)
    assert account_alerts(runtime, account) == []

    account.patch("/settings/notifications", {"alert_nobody_online_after": 3600})
    account.put("/me/status", {"status": "online", "device_id": "tab"})
    clock.advance(10)
    account.put("/me/status", {"status": "offline", "device_id": "tab"})
    clock.advance(3599)
    alerts.check_nobody_online(runtime)
    assert [a for a in account_alerts(runtime, account) if a.open_key] == []
    clock.advance(2)  # an hour since the agent went offline
    alerts.check_nobody_online(runtime)
    alerts.check_nobody_online(runtime)  # again: counted, not raised again
    (alert,) = account_alerts(runtime, account)
    assert (alert.cause, alert.open_key is not None) == (AlertCause.NOBODY_ONLINE.value, True)
    assert len(alert_emails(runtime, account)) == 1

    account.put("/me/status", {"status": "online", "device_id": "tab"})
    alerts.check_nobody_online(runtime)
    (resolved,) = account_alerts(runtime, account)
    assert resolved.cleared_by == "resolved"

    # After closing time nobody is expected: no alert however long nobody is online.
    account.put("/me/status", {"status": "offline", "device_id": "tab"})
    clock.advance(timedelta(hours=10).total_seconds())  # 21:00 local
    alerts.check_nobody_online(runtime)
    assert [a.open_key for a in account_alerts(runtime, account)] == [None]


def test_only_owners_and_admins_see_the_alerts(client: TestClient, account: SignedUp) -> None:
    agent = account.invite()
    assert account.get("/alerts").json() == {"alerts": []}
    refused = agent.get("/alerts")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "not_a_manager"
