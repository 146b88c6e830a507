"""Can I be reached? End to end through HTTP, the running engine and a real SMTP server on
loopback: a changed address gets its test e-mail and the old one the notice, a 550 for the
new address and a bounce of a notification show in the checklist with the server's words,
and a test notification's e-mail is seen accepted (docs/reachability.md)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from frontdesk.security import PasswordHasher
from frontdesk.store.database import Database
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
    serving,
)

BOUNCE_ADDRESS = "bounces@shop.example"


@dataclass
class Reachable:
    server: LiveServer
    inbound_port: int


@pytest.fixture
def reachable(
    database: Database,
    database_url: str,
    passwords: PasswordHasher,
    tmp_path: Path,
    sink: MailSink,
) -> Iterator[Reachable]:
    """The engine with its bounce endpoint, so that DSNs can come back."""
    port = free_port()
    settings = engine_settings(
        database_url, tmp_path, sink.url, inbound_port=port, bounce_address=BOUNCE_ADDRESS
    )
    with serving(settings, database, passwords) as server:
        yield Reachable(server, port)


def items(agent: Agent) -> dict[str, dict[str, Any]]:
    response = agent.call("GET", "/me/reachability")
    assert response.status_code == 200, response.text
    return {i["key"]: i for i in response.json()["items"]}


def change_address(agent: Agent, new_email: str) -> None:
    body = {"email": new_email, "current_password": "owner-password"}
    changed = agent.call("PATCH", "/me", body)
    assert changed.status_code == 200, changed.text
    assert changed.json()["email"] == new_email


def last_email_settled(agent: Agent) -> dict[str, Any]:
    """The checklist's last e-mail once the mail server has answered for it."""

    def answered() -> dict[str, Any]:
        item = items(agent)["last_email"]
        email = item["facts"]["email"]
        assert email is not None, item
        assert email["state"] not in ("pending", "deferred"), email
        return item

    return eventually(answered, timeout=10, interval=0.05, what="the last e-mail answered")


def test_a_changed_address_gets_a_test_and_the_old_one_the_notice(
    reachable: Reachable, sink: MailSink
) -> None:
    owner = live_sign_up(reachable.server)
    old_email, new_email = owner.email, "moved-" + owner.email

    change_address(owner, new_email)

    (test,) = sink.wait_for(1, to=new_email)
    assert test.message["Subject"] == "Your Frontdesk notifications come to this address now"
    assert "there is nothing to do" in test.text
    (notice,) = sink.wait_for(1, to=old_email)
    assert notice.message["Subject"] == "The e-mail address of your Frontdesk login was changed"
    said = " ".join(notice.text.split())
    assert f"was changed from this address to {new_email}." in said
    assert "If it was not you, somebody else knows your password." in said
    assert "token" not in notice.text
    assert "/confirm" not in notice.text
    # Notifications and the login moved at once: the new address is the one in use.
    found = items(owner)
    assert found["address_confirmed"]["ok"] is True
    assert found["address_confirmed"]["facts"]["email"] == new_email
    last = last_email_settled(owner)
    assert last["ok"] is True
    assert last["facts"]["email"]["about"] == "address_test"
    assert last["facts"]["email"]["address"] == new_email
    assert (last["facts"]["email"]["state"], last["facts"]["email"]["smtp_code"]) == ("sent", 250)
    visitor = new_live_visitor(reachable.server, owner.widget_key, name="Vera")
    visitor.say("Is anybody there?")
    notified = sink.wait_for(2, to=new_email)
    assert "Vera" in str(notified[1].message["Subject"])
    assert len(sink.to(old_email)) == 1
    with reachable.server.http() as http:
        login = http.post("/auth/login", json={"email": new_email, "password": "owner-password"})
    assert login.status_code == 200, login.text


def test_a_550_for_the_new_address_shows_in_the_checklist(
    reachable: Reachable, sink: MailSink
) -> None:
    owner = live_sign_up(reachable.server)
    typo = "olga@shop.exmaple.com"
    sink.script(typo, "550 5.1.1 <olga@shop.exmaple.com>: Recipient address rejected")

    change_address(owner, typo)

    last = last_email_settled(owner)
    assert (last["ok"], last["problem"]) == (False, "last_email_rejected")
    email = last["facts"]["email"]
    assert (email["about"], email["address"], email["state"]) == ("address_test", typo, "rejected")
    assert email["smtp_code"] == 550
    assert "Recipient address rejected" in email["smtp_text"]
    assert sink.to(typo) == []
    sink.wait_for(1, to=owner.email)  # the old address was told all the same


