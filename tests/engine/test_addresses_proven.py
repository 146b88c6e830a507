"""Addresses proven before they are mailed: a new owner's, an invited agent's and a changed
address get no notification until the link sent to them is followed, and an account whose
owner has proven nothing can make only a few e-mails (docs/security.md)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from frontdesk.cli import main
from frontdesk.security import PasswordHasher
from frontdesk.store.database import Database
from frontdesk.store.models import OutboxEmail, OutboxKind
from tests.mailsink import Caught, MailSink
from tests.support import (
    Agent,
    LiveServer,
    engine_settings,
    live_sign_up,
    new_live_visitor,
    serving,
    settled,
)

LINK = re.compile(r"https?://\S+/app#/confirm\?token=(\S+)")


@pytest.fixture
def proving_server(
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
        confirm_addresses=True,
        unconfirmed_account_emails=3,
        confirmation_resend_after=60,
    )
    with serving(settings, database, passwords) as server:
        yield server


def link_token(caught: Caught) -> str:
    found = LINK.search(caught.text)
    assert found is not None, caught.text
    return found.group(1)


def confirm(server: LiveServer, token: str) -> dict[str, object]:
    with server.http() as http:
        response = http.post("/auth/confirm-address", json={"token": token})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def is_confirmed(agent: Agent) -> bool:
    return bool(agent.call("GET", "/me").json()["email_confirmed"])


def test_an_unconfirmed_invitee_gets_no_notification_until_the_invitation_is_followed(
    proving_server: LiveServer, sink: MailSink
) -> None:
    owner = live_sign_up(proving_server)
    (confirmation,) = sink.wait_for(1, to=owner.email)
    assert confirmation.message["Subject"] == "Confirm your e-mail address for Frontdesk"
    assert not is_confirmed(owner)

    # Nobody of the scope has proven an address: the decision says so, nobody is mailed.
    visitor = new_live_visitor(proving_server, owner.widget_key, name="Anna")
    first = visitor.say("Hello?")["conversation_id"]
    (unproven,) = settled(owner, first)
    assert (unproven["state"], unproven["reason"]) == ("suppressed", "unconfirmed")
    assert unproven["not_recipients"] == [{"agent_id": owner.agent_id, "reason": "unconfirmed"}]

    assert confirm(proving_server, link_token(confirmation)) == {
        "email": owner.email,
        "email_confirmed": True,
    }
    assert is_confirmed(owner)
    invitee = owner.invite(name="Ivan")
    (invitation,) = sink.wait_for(1, to=invitee.email)
    assert invitation.message["Subject"] == "Your invitation to answer chats on Frontdesk"
    assert 'Somebody who calls themselves "Olga"' in invitation.text
    assert 'as an agent of "Shop"' in invitation.text
    assert not is_confirmed(invitee)

    second = new_live_visitor(proving_server, owner.widget_key, name="Ben").say("Hi")
    (decided,) = settled(owner, second["conversation_id"])
    assert decided["state"] == "sent"
    assert [r["agent_id"] for r in decided["recipients"]] == [owner.agent_id]
    assert decided["not_recipients"] == [{"agent_id": invitee.agent_id, "reason": "unconfirmed"}]
    sink.wait_for(2, to=owner.email)
    assert sink.to(invitee.email) == [invitation]
    told = owner.call(
        "GET",
        f"/notifications?conversation_id={second['conversation_id']}&agent_id={invitee.agent_id}",
    ).json()["notifications"][0]["for_agent"]["text"]
    assert "you had not confirmed your e-mail address" in told

    confirm(proving_server, link_token(invitation))
    third = new_live_visitor(proving_server, owner.widget_key, name="Cleo").say("Still there?")
    (reached,) = settled(owner, third["conversation_id"])
    assert sorted(r["agent_id"] for r in reached["recipients"]) == sorted(
        [owner.agent_id, invitee.agent_id]
    )
    (notified,) = [c for c in sink.wait_for(2, to=invitee.email) if c is not invitation]
    assert "Cleo" in str(notified.message["Subject"])


def test_a_changed_address_is_unproven_again_and_the_old_link_proves_nothing(
    proving_server: LiveServer, sink: MailSink
) -> None:
    owner = live_sign_up(proving_server)
    (first,) = sink.wait_for(1, to=owner.email)
    confirm(proving_server, link_token(first))
    old_email = owner.email
    new_email = "moved-" + old_email
    changed = owner.call("PATCH", "/me", {"email": new_email, "current_password": "owner-password"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["email_confirmed"] is False
    (second,) = sink.wait_for(1, to=new_email)
    assert second.message["Subject"] == "Confirm your e-mail address for Frontdesk"
    # The old address was proven: it is told what it was changed to.
    (notice,) = [c for c in sink.wait_for(2, to=old_email) if c is not first]
    assert notice.message["Subject"] == "The e-mail address of your Frontdesk login was changed"
    assert new_email in notice.text

    with proving_server.http() as http:
        stale = http.post("/auth/confirm-address", json={"token": link_token(first)})
        forged = http.post("/auth/confirm-address", json={"token": link_token(first) + "x"})
    for refused in (stale, forged):
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "confirmation_invalid"
    assert not is_confirmed(owner)
    confirm(proving_server, link_token(second))
    assert is_confirmed(owner)


def test_an_unproven_old_address_is_told_nothing(
    proving_server: LiveServer, sink: MailSink
) -> None:
    owner = live_sign_up(proving_server)
    sink.wait_for(1, to=owner.email)
    new_email = "moved-" + owner.email
    changed = owner.call("PATCH", "/me", {"email": new_email, "current_password": "owner-password"})
    assert changed.status_code == 200, changed.text
    sink.wait_for(1, to=new_email)
    # The confirmation link was the only e-mail the unproven address was ever given.
    with proving_server.runtime.database.read() as session:
        kinds = session.execute(
            select(OutboxEmail.email, OutboxEmail.kind)
            .where(OutboxEmail.agent_id == owner.agent_id)
            .order_by(OutboxEmail.id)
        ).all()
    assert [tuple(k) for k in kinds] == [
        (owner.email, OutboxKind.CONFIRM_ADDRESS),
        (new_email, OutboxKind.CONFIRM_ADDRESS),
    ]


def test_an_account_nobody_proved_makes_few_e_mails_and_resends_wait(
    proving_server: LiveServer, sink: MailSink
) -> None:
    owner = live_sign_up(proving_server)  # e-mail 1 of 3: the owner's confirmation
    sink.wait_for(1, to=owner.email)
    again = owner.call("POST", "/me/confirmation")
    assert again.status_code == 429
    assert again.json()["error"]["code"] == "confirmation_sent_recently"
    assert int(again.headers["Retry-After"]) >= 59
    first = owner.invite()  # 2
    second = owner.invite()  # 3
    refused = owner.call(
        "POST",
        "/agents",
        {"name": "X", "email": "victim@example.com", "password": "x-9-steep-oolong"},
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "owner_unconfirmed"
    listed = owner.call("GET", "/agents").json()
    assert "victim@example.com" not in [a["email"] for a in listed]  # nothing was written
    assert len(sink.wait_for(3, to=(owner.email, first.email, second.email))) == 3
    assert sink.to("victim@example.com") == []

    # Once the owner proves the address, the account is no longer held to the cap.
    (confirmation,) = sink.to(owner.email)
    confirm(proving_server, link_token(confirmation))
    invited = owner.invite()
    sink.wait_for(1, to=invited.email)
    assert owner.call("POST", "/me/confirmation").json()["error"]["code"] == "already_confirmed"


def test_the_operator_vouches_for_an_address_from_the_cli(
    proving_server: LiveServer, sink: MailSink, database_url: str, tmp_path: Path
) -> None:
    owner = live_sign_up(proving_server)
    assert not is_confirmed(owner)
    env = {"FRONTDESK_DATABASE_URL": database_url, "FRONTDESK_DATA_DIR": str(tmp_path)}
    done = CliRunner().invoke(
        main, ["admin", "confirm-address", "--email", owner.email.upper()], env=env
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == {
        "agent_id": owner.agent_id,
        "email": owner.email,
        "email_confirmed": True,
    }
    assert is_confirmed(owner)
    unknown = CliRunner().invoke(
        main, ["admin", "confirm-address", "--email", "nobody@example.com"], env=env
    )
    assert unknown.exit_code != 0
    assert "No agent has the address nobody@example.com" in unknown.output
