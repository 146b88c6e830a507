"""Webhook events survive a SIGKILL of the process sending them: events written before the
kill, some of them in flight at the receiver when it lands, all arrive after a restart on
the same database, each with the ``webhook-id`` it had (docs/webhooks.md)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.integration.test_crash_safety import crash_env, running
from tests.mailsink import mail_sink
from tests.support import Server, eventually, unique_email
from tests.webhookreceiver import webhook_receiver

pytestmark = pytest.mark.slow

EVENTS = 6


def test_events_in_flight_when_the_sender_is_killed_arrive_after_a_restart(
    fresh_database_url: str, tmp_path: Path
) -> None:
    with mail_sink() as sink, webhook_receiver() as receiver:
        env = crash_env(fresh_database_url, tmp_path / "data", sink.url) | {
            "FRONTDESK_WEBHOOK_LOCAL_HOSTS": "127.0.0.1",
            "FRONTDESK_WEBHOOK_TIMEOUT": "1",  # a lease of 3 s
            "FRONTDESK_WEBHOOK_RETRY_FIRST": "0.2",
        }
        first = Server(env, tmp_path / "serve.log")
        first.wait_until_up()
        receiver.hold.clear()  # every request waits at the receiver until released
        with httpx.Client(base_url=f"{first.base_url}/api/v1", timeout=30) as http:
            owner = {"name": "Olga", "email": unique_email("owner"), "password": "tea-pot-42!"}
            signed = http.post("/accounts", json={"name": "Shop", "owner": owner}).json()
            headers = {"Authorization": f"Bearer {signed['token']}"}
            made = http.post(
                "/webhooks",
                json={"url": f"{receiver.url}/crm", "events": ["message.created"]},
                headers=headers,
            ).json()
            receiver.secrets["/crm"] = made["secret"]
            key = signed["widget_key"]
            for n in range(EVENTS):
                visitor = http.post(f"/widget/{key}/visitors", json={"name": f"V{n}"}).json()
                said = http.post(
                    f"/widget/{key}/messages",
                    json={"text": f"Question {n}"},
                    headers={"Authorization": f"Bearer {visitor['visitor_token']}"},
                )
                assert said.status_code == 201, said.text
        assert receiver.arrived.wait(timeout=30)
        time.sleep(0.3)  # the rest of the batch in flight too
        first.kill()
        first.process.wait(timeout=10)
        in_flight = {r.msg_id for r in receiver.at("/crm")}
        assert in_flight  # killed while these were at the receiver, unanswered
        receiver.hold.set()

        with (
            running(env, tmp_path / "serve.log") as second,
            httpx.Client(base_url=f"{second.base_url}/api/v1", timeout=30) as http,
        ):

            def all_delivered() -> list[dict[str, object]]:
                logged: list[dict[str, object]] = http.get(
                    f"/webhooks/{made['id']}/deliveries", headers=headers
                ).json()
                assert len(logged) == EVENTS, logged
                assert {d["state"] for d in logged} == {"delivered"}, logged
                return logged

            logged = eventually(all_delivered, timeout=30, what="every event delivered")

        ids = {str(d["msg_id"]) for d in logged}
        received = receiver.at("/crm")
        assert all(r.verified for r in received)
        assert {r.msg_id for r in received} == ids  # nothing lost, no event made anew
        # Those in flight were never answered to the killed process: sent again, same ids.
        for msg_id in in_flight:
            assert sum(r.msg_id == msg_id for r in received) >= 2
        texts = sorted(r.json["data"]["message"]["text"] for r in received if r.msg_id in ids)
        assert sorted(set(texts)) == [f"Question {n}" for n in range(EVENTS)]
