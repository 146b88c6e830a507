"""A reply e-mail survives a SIGKILL of the process receiving it (docs/reply-by-email.md):
the inbound endpoint answers 250 only once the reply is committed, so a kill while it is
being stored leaves the sending mail server without a 250, and it sends again; and an
e-mail sent again after it was stored (its 250 lost) is posted once, by its Message-ID.

The kill must land between DATA and the commit: the test holds a lock on the table the
endpoint writes first, so the endpoint waits there (PostgreSQL says so in
``pg_stat_activity``) when the SIGKILL comes."""

from __future__ import annotations

import smtplib
import threading
import uuid
from pathlib import Path

import httpx2 as httpx
import psycopg
import pytest

from tests.integration.test_crash_safety import crash_env
from tests.mailsink import mail_sink
from tests.support import Server, eventually, free_port, unique_email

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _reply(sender: str, to: str, message_id: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: Re: New message\r\n"
        f"Message-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "We ship to Brno, yes.\r\n\r\nOn Sun, Dec 6, 2026 at 10:00 AM Frontdesk wrote:\r\n"
        "> Do you ship to Brno?\r\n"
    ).encode()


def _send(port: int, sender: str, to: str, raw: bytes) -> tuple[int, bytes] | str:
    """DATA's reply, or how the connection ended without one."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.ehlo("mx.example.net")
            client.mail(sender)
            code, text = client.rcpt(to)
            if code != 250:
                return code, text
            return client.data(raw)
    except (smtplib.SMTPServerDisconnected, ConnectionError) as lost:
        return type(lost).__name__


def test_a_reply_is_stored_once_across_a_sigkill_before_its_commit(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    with mail_sink() as sink:
        inbound_port = free_port()
        env = crash_env(fresh_postgres_url, tmp_path / "data", sink.url) | {
            "FRONTDESK_INBOUND_PORT": str(inbound_port),
            "FRONTDESK_BOUNCE_ADDRESS": "bounces@shop.example",
            "FRONTDESK_OFFLINE_EMAIL_DELAY": "0.3",
        }
        first = Server(env, tmp_path / "serve.log")
        first.wait_until_up()
        with httpx.Client(base_url=f"{first.base_url}/api/v1", timeout=30) as http:
            owner = {"name": "Olga", "email": unique_email("owner"), "password": "tea-pot-42!"}
            signed = http.post("/accounts", json={"name": "Shop", "owner": owner}).json()
            headers = {"Authorization": f"Bearer {signed['token']}"}
            visitor = http.post(f"/widget/{signed['widget_key']}/visitors", json={}).json()
            posted = http.post(
                f"/widget/{signed['widget_key']}/messages",
                json={"text": "Do you ship to Brno?"},
                headers={"Authorization": f"Bearer {visitor['visitor_token']}"},
            ).json()
        conversation_id = posted["conversation_id"]
        (notification,) = sink.wait_for(1, to=owner["email"])
        address = str(notification.message["Reply-To"])
        raw = _reply(owner["email"], address, f"<{uuid.uuid4().hex}@mail.example.net>")
        database = fresh_postgres_url.replace("postgresql+psycopg://", "postgresql://")

        with psycopg.connect(database) as holder:
            holder.execute("LOCK TABLE inbound_emails IN ACCESS EXCLUSIVE MODE")
            outcome: list[tuple[int, bytes] | str] = []
            sending = threading.Thread(
                target=lambda: outcome.append(_send(inbound_port, owner["email"], address, raw))
            )
            sending.start()

            def waiting_on_the_lock() -> bool:
                with psycopg.connect(database, autocommit=True) as look:
                    row = look.execute(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    ).fetchone()
                return row is not None and row[0] >= 1

            eventually(waiting_on_the_lock, timeout=20, what="the endpoint waiting to store")
            first.kill()
            sending.join(timeout=30)
            holder.rollback()
        (lost,) = outcome
        assert isinstance(lost, str), f"the sender got an answer before the commit: {lost!r}"

        second = Server(env, tmp_path / "serve-2.log")
        try:
            second.wait_until_up()
            # The sending server tries again; then once more, as if that 250 had been lost.
            for _ in range(2):
                answer = _send(inbound_port, owner["email"], address, raw)
                assert not isinstance(answer, str), answer
                assert answer[0] == 250, answer
            with httpx.Client(base_url=f"{second.base_url}/api/v1", timeout=30) as http:
                found = http.get(f"/conversations/{conversation_id}", headers=headers).json()
                log = http.get("/inbound", headers=headers).json()
        finally:
            second.stop()
        answers = [m["text"] for m in found["messages"] if m["author"] == "agent"]
        assert answers == ["We ship to Brno, yes."]
        assert [(e["outcome"], e["via"]) for e in log] == [("posted", "smtp")]
