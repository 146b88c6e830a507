"""The embedded default as a user meets it: ``frontdesk serve`` with no mail server catches
the notification e-mail itself and says where it is; ``frontdesk explain`` tells why."""

from __future__ import annotations

import json
import mailbox
from email import message_from_bytes, policy
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.support import Server, eventually, frontdesk_env, run_frontdesk, unique_email

pytestmark = pytest.mark.slow


def test_serve_catches_the_e_mail_without_a_mail_server_and_explain_tells_why(
    fresh_database_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = frontdesk_env(fresh_database_url, data) | {"FRONTDESK_OFFLINE_EMAIL_DELAY": "0.3"}
    server = Server(env, tmp_path / "serve.log")
    try:
        server.wait_until_up()
        with httpx.Client(base_url=f"{server.base_url}/api/v1", timeout=10) as http:
            owner = {"name": "Olga", "email": unique_email("owner"), "password": "pw-12345678"}
            signed = http.post("/accounts", json={"name": "Tea Shop", "owner": owner}).json()
            visitor = http.post(
                f"/widget/{signed['widget_key']}/visitors", json={"name": "Vera"}
            ).json()
            conversation_id = http.post(
                f"/widget/{signed['widget_key']}/messages",
                json={"text": "Do you ship to Brno?"},
                headers={"Authorization": f"Bearer {visitor['visitor_token']}"},
            ).json()["conversation_id"]
        box = data / "mail"

        def delivered() -> bool:
            arrived = (box / "new").exists() and any((box / "new").iterdir())
            assert arrived, server.log_path.read_text()
            return arrived

        eventually(delivered, timeout=15, what="the e-mail in the maildir")
        # The bytes as received (a MaildirMessage's as_bytes() would fold them again).
        (key,) = mailbox.Maildir(box, create=False).keys()
        kept = mailbox.Maildir(box, create=False).get_bytes(key)
        message = message_from_bytes(kept, policy=policy.default)
        assert message["To"].addresses[0].addr_spec == owner["email"]
        assert "Vera" in message["Subject"]
        assert message["Delivered-To"] == owner["email"]
        # Without FRONTDESK_PUBLIC_URL the links lead to where `serve` listens.
        unsubscribe = str(message["List-Unsubscribe"])
        assert unsubscribe.startswith(f"<{server.base_url}/api/v1/unsubscribe/")
        with httpx.Client(timeout=10) as http:
            assert http.get(unsubscribe.strip("<>")).status_code == 200
            shown = http.get(f"{server.base_url}/dev/mail")
            assert "New message from &#34;Vera&#34; on Tea Shop" in shown.text
    finally:
        server.stop()
    log = server.log_path.read_text()
    assert "built-in catcher" in log
    assert str(box) in log

    explained = run_frontdesk("explain", str(conversation_id), env=env)
    assert explained.returncode == 0, explained.stderr
    assert "offline_message: sent" in explained.stdout
    assert f"<{owner['email']}>: sent after 1 attempt(s)" in explained.stdout
    as_json = run_frontdesk("explain", str(conversation_id), "--json", env=env)
    (notification,) = json.loads(as_json.stdout)["notifications"]
    assert notification["state"] == "sent"
    assert notification["recipients"][0]["smtp_code"] == 250

    missing = run_frontdesk("explain", "999999", env=env)
    assert missing.returncode == 1
    assert "There is no conversation 999999" in missing.stderr
