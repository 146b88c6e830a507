"""What the mail server says, recorded per recipient: accepted, deferred and tried again,
refused for good, and never a second e-mail to a recipient that already has it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from frontdesk.security import PasswordHasher
from frontdesk.store.database import Database
from frontdesk.store.models import Delivery
from tests.mailsink import MailSink, mail_sink
from tests.support import (
    RETRY_BASE,
    LiveServer,
    decisions,
    engine_settings,
    eventually,
    free_port,
    live_sign_up,
    new_live_visitor,
    serving,
    settled,
)


def test_a_full_mailbox_is_recorded_for_that_recipient_and_the_others_get_theirs(
    engine_server: LiveServer, sink: MailSink
) -> None:
    owner = live_sign_up(engine_server)
    full = owner.invite()
    sink.script(full.email, "552 5.2.2 Mailbox full")
    visitor = new_live_visitor(engine_server, owner.widget_key)
    conversation_id = visitor.say("Hello?")["conversation_id"]
    sink.wait_for(1, to=owner.email)
    (decision,) = settled(owner, conversation_id)
    assert decision["state"] == "sent"
    rejected = next(r for r in decision["recipients"] if r["agent_id"] == full.agent_id)
    assert rejected["state"] == "rejected"
    assert rejected["smtp_code"] == 552
    assert rejected["smtp_text"] == "5.2.2 Mailbox full"
    assert rejected["attempts"] == 1
    assert rejected["next_attempt_at"] is None
    assert sink.to(full.email) == []
    told = settled(owner, conversation_id, agent_id=full.agent_id)[0]["for_agent"]["text"]
    assert "refused it (552 5.2.2 Mailbox full)" in told


def test_a_temporary_failure_is_retried_and_only_that_recipient_gets_a_second_try(
    engine_server: LiveServer, sink: MailSink
) -> None:
    owner = live_sign_up(engine_server)
    greylisting = owner.invite()
    sink.script(greylisting.email, "451 4.7.1 Greylisted, try again later", "450 4.2.0 Busy")
    visitor = new_live_visitor(engine_server, owner.widget_key)
    conversation_id = visitor.say("Hello?")["conversation_id"]
    (late,) = sink.wait_for(1, to=greylisting.email, timeout=10)
    (first,) = sink.to(owner.email)
    # Two refusals, then accepted: RETRY_BASE and then twice that apart.
    assert sink.attempts(greylisting.email) == 3
    assert late.received_at - first.received_at >= RETRY_BASE * 3 * 0.9
    (decision,) = settled(owner, conversation_id)
    by_agent = {r["agent_id"]: r for r in decision["recipients"]}
    assert by_agent[greylisting.agent_id]["state"] == "sent"
    assert by_agent[greylisting.agent_id]["attempts"] == 3
    assert by_agent[owner.agent_id]["attempts"] == 1
    assert sink.attempts(owner.email) == 1  # never sent twice
    assert late.message["Message-ID"] != first.message["Message-ID"]


def test_a_temporary_failure_for_too_long_is_given_up(
    database: Database,
    database_url: str,
    passwords: PasswordHasher,
    tmp_path: Path,
    sink: MailSink,
) -> None:
    settings = engine_settings(database_url, tmp_path, sink.url, smtp_retry_for=0.5)
    with serving(settings, database, passwords) as server:
        owner = live_sign_up(server)
        sink.script(owner.email, *["421 4.3.2 Shutting down"] * 50)
        visitor = new_live_visitor(server, owner.widget_key)
        conversation_id = visitor.say("Hello?")["conversation_id"]
        (decision,) = settled(owner, conversation_id, timeout=15)
    (recipient,) = decision["recipients"]
    assert recipient["state"] == "rejected"
    assert recipient["smtp_code"] == 421
    assert recipient["smtp_text"].startswith("Gave up after")
    assert decision["state"] == "failed"
    assert "no recipient" in decision["reason_text"]


@pytest.fixture
def nowhere() -> str:
    """An SMTP URL where nothing listens (a port taken and released)."""
    return f"smtp://127.0.0.1:{free_port()}"


def test_a_mail_server_that_is_down_defers_until_it_is_back(
    database: Database,
    database_url: str,
    passwords: PasswordHasher,
    tmp_path: Path,
    sink: MailSink,
    nowhere: str,
) -> None:
    down = engine_settings(database_url, tmp_path, nowhere, smtp_retry_base=60)
    with serving(down, database, passwords) as server:
        owner = live_sign_up(server)
        visitor = new_live_visitor(server, owner.widget_key)
        conversation_id = visitor.say("Hello?")["conversation_id"]

        def deferred() -> dict[str, Any] | None:
            (notification,) = decisions(owner, conversation_id)
            recipients = notification["recipients"]
            return recipients[0] if recipients and recipients[0]["state"] == "deferred" else None

        recipient = eventually(deferred)
    assert recipient["smtp_code"] is None
    assert "connect" in recipient["smtp_text"].lower()
    assert recipient["next_attempt_at"] is not None

    # The mail server is back. The retry is a minute away; move it to now, as time would.
    with database.write() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.email == owner.email)
            .values(next_attempt_at=Delivery.last_attempt_at)
        )
    up = engine_settings(database_url, tmp_path, sink.url)
    with serving(up, database, passwords) as server_again:
        owner.server = server_again
        (caught,) = sink.wait_for(1, to=owner.email)
        (decision,) = settled(owner, conversation_id)
    assert decision["recipients"][0]["state"] == "sent"
    assert decision["recipients"][0]["attempts"] == 2
    assert "Hello?" in caught.text


def test_visitor_text_cannot_inject_headers(engine_server: LiveServer, sink: MailSink) -> None:
    owner = live_sign_up(engine_server)
    with engine_server.http() as http:
        refused = http.post(
            f"/widget/{owner.widget_key}/visitors",
            json={"name": "Eve\r\nBcc: victim@example.com"},
        )
    assert refused.status_code == 422  # the first line of defence: no control characters
    # What the API lets through must still come out as one harmless header line.
    name = "Eve\u2028Bcc: victim@example.com " + "ž" * 150
    visitor = new_live_visitor(engine_server, owner.widget_key, name=name)
    visitor.say("<img src=x onerror=alert(1)>\r\nSubject: spoofed")
    (caught,) = sink.wait_for(1, to=owner.email)
    message = caught.message
    assert message["Bcc"] is None
    subject = message["Subject"]
    assert "\u2028" not in subject
    assert subject.startswith('New message from "Eve Bcc: victim@example.com žž')
    assert len(subject) < 140
    assert [c.rcpt_to for c in sink.caught if "victim" in c.rcpt_to] == []
    assert "<img src=x onerror=alert(1)>" in caught.text
    html = message.get_body(("html",))
    assert html is not None
    assert "&lt;img src=x onerror=alert(1)&gt;" in html.get_content()
    assert "<img" not in html.get_content()
    assert message["Subject"] != "spoofed"


def test_metrics_count_decisions_and_deliveries(engine_server: LiveServer, sink: MailSink) -> None:
    owner = live_sign_up(engine_server)
    visitor = new_live_visitor(engine_server, owner.widget_key)
    conversation_id = visitor.say("Hello?")["conversation_id"]
    sink.wait_for(1, to=owner.email)
    settled(owner, conversation_id)
    with engine_server.http() as http:
        text = http.get(engine_server.base_url + "/metrics").text
    assert 'frontdesk_notifications_total{kind="offline_message",reason="",state="sent"}' in text
    assert 'frontdesk_delivery_attempts_total{result="sent"}' in text
    assert "frontdesk_decision_lateness_seconds_count" in text


def test_a_decision_falls_due_while_an_e_mail_is_still_being_sent_and_is_made_on_time(
    database: Database, database_url: str, passwords: PasswordHasher, tmp_path: Path
) -> None:
    """Deciding and sending are two loops: the mail server holds the first e-mail for
    seconds, and the second notification is decided meanwhile, not after it."""
    with mail_sink(data_delay=5.0) as slow:
        settings = engine_settings(
            database_url, tmp_path, slow.url, smtp_timeout=20, delivery_lease=60
        )
        with serving(settings, database, passwords) as server:
            owner = live_sign_up(server)
            first = new_live_visitor(server, owner.widget_key).say("Hello?")["conversation_id"]
            assert slow.handler.in_data.wait(10), "the first e-mail never reached the sink"
            second = new_live_visitor(server, owner.widget_key).say("Anyone?")["conversation_id"]

            def decided() -> dict[str, Any] | None:
                (notification,) = decisions(owner, second)
                return notification if notification["state"] != "scheduled" else None

            notification = eventually(decided, timeout=4)
            # Decided while the sink still holds the first e-mail's data.
            assert slow.handler.in_data.is_set()
            assert slow.caught == []
            assert notification["state"] == "sent"
            (first_notification,) = decisions(owner, first)
            assert first_notification["recipients"][0]["state"] == "pending"
