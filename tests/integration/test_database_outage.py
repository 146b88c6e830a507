"""The database goes away while ``frontdesk serve`` is working, and comes back: a private
PostgreSQL cluster (tests/support/pgcluster.py) stopped at once (``pg_ctl -m immediate``,
every connection cut) and started again, never the machine's own server.

- An e-mail the mail server took while the database was away is recorded once it is back,
  not sent a second time when its lease runs out.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import psycopg
import pytest

from tests.mailsink import mail_sink
from tests.support import Server, eventually, frontdesk_env, unique_email
from tests.support.pgcluster import PrivateCluster, private_cluster

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# The sink holds each DATA this long before its 250; the database is stopped meanwhile.
HOLD = 1.5
OUTAGE = 3.0


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    with private_cluster() as started:
        yield started


def shop_with_one_offline_message(base_url: str) -> str:
    """An account whose owner is offline, and a visitor's message: one e-mail falls due.
    The owner's address."""
    with httpx.Client(base_url=f"{base_url}/api/v1", timeout=30) as http:
        owner = {"name": "Olga", "email": unique_email("owner"), "password": "owner-password"}
        signed = http.post("/accounts", json={"name": "Shop", "owner": owner}).json()
        visitor = http.post(f"/widget/{signed['widget_key']}/visitors", json={}).json()
        posted = http.post(
            f"/widget/{signed['widget_key']}/messages",
            json={"text": "Is the teapot in stock?"},
            headers={"Authorization": f"Bearer {visitor['visitor_token']}"},
        )
        assert posted.status_code == 201, posted.text
        return str(owner["email"])


def deliveries(url: str) -> list[tuple[str, int]]:
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT state, attempts FROM deliveries ORDER BY id").fetchall()
    return [(str(state), int(attempts)) for state, attempts in rows]


def test_an_e_mail_sent_while_the_database_is_away_is_recorded_not_sent_again(
    cluster: PrivateCluster, tmp_path: Path
) -> None:
    with mail_sink(data_delay=HOLD) as sink:
        env = frontdesk_env(cluster.url, tmp_path / "data") | {
            "FRONTDESK_SMTP_URL": sink.url,
            "FRONTDESK_OFFLINE_EMAIL_DELAY": "0.5",
            "FRONTDESK_SMTP_TIMEOUT": "3",
            # Longer than the send and the outage together: the worker that sent the e-mail
            # still holds it when the database is back. Before, its outcome was dropped, and
            # the e-mail went again once the lease ran out.
            "FRONTDESK_DELIVERY_LEASE": "8",
        }
        server = Server(env, tmp_path / "serve.log")
        try:
            server.wait_until_up()
            owner = shop_with_one_offline_message(server.base_url)
            assert sink.handler.in_data.wait(timeout=15), "the e-mail's DATA never came"
            cluster.stop()
            (sent,) = sink.wait_for(1, timeout=10)
            time.sleep(OUTAGE - HOLD)  # the database stays away after the 250
            cluster.start()

            def recorded() -> list[tuple[str, int]]:
                found = deliveries(cluster.url)
                assert found == [("sent", 1)], found
                return found

            eventually(recorded, timeout=15, what="the delivery recorded as sent")
            # Recorded as sent, it is never claimed again: only the one e-mail, ever.
            assert [c.rcpt_to for c in sink.caught] == [owner]
            assert sink.attempts(owner) == 1
            assert sent.message["Message-ID"]
        finally:
            server.stop()
        assert "could not record an e-mail's outcome" in (tmp_path / "serve.log").read_text()
