"""No silent loss (docs/reachability.md), end to end through HTTP, sockets, the running
engine, a real SMTP server and a Web Push service on loopback: a visitor's message to a
scope with nobody to tell raises exactly one alert however often it happens, told to the
owner by e-mail, push and the dashboard's banner, and the widget says nobody can be told;
the mail server failing for longer than ``alert_after`` is told by push and resolved when
it takes e-mail again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from frontdesk.security import PasswordHasher
from frontdesk.store.database import Database
from frontdesk.store.models import OutboxEmail, OutboxKind
from tests.mailsink import MailSink
from tests.pushservice import Browser, PushService, push_service
from tests.support import (
    Agent,
    LiveServer,
    engine_settings,
    eventually,
    live_sign_up,
    new_live_visitor,
    serving,
    settled,
)

ALERT_AFTER = 0.5


@pytest.fixture
def pushes() -> Iterator[PushService]:
    with push_service(lambda: datetime.now(UTC)) as service:
        yield service


@pytest.fixture
def server(
    database: Database,
    database_url: str,
    passwords: PasswordHasher,
    tmp_path: Path,
    sink: MailSink,
) -> Iterator[LiveServer]:
    settings = engine_settings(
        database_url,
        tmp_path,
        sink.url,
        push_http_hosts=["127.0.0.1"],
        alert_after=ALERT_AFTER,
    )
    with serving(settings, database, passwords) as running:
        yield running


def subscribe(agent: Agent, pushes: PushService) -> Browser:
    browser = pushes.subscribe()
    made = agent.call(
        "POST", "/me/push-subscriptions", browser.subscription_json() | {"device_name": "Phone"}
    )
    assert made.status_code == 201, made.text
    return browser


def open_alerts(agent: Agent) -> list[dict[str, Any]]:
    listed = agent.call("GET", "/alerts")
    assert listed.status_code == 200, listed.text
    return [a for a in listed.json()["alerts"] if a["open"]]


def alert_emails(database: Database, account_id: int) -> int:
    with database.read() as session:
        return int(
            session.scalar(
                select(func.count()).where(
                    OutboxEmail.account_id == account_id, OutboxEmail.kind == OutboxKind.ALERT
                )
            )
            or 0
        )


def test_a_scope_with_nobody_to_tell_raises_exactly_one_alert(
    server: LiveServer, sink: MailSink, pushes: PushService, database: Database
) -> None:
    owner = live_sign_up(server, plan="pro")
    night = owner.invite(name="Nora")
    group = owner.call("POST", "/groups", {"name": "Night", "agent_ids": [night.agent_id]})
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]
    assert owner.call("PATCH", f"/agents/{night.agent_id}", {"active": False}).status_code == 200
    phone = subscribe(owner, pushes)

    with owner.socket() as dashboard:
        dashboard.wait_for("hello")
        dashboard.send({"type": "status", "status": "offline"})
        dashboard.wait_for("status")
        conversations = [
            new_live_visitor(server, owner.widget_key).say(text, group_id=group_id)[
                "conversation_id"
            ]
            for text in ("Anyone at night?", "Hello <b>again</b>")
        ]
        for conversation_id in conversations:
            (decision,) = settled(owner, conversation_id)
            assert (decision["state"], decision["reason"]) == ("suppressed", "no_recipients")
        dashboard.wait_for("alerts.changed")

    (alert,) = open_alerts(owner)
    assert alert["cause"] == "nobody_in_scope"
    assert alert["subject"] == f"group:{group_id}"
    assert alert["occurrences"] == 2  # counted, told once
    assert alert["details"]["conversation_id"] == conversations[1]
    # Told once: one e-mail (recorded, and caught) and one push.
    (caught,) = sink.wait_for(1, to=owner.email)
    assert caught.message["Subject"] == "A visitor of Shop reached nobody"
    assert "the conversation's team has no active agent" in caught.text
    assert alert_emails(database, owner.account_id) == 1
    (pushed,) = eventually(lambda: pushes.received_by(phone) or None, what="the alert's push")
    assert pushed.payload["kind"] == "alert"
    assert pushed.payload["title"] == "A visitor of Shop reached nobody"
    # The widget says honestly that nobody would be told now.
    status = owner.call("GET", f"/widget/{owner.widget_key}/status?group_id={group_id}").json()
    assert status["nobody_to_tell"] is True

    dismissed = owner.call("POST", f"/alerts/{alert['id']}/dismiss")
    assert dismissed.status_code == 200, dismissed.text
    assert (dismissed.json()["open"], dismissed.json()["cleared_by"]) == (False, "dismissed")
    assert open_alerts(owner) == []
    assert owner.call("GET", f"/widget/{owner.widget_key}/status").json()["nobody_to_tell"] is False
    # An agent may not read or dismiss alerts.
    colleague = owner.invite()
    assert colleague.call("GET", "/alerts").status_code == 403
    assert colleague.call("POST", f"/alerts/{alert['id']}/dismiss").status_code == 403


def test_the_mail_server_failing_is_pushed_and_resolved_when_it_takes_mail_again(
    server: LiveServer, sink: MailSink, pushes: PushService
) -> None:
    owner = live_sign_up(server)
    phone = subscribe(owner, pushes)
    sink.go_away()
    try:
        visitor = new_live_visitor(server, owner.widget_key)
        visitor.say("Is the shop open?")

        def failing() -> dict[str, Any] | None:
            found = open_alerts(owner)
            return found[0] if found else None

        alert = eventually(failing, timeout=15, what="the mail server's alert")
        assert (alert["cause"], alert["subject"]) == ("smtp_failing", "mail_server")
        assert alert["details"]["reply"]  # what the connection attempt ran into
        (pushed,) = eventually(lambda: pushes.received_by(phone) or None, what="its push")
        assert pushed.payload["title"] == "Frontdesk cannot send e-mail: notifications of Shop wait"
    finally:
        sink.come_back()
    # The offline e-mail goes out once the server is back, and the alert is resolved.
    sink.wait_for(1, to=owner.email, timeout=15)
    eventually(lambda: open_alerts(owner) == [] or None, timeout=15, what="resolved")
    (cleared,) = owner.call("GET", "/alerts").json()["alerts"]
    assert cleared["cleared_by"] == "resolved"