def test_a_changed_address_whose_test_bounces_shows_as_bouncing(
    reachable: Reachable, sink: MailSink
) -> None:
    owner = live_sign_up(reachable.server)
    full = "moved-" + owner.email
    change_address(owner, full)
    (test,) = sink.wait_for(1, to=full)
    # The test has a return path of its own: the DSN that comes back names it.
    assert test.mail_from.startswith("bounces+o"), test.mail_from
    assert last_email_settled(owner)["ok"] is True

    dsn = report(test.mail_from, full, status="5.2.2")
    assert send(reachable.inbound_port, test.mail_from, dsn) == 250

    def bounced() -> dict[str, dict[str, Any]]:
        found = items(owner)
        assert found["address_not_bouncing"]["ok"] is False, found["address_not_bouncing"]
        return found

    found = eventually(bounced, timeout=10, what="the test's bounce in the checklist")
    bounce = found["address_not_bouncing"]["facts"]["bounce"]
    assert (bounce["status"], bounce["bounce_text"]) == ("5.2.2", DIAGNOSTIC.format(rcpt=full))
    email = found["last_email"]["facts"]["email"]
    assert (email["about"], email["state"], email["bounce_status"]) == (
        "address_test",
        "bounced",
        "5.2.2",
    )
    assert found["last_email"]["problem"] == "last_email_bounced"
    profile = owner.call("GET", "/me").json()["email_bounced"]
    assert (profile["email"], profile["status"]) == (full, "5.2.2")
    # A forged outbox return path is refused at RCPT, and the same report twice is one bounce.
    local, _, domain = test.mail_from.partition("@")
    row, _, mac = local.partition("+")[2].partition("-")
    forged = f"bounces+{row}-{'1' if mac[0] == '0' else '0'}{mac[1:]}@{domain}"
    assert send(reachable.inbound_port, forged, report(forged, full)) == 550
    assert send(reachable.inbound_port, test.mail_from, dsn) == 250
    assert items(owner)["address_not_bouncing"]["facts"]["bounce"]["at"] == bounce["at"]
    # An e-mail accepted after the bounce says the mailbox has room again.
    assert owner.call("POST", "/me/test-notification").status_code == 202
    sink.wait_for(2, to=full)
    eventually(
        lambda: items(owner)["address_not_bouncing"]["ok"] is True,
        timeout=10,
        what="the bounce cleared",
    )


def test_a_bounced_notification_shows_the_address_as_bouncing(
    reachable: Reachable, sink: MailSink
) -> None:
    owner = live_sign_up(reachable.server)
    colleague = owner.invite(name="Ivan")
    visitor = new_live_visitor(reachable.server, owner.widget_key, name="Vera")
    visitor.say("Do you ship to Brno?")
    (caught,) = sink.wait_for(1, to=colleague.email)
    assert last_email_settled(colleague)["facts"]["email"]["about"] == "notification"
    assert items(colleague)["address_not_bouncing"]["ok"] is True

    code = send(reachable.inbound_port, caught.mail_from, report(caught.mail_from, colleague.email))
    assert code == 250

    def bounced() -> dict[str, dict[str, Any]]:
        found = items(colleague)
        assert found["address_not_bouncing"]["ok"] is False, found["address_not_bouncing"]
        return found

    found = eventually(bounced, timeout=10, what="the bounce in the checklist")
    bouncing = found["address_not_bouncing"]
    assert bouncing["problem"] == "address_bouncing"
    assert bouncing["facts"]["bounce"]["status"] == "5.1.1"
    assert bouncing["facts"]["bounce"]["bounce_text"] == DIAGNOSTIC.format(rcpt=colleague.email)
    last = found["last_email"]
    assert (last["ok"], last["problem"]) == (False, "last_email_bounced")
    assert (last["facts"]["email"]["state"], last["facts"]["email"]["smtp_code"]) == (
        "bounced",
        250,
    )
    # The owner sees it in the team's checklist.
    team = owner.call("GET", "/agents/reachability").json()["agents"]
    (listed,) = [a for a in team if a["agent_id"] == colleague.agent_id]
    assert listed["ok"] is False
    assert {i["key"]: i["problem"] for i in listed["items"]}["address_not_bouncing"] == (
        "address_bouncing"
    )


def test_a_test_notification_s_e_mail_is_seen_accepted(
    reachable: Reachable, sink: MailSink
) -> None:
    owner = live_sign_up(reachable.server)

    sent = owner.call("POST", "/me/test-notification")

    assert sent.status_code == 202, sent.text
    (caught,) = sink.wait_for(1, to=owner.email)
    assert caught.message["Subject"] == "A test notification from Frontdesk"

    def answered() -> dict[str, Any]:
        item = items(owner)["test_notification"]
        assert item["facts"]["test"]["email"]["state"] == "sent", item
        return item

    item = eventually(answered, timeout=10, what="the test e-mail accepted")
    assert (item["ok"], item["problem"]) == (True, None)
    assert item["facts"]["test"]["email"]["smtp_code"] == 250
    assert item["facts"]["test"]["pushes"] == []
