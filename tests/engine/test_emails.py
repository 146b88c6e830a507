"""The e-mails as a real SMTP server receives them from the running product: threading,
languages and time zones, one-click unsubscribe over HTTP, and a DKIM signature that dkimpy
verifies."""

from __future__ import annotations

from pathlib import Path

import dkim
import httpx2 as httpx

from frontdesk.mail.check.dkim_key import dkim_public_key, new_dkim_private_key
from frontdesk.security import PasswordHasher
from frontdesk.store.database import Database
from tests.mail.dkim_dns import dns_answering
from tests.mailsink import MailSink
from tests.support import (
    LiveServer,
    engine_settings,
    live_sign_up,
    new_live_visitor,
    serving,
    settled,
)


def test_the_e_mails_of_one_conversation_thread_together_and_others_do_not(
    engine_server: LiveServer, sink: MailSink
) -> None:
    owner = live_sign_up(engine_server)
    visitor = new_live_visitor(engine_server, owner.widget_key, name="Anna")
    conversation_id = visitor.say("Hello?")["conversation_id"]
    (first,) = sink.wait_for(1, to=owner.email)
    visitor.say("Anyone there?")  # the first was sent: this opens a second notification
    second = sink.wait_for(2, to=owner.email)[1]
    other = new_live_visitor(engine_server, owner.widget_key, name="Ben")
    other.say("Hi")
    third = sink.wait_for(3, to=owner.email)[2]

    thread = f"<frontdesk.conversation.{conversation_id}@localhost>"
    for caught in (first, second, third):
        parts = [p.get_content_type() for p in caught.message.iter_parts()]
        assert caught.message.get_content_type() == "multipart/alternative"
        assert parts == ["text/plain", "text/html"]
        assert caught.message["Auto-Submitted"] == "auto-generated"
        assert (
            caught.message["List-Id"]
            == f'"Shop" <account-{owner.account_id}.notifications.localhost>'
        )
    for caught in (first, second):
        assert caught.message["In-Reply-To"] == thread
        assert caught.message["References"] == thread
    assert first.message["Message-ID"] != second.message["Message-ID"]
    assert third.message["References"] != thread
    assert "Ben" in str(third.message["Subject"])
    assert len(settled(owner, conversation_id, count=2)) == 2


def test_each_agent_reads_it_in_their_language_and_time_zone(
    engine_server: LiveServer, sink: MailSink
) -> None:
    owner = live_sign_up(engine_server)
    german = owner.invite(locale="de", time_zone="Europe/Berlin")
    czech = owner.invite(locale="cs", time_zone="Asia/Tokyo")
    visitor = new_live_visitor(engine_server, owner.widget_key, name="Anna")
    visitor.say("Haben Sie das?")
    sink.wait_for(1, to=german.email)
    sink.wait_for(1, to=czech.email)
    (english,) = sink.wait_for(1, to=owner.email)
    (de,) = sink.to(german.email)
    (cs,) = sink.to(czech.email)

    assert english.message["Subject"] == 'New message from "Anna" on Shop'
    assert de.message["Subject"] == "Neue Nachricht von \u201eAnna\u201c auf Shop"
    assert cs.message["Subject"] == "Nová zpráva od \u201eAnna\u201c na Shop"
    assert "Unterhaltung öffnen" in de.text
    assert "Otevřít konverzaci" in cs.text
    assert "Zeitzone: Mitteleuropäische Zeit (Europe/Berlin)." in de.text
    assert "(Asia/Tokyo)" in cs.text
    assert "(UTC)" not in english.text
    assert "Times are in UTC." in english.text


def test_one_click_unsubscribe_switches_that_kind_off_and_the_profile_switches_it_on(
    engine_server: LiveServer, sink: MailSink
) -> None:
    owner = live_sign_up(engine_server)
    colleague = owner.invite()
    visitor = new_live_visitor(engine_server, owner.widget_key)
    conversation_id = visitor.say("Hello?")["conversation_id"]
    (caught,) = sink.wait_for(1, to=colleague.email)
    assert caught.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = str(caught.message["List-Unsubscribe"]).strip("<>")
    assert link.startswith(f"{engine_server.runtime.settings.public_url}/api/v1/unsubscribe/")
    local_link = link.replace(engine_server.runtime.settings.public_url, engine_server.base_url)

    with httpx.Client(timeout=10) as http:
        # Opening the link (a mail scanner does) asks, and changes nothing.
        page = http.get(local_link)
        assert page.status_code == 200
        assert colleague.email in page.text
        assert 'method="post"' in page.text
        assert colleague.call("GET", "/me/notifications").json()["offline_message_email"]
        # What a mail client sends (RFC 8058): a POST with this body and no credentials.
        clicked = http.post(
            local_link,
            content="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert clicked.status_code == 200
        assert "You are unsubscribed" in clicked.text
        assert http.post(local_link).status_code == 200  # twice changes nothing
        forged = http.post(local_link[:-3] + "abc")
        assert forged.status_code == 404
        assert forged.json()["error"]["code"] == "unsubscribe_link_invalid"

    choice = colleague.call("GET", "/me/notifications").json()
    assert choice == {
        "offline_message_email": False,
        "missed_conversation_email": True,
        "offline_message_push": True,  # an e-mail's link switches off that e-mail only
        "missed_conversation_push": True,
        "unserved_conversation_push": True,
    }
    assert owner.call("GET", "/me/notifications").json()["offline_message_email"]

    visitor.say("Still there?")
    sink.wait_for(2, to=owner.email)
    found = settled(owner, conversation_id, count=2)
    assert [r["agent_id"] for r in found[-1]["recipients"]] == [owner.agent_id]
    assert {"agent_id": colleague.agent_id, "reason": "opted_out"} in found[-1]["not_recipients"]
    assert len(sink.to(colleague.email)) == 1

    turned_on = colleague.call("PATCH", "/me/notifications", {"offline_message_email": True})
    assert turned_on.json()["offline_message_email"] is True


def test_with_a_key_configured_every_e_mail_carries_a_dkim_signature_that_verifies(
    database: Database,
    database_url: str,
    passwords: PasswordHasher,
    tmp_path: Path,
    sink: MailSink,
) -> None:
    key = new_dkim_private_key()  # what `frontdesk mail dkim-key` writes
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(key)
    settings = engine_settings(
        database_url,
        tmp_path,
        sink.url,
        mail_from="Shop <notify@shop.example>",
        dkim_domain="shop.example",
        dkim_selector="fd2026",
        dkim_private_key_file=key_file,
    )
    with serving(settings, database, passwords) as server:
        owner = live_sign_up(server)
        visitor = new_live_visitor(server, owner.widget_key, name="Anna Nováková")
        visitor.say("Hello <b>there</b>")
        (caught,) = sink.wait_for(1, to=owner.email)

    record = dkim_public_key(key).record_value()  # what `frontdesk mail check` says to publish
    with dns_answering({"fd2026._domainkey.shop.example.": record}) as dnsfunc:
        assert dkim.verify(caught.raw, dnsfunc=dnsfunc)
        tampered = caught.raw.replace(b"Subject: New", b"Subject: Old")
        assert not dkim.verify(tampered, dnsfunc=dnsfunc)
    signature = str(caught.message["DKIM-Signature"])
    signed = {h.strip().lower() for h in signature.split("h=")[1].split(";")[0].split(":")}
    wanted = {"from", "subject", "date", "message-id", "list-unsubscribe"}
    assert wanted | {"list-unsubscribe-post"} <= signed
    assert "d=shop.example" in signature
    assert "s=fd2026" in signature
    assert "Nováková" in str(caught.message["Subject"])
