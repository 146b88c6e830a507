"""The outbox's e-mails survive a SIGKILL as a delivery does: confirmations and invitations
killed in flight, and digests that were held when the process died, each arrive exactly
once after a restart on the same database."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.integration.test_crash_safety import crash_env, running
from tests.mailsink import mail_sink
from tests.support import Server, unique_email

pytestmark = pytest.mark.slow

PASSWORD = "steep-the-oolong-4"


def test_confirmations_and_invitations_killed_in_flight_arrive_once(
    fresh_database_url: str, tmp_path: Path
) -> None:
    with mail_sink(data_delay=0.3) as sink:
        env = crash_env(fresh_database_url, tmp_path / "data", sink.url) | {
            "FRONTDESK_CONFIRM_ADDRESSES": "true"
        }
        first = Server(env, tmp_path / "serve.log")
        first.wait_until_up()
        owner = unique_email("owner")
        invited = [unique_email() for _ in range(3)]
        with httpx.Client(base_url=f"{first.base_url}/api/v1", timeout=30) as http:
            body = {"name": "Shop", "owner": {"name": "Olga", "email": owner, "password": PASSWORD}}
            signed = http.post("/accounts", json=body).json()
            headers = {"Authorization": f"Bearer {signed['token']}"}
            for email in invited:
                agent = {"name": "Adam", "email": email, "password": PASSWORD}
                assert http.post("/agents", json=agent, headers=headers).status_code == 201
        sink.wait_for(1, timeout=30)
        assert sink.handler.in_data.wait(timeout=5)
        first.kill()
        assert len(sink.caught) < 4
        with running(env, tmp_path / "serve.log"):
            sink.wait_for(4, timeout=30)
            time.sleep(2.5)  # anything doubled would arrive by now (leases are 2 s)
        addresses = [owner, *invited]
        received = Counter(c.rcpt_to for c in sink.caught)
        assert received == dict.fromkeys(addresses, 1)
        subjects = {c.rcpt_to: c.message["Subject"] for c in sink.caught}
        assert subjects[owner] == "Confirm your e-mail address for Frontdesk"
        assert {subjects[e] for e in invited} == {"Your invitation to answer chats on Frontdesk"}


def test_a_digest_held_when_the_process_died_goes_out_once_after_a_restart(
    fresh_database_url: str, tmp_path: Path
) -> None:
    with mail_sink() as sink:
        env = crash_env(fresh_database_url, tmp_path / "data", sink.url) | {
            "FRONTDESK_EMAILS_PER_AGENT_PER_HOUR": "1",
            "FRONTDESK_EMAIL_CAP_WINDOW": "4",
        }
        first = Server(env, tmp_path / "serve.log")
        first.wait_until_up()
        owner = unique_email("owner")
        with httpx.Client(base_url=f"{first.base_url}/api/v1", timeout=30) as http:
            body = {"name": "Shop", "owner": {"name": "Olga", "email": owner, "password": PASSWORD}}
            key = http.post("/accounts", json=body).json()["widget_key"]
            for n in range(3):
                visitor = http.post(f"/widget/{key}/visitors", json={"name": f"V{n}"}).json()
                said = http.post(
                    f"/widget/{key}/messages",
                    json={"text": f"Question {n}"},
                    headers={"Authorization": f"Bearer {visitor['visitor_token']}"},
                )
                assert said.status_code == 201
        sink.wait_for(1, to=owner, timeout=30)  # the first e-mail; the other two are held
        time.sleep(2 * 1.0 + 0.5)  # all three decided (DELAY 1 s), the digest not yet due
        first.kill()
        assert len(sink.to(owner)) == 1
        with running(env, tmp_path / "serve.log"):
            sink.wait_for(2, to=owner, timeout=30)
            time.sleep(2.5)
        caught = sink.to(owner)
        assert len(caught) == 2
        digest = caught[1]
        assert digest.message["Subject"] == "2 notifications held back on Shop"
        assert '"V1"' in digest.text
        assert '"V2"' in digest.text
