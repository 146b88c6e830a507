"""Asynchronous bounces end to end: a notification e-mail goes out with its VERP return path,
the mail server that accepted it later sends a delivery-status notification back to that
address over real SMTP, and the delivery turns ``bounced`` — in the notification log, on the
agent's profile, in ``frontdesk explain``. Forged return paths and other mail change nothing;
the same report twice changes nothing the second time."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from frontdesk.cli import main
from frontdesk.mail.verp import return_path, verp_token
from frontdesk.security import PasswordHasher
from frontdesk.service import bounces
from frontdesk.store.database import Database
from frontdesk.store.models import Delivery
from tests.mailsink import MailSink
from tests.support import (
    DIAGNOSTIC,
    Agent,
    LiveServer,
    engine_settings,
    eventually,
    free_port,
    live_sign_up,
    new_live_visitor,
    report,
    send,
    send_until_taken,
    serving,
    settled,
)

BOUNCE_ADDRESS = "bounces@shop.example"
RETURN_PATH = re.compile(r"^bounces\+([0-9]+-[0-9a-f]{10})@shop\.example$")


@dataclass
class BounceSetup:
    server: LiveServer
    inbound_port: int
    database_url: str
    data_dir: Path


@pytest.fixture
def setup(
    database: Database,
    database_url: str,
    passwords: PasswordHasher,
    tmp_path: Path,
    sink: MailSink,
) -> Iterator[BounceSetup]:
    """The engine with its bounce endpoint inside ``serve`` (``inbound_port`` set)."""
    port = free_port()
    settings = engine_settings(
        database_url, tmp_path, sink.url, inbound_port=port, bounce_address=BOUNCE_ADDRESS
    )
    with serving(settings, database, passwords) as server:
        yield BounceSetup(server, port, database_url, tmp_path)


def delivery_to(agent: Agent, conversation_id: int) -> dict[str, Any]:
    (decision,) = settled(agent, conversation_id, agent_id=agent.agent_id)
    recipient: dict[str, Any] = next(
        r for r in decision["recipients"] if r["agent_id"] == agent.agent_id
    )
    return recipient | {"for_agent": decision["for_agent"]["text"], "decision": decision}


def me(agent: Agent) -> dict[str, Any]:
    response = agent.call("GET", "/me")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_dsn_turns_a_delivery_into_bounced(setup: BounceSetup, sink: MailSink) -> None:
    server = setup.server
    owner = live_sign_up(server)
    colleague = owner.invite()
    visitor = new_live_visitor(server, owner.widget_key, name="Vera")
    conversation_id = visitor.say("Do you ship to Brno?")["conversation_id"]
    (to_owner,) = sink.wait_for(1, to=owner.email)
    sink.wait_for(1, to=colleague.email)
    # Each e-mail has a return path of its own.
    assert RETURN_PATH.match(to_owner.mail_from), to_owner.mail_from
    assert to_owner.mail_from != sink.to(colleague.email)[0].mail_from
    assert delivery_to(owner, conversation_id)["state"] == "sent"
    assert me(owner)["email_bounced"] is None

    assert (
        send(setup.inbound_port, to_owner.mail_from, report(to_owner.mail_from, owner.email)) == 250
    )

    bounced = delivery_to(owner, conversation_id)
    assert bounced["state"] == "bounced"
    assert bounced["bounce_status"] == "5.1.1"
    assert bounced["bounce_text"] == DIAGNOSTIC.format(rcpt=owner.email)
    assert bounced["bounced_at"] is not None
    assert bounced["smtp_code"] == 250  # what the server said first is kept
    assert bounced["for_agent"].startswith("Your mail server accepted it (250 OK")
    assert f"but it bounced at {bounced['bounced_at'][:19]}" in bounced["for_agent"]
    assert bounced["for_agent"].endswith(f": 5.1.1 {DIAGNOSTIC.format(rcpt=owner.email)}.")
    # The colleague got it, so the notification was still sent.
    assert bounced["decision"]["state"] == "sent"
    assert delivery_to(colleague, conversation_id)["state"] == "sent"

    profile = me(owner)["email_bounced"]
    assert profile == {
        "email": owner.email,
        "at": profile["at"],
        "status": "5.1.1",
        "bounce_text": DIAGNOSTIC.format(rcpt=owner.email),
    }
    assert profile["at"][:19] == bounced["bounced_at"][:19]
    assert me(colleague)["email_bounced"] is None

    explained = CliRunner().invoke(
        main,
        ["explain", str(conversation_id)],
        env={
            "FRONTDESK_DATABASE_URL": setup.database_url,
            "FRONTDESK_DATA_DIR": str(setup.data_dir),
        },
    )
    assert explained.exit_code == 0, explained.output
    line = next(x for x in explained.output.splitlines() if f"<{owner.email}>" in x)
    assert line.startswith(f"  to agent {owner.agent_id} <{owner.email}>: bounced after 1 ")
    assert f"then bounced at {bounced['bounced_at'][:19]}" in line
    assert line.endswith(f": 5.1.1 {DIAGNOSTIC.format(rcpt=owner.email)}")

    # The same report again (a remote server that retried it) changes nothing.
    assert (
        send(setup.inbound_port, to_owner.mail_from, report(to_owner.mail_from, owner.email)) == 250
    )
    again = delivery_to(owner, conversation_id)
    assert again["bounced_at"] == bounced["bounced_at"]
    assert again["state"] == "bounced"

    metrics = server.http().get(f"{server.base_url}/metrics").text
    assert 'frontdesk_bounces_total{result="bounced"}' in metrics
    assert 'frontdesk_bounces_total{result="duplicate"}' in metrics


def test_when_every_e_mail_of_a_notification_bounced_it_failed(
    setup: BounceSetup, sink: MailSink
) -> None:
    owner = live_sign_up(setup.server)
    visitor = new_live_visitor(setup.server, owner.widget_key)
    conversation_id = visitor.say("Hello?")["conversation_id"]
    (caught,) = sink.wait_for(1, to=owner.email)
    assert delivery_to(owner, conversation_id)["decision"]["state"] == "sent"
    assert send(setup.inbound_port, caught.mail_from, report(caught.mail_from, owner.email)) == 250
    decision = delivery_to(owner, conversation_id)["decision"]
    assert decision["state"] == "failed"
    assert "returned it" in decision["reason_text"]


def test_forged_return_paths_other_mail_and_delays_change_nothing(
    setup: BounceSetup, sink: MailSink
) -> None:
    owner = live_sign_up(setup.server)
    visitor = new_live_visitor(setup.server, owner.widget_key)
    conversation_id = visitor.say("Hello?")["conversation_id"]
    (caught,) = sink.wait_for(1, to=owner.email)
    match = RETURN_PATH.match(caught.mail_from)
    assert match is not None
    delivery_id = match.group(1).split("-")[0]
    port = setup.inbound_port

    forged = f"bounces+{delivery_id}-0123456789@shop.example"
    assert send(port, forged, report(forged, owner.email)) == 550
    assert send(port, "olga@example.net", report("olga@example.net", owner.email)) == 550
    assert send(port, BOUNCE_ADDRESS, report(BOUNCE_ADDRESS, owner.email)) == 550
    # A delay notice and an auto-reply reach a real return path and are dropped.
    delayed = report(caught.mail_from, owner.email, action="delayed", status="4.4.1")
    assert send(port, caught.mail_from, delayed) == 250
    auto_reply = (
        f"From: {owner.email}\r\nTo: {caught.mail_from}\r\nSubject: Out of office\r\n"
        "Auto-Submitted: auto-replied\r\n\r\nBack on Monday.\r\n"
    ).encode()
    assert send(port, caught.mail_from, auto_reply) == 250

    delivery = delivery_to(owner, conversation_id)
    assert delivery["state"] == "sent"
    assert delivery["bounced_at"] is None
    assert me(owner)["email_bounced"] is None


def test_a_report_about_an_e_mail_not_accepted_yet_is_dropped(
    setup: BounceSetup, sink: MailSink, database: Database
) -> None:
    """A DSN for a delivery the engine still retries: the accepted copy went out before a
    crash or its 250 was lost; the engine sends it again, and a report about that copy
    follows if it bounces too."""
    server = setup.server
    owner = live_sign_up(server)
    greylisted = owner.invite()
    sink.script(greylisted.email, *["451 4.7.1 Greylisted"] * 200)
    visitor = new_live_visitor(server, owner.widget_key)
    visitor.say("Hello?")
    sink.wait_for(1, to=owner.email)
    with database.read() as session:
        delivery = session.scalar(select(Delivery).where(Delivery.email == greylisted.email))
        assert delivery is not None
        delivery_id, state = delivery.id, delivery.state.value
    assert state in ("pending", "deferred")
    address = return_path(BOUNCE_ADDRESS, verp_token(bounces.verp_key(server.runtime), delivery_id))
    # Between two attempts (one under way answers 451: test_a_report_about_an_e_mail_being_sent…).
    assert send_until_taken(setup.inbound_port, address, report(address, greylisted.email)) == 250
    with database.read() as session:
        after = session.get_one(Delivery, delivery_id)
        assert after.state.value in ("pending", "deferred")
        assert after.bounced_at is None


def test_a_report_about_an_e_mail_being_sent_is_asked_for_again_then_recorded(
    setup: BounceSetup, sink: MailSink, database: Database
) -> None:
    """A DSN that comes while the e-mail's attempt is under way (claimed, its 250 not
    recorded yet) gets 451 and changes nothing; the same DSN once the 250 is recorded turns
    the delivery bounced. Dropping it, as a report about an e-mail not accepted, would lose
    the bounce for good."""
    server = setup.server
    owner = live_sign_up(server)
    # The sink holds each DATA before it answers: the attempt stays under way for 1.5 s.
    sink.handler.data_delay = 1.5
    visitor = new_live_visitor(server, owner.widget_key)
    conversation_id = visitor.say("Hello?")["conversation_id"]

    def under_way() -> int | None:
        with database.read() as session:
            delivery = session.scalar(
                select(Delivery).where(
                    Delivery.email == owner.email, Delivery.lease_token.is_not(None)
                )
            )
            return None if delivery is None else delivery.id

    delivery_id = eventually(under_way, timeout=10, interval=0.02, what="the attempt under way")
    address = return_path(BOUNCE_ADDRESS, verp_token(bounces.verp_key(server.runtime), delivery_id))
    dsn = report(address, owner.email)

    assert send(setup.inbound_port, address, dsn) == 451
    with database.read() as session:
        during = session.get_one(Delivery, delivery_id)
        assert (during.state.value, during.bounced_at) == ("pending", None)

    sink.wait_for(1, to=owner.email)
    assert send_until_taken(setup.inbound_port, address, dsn) == 250
    bounced = delivery_to(owner, conversation_id)
    assert (bounced["state"], bounced["smtp_code"], bounced["bounce_status"]) == (
        "bounced",
        250,
        "5.1.1",
    )
    assert me(owner)["email_bounced"]["status"] == "5.1.1"


def test_a_later_accepted_e_mail_or_a_new_address_clears_the_profile(
    setup: BounceSetup, sink: MailSink
) -> None:
    server = setup.server
    owner = live_sign_up(server)
    first = new_live_visitor(server, owner.widget_key).say("Hello?")["conversation_id"]
    (caught,) = sink.wait_for(1, to=owner.email)
    assert send(setup.inbound_port, caught.mail_from, report(caught.mail_from, owner.email)) == 250
    assert delivery_to(owner, first)["state"] == "bounced"
    assert me(owner)["email_bounced"] is not None

    # Nobody got that notification: the owner is alerted, by e-mail too (the only way here).
    sink.wait_for(2, to=owner.email)
    # The mailbox works again: an e-mail accepted after the bounce, and not returned.
    second = new_live_visitor(server, owner.widget_key).say("Anyone?")["conversation_id"]
    sink.wait_for(3, to=owner.email)
    assert delivery_to(owner, second)["state"] == "sent"
    assert me(owner)["email_bounced"] is None

    # It bounces again; then the agent changes the address: the new one has no bounce.
    (_, alerted, again) = sink.to(owner.email)
    assert alerted.message["Subject"] == "A visitor of Shop reached nobody"
    assert send(setup.inbound_port, again.mail_from, report(again.mail_from, owner.email)) == 250
    assert me(owner)["email_bounced"]["status"] == "5.1.1"
    changed = owner.call(
        "PATCH",
        "/me",
        {"email": f"new-{owner.email}", "current_password": "owner-password"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["email_bounced"] is None
