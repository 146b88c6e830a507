"""The bounce endpoint as an administrator runs it: inside ``frontdesk serve`` when
``FRONTDESK_INBOUND_PORT`` is set, or alone as ``frontdesk inbound``; a DSN sent to the
return path the built-in catcher saw makes ``frontdesk explain`` say the e-mail bounced."""

from __future__ import annotations

import mailbox
import select
import signal
import smtplib
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.support import (
    Server,
    eventually,
    free_port,
    frontdesk_env,
    report,
    run_frontdesk,
    send,
    unique_email,
)

pytestmark = pytest.mark.slow


def test_inbound_needs_a_port_and_refuses_strangers(
    fresh_database_url: str, tmp_path: Path
) -> None:
    env = frontdesk_env(fresh_database_url, tmp_path / "data")
    refused = run_frontdesk("inbound", env=env)
    assert refused.returncode != 0
    assert "needs a port" in refused.stderr

    env |= {"FRONTDESK_MAIL_FROM": "Help <help@shop.example>"}
    process = subprocess.Popen(
        [sys.executable, "-m", "frontdesk", "inbound", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "frontdesk inbound said nothing"
        line = process.stdout.readline()
        assert "for help+…@shop.example" in line, line
        port = int(line.split("127.0.0.1:")[1].split()[0])
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.ehlo("mx.example.net")
            client.mail("<>")
            assert client.rcpt("someone@example.net")[0] == 550
            assert client.rcpt("help+1-0123456789@shop.example")[0] == 550
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_runs_the_endpoint_and_explain_tells_the_bounce(
    fresh_database_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    inbound_port = free_port()
    env = frontdesk_env(fresh_database_url, data) | {
        "FRONTDESK_OFFLINE_EMAIL_DELAY": "0.3",
        "FRONTDESK_MAIL_FROM": "Tea Shop <help@shop.example>",
        "FRONTDESK_INBOUND_PORT": str(inbound_port),
    }
    server = Server(env, tmp_path / "serve.log")
    try:
        server.wait_until_up()
        with httpx.Client(base_url=f"{server.base_url}/api/v1", timeout=10) as http:
            owner = {"name": "Olga", "email": unique_email("owner"), "password": "pw-12345678"}
            signed = http.post("/accounts", json={"name": "Tea Shop", "owner": owner}).json()
            visitor = http.post(f"/widget/{signed['widget_key']}/visitors", json={}).json()
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
            path = str(message["Return-Path"]).strip("<>")
            assert path.startswith("help+")
            assert path.endswith("@shop.example")

            assert send(inbound_port, path, report(path, owner["email"])) == 250

            me = http.get("/me", headers={"Authorization": f"Bearer {signed['token']}"}).json()
            assert me["email_bounced"]["status"] == "5.1.1"
    finally:
        server.stop()
    assert "receiving bounces for help+…@shop.example" in server.log_path.read_text()

    explained = run_frontdesk("explain", str(conversation_id), env=env)
    assert explained.returncode == 0, explained.stderr
    assert "offline_message: failed" in explained.stdout
    assert f"<{owner['email']}>: bounced after 1 attempt(s)" in explained.stdout
    assert ", then bounced at " in explained.stdout
    assert ": 5.1.1 550 5.1.1 <" in explained.stdout
