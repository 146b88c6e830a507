"""The "can I be reached?" checklist over the HTTP API: the caller's own and the team's (for
owners and admins), "send me a test notification" through a real push service on loopback
(tests/pushservice.py), and the sender domain's DNS as ``frontdesk mail check`` sees it,
from a real DNS server on loopback (tests/dnsserver.py), looked up once and kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from frontdesk.clock import ManualClock
from frontdesk.service.runtime import Runtime
from frontdesk.settings import Settings
from frontdesk.store.models import NotificationTest, OutboxEmail, OutboxKind
from tests.dnsserver import dns_server, silent_dns_server
from tests.pushservice import PushService, push_service
from tests.support import SignedUp, assert_error, eventually

SPF = "v=spf1 ip4:192.0.2.1 -all"
DMARC = "v=DMARC1; p=reject; rua=mailto:dmarc@shop.example"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        password_hashing="fast",
        data_dir=tmp_path,
        run_worker=False,
        push_http_hosts=["127.0.0.1"],
        test_notification_every=30,
    )


@pytest.fixture
def pushes(clock: ManualClock) -> Iterator[PushService]:
    with push_service(clock.now) as service:
        yield service


def checklist(caller: SignedUp) -> dict[str, Any]:
    response = caller.get("/me/reachability")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def items(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["key"]: i for i in body["items"]}


def failing(body: dict[str, Any]) -> dict[str, str]:
    return {i["key"]: i["problem"] for i in body["items"] if i["ok"] is False}


def count(runtime: Runtime, model: type[NotificationTest] | type[OutboxEmail]) -> int:
    with runtime.database.read() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_fresh_agent_is_reachable_by_e_mail_but_has_no_push(account: SignedUp) -> None:
    body = checklist(account)

    assert [i["key"] for i in body["items"]] == [
        "emails_on",
        "address_confirmed",
        "address_not_bouncing",
        "push_subscribed",
        "devices_online",
        "sender_domain",
        "last_email",
        "test_notification",
    ]
    assert (body["agent_id"], body["email"], body["role"]) == (
        account.agent_id,
        account.email,
        "owner",
    )
    assert failing(body) == {"push_subscribed": "no_push_subscription"}
    assert body["ok"] is False
    found = items(body)
    assert found["emails_on"]["facts"]["own"] == {
        "offline_message_email": True,
        "missed_conversation_email": True,
    }
    assert found["address_confirmed"]["facts"]["email"] == account.email
    assert found["address_not_bouncing"]["facts"]["bounce"] is None
    # The built-in catcher keeps every e-mail on this machine: no DNS to judge.
    assert found["sender_domain"]["ok"] is None
    assert found["sender_domain"]["facts"]["state"] == "not_applicable"
    assert found["devices_online"]["facts"] == {"online": False, "devices": []}
    assert (found["last_email"]["ok"], found["last_email"]["facts"]["email"]) == (None, None)
    assert found["test_notification"]["facts"]["test"] is None


def test_an_agent_set_up_to_fail_sees_each_failing_item(account: SignedUp) -> None:
    agent = account.invite()
    assert agent.patch("/me/notifications", {"offline_message_email": False}).status_code == 200
    off = account.patch("/settings/notifications", {"missed_conversation_email": True})
    assert off.status_code == 200, off.text
    online = agent.put("/me/status", {"status": "online", "device_id": "tab-1"})
    assert online.status_code == 200, online.text

    body = checklist(agent)

    assert failing(body) == {
        "emails_on": "own_emails_off",
        "push_subscribed": "no_push_subscription",
    }
    found = items(body)
    assert found["emails_on"]["facts"]["own"]["offline_message_email"] is False
    assert found["emails_on"]["facts"]["account"]["missed_conversation_email"] is True
    devices = found["devices_online"]["facts"]
    assert devices["online"] is True
    assert [(d["device_id"], d["status"], d["online"]) for d in devices["devices"]] == [
        ("tab-1", "online", True)
    ]

    # The account's own switch is told apart: only an owner or admin can change it.
    assert account.patch("/settings/notifications", {"offline_message_email": False}).is_success
    assert failing(checklist(agent))["emails_on"] == "account_emails_off"


def test_the_team_checklist_is_for_owners_and_admins(account: SignedUp) -> None:
    agent = account.invite()
    admin = account.invite(role="admin")
    gone = account.invite()
    assert account.patch(f"/agents/{gone.agent_id}", {"active": False}).status_code == 200

    assert_error(agent.get("/agents/reachability"), 403, "not_a_manager")
    response = admin.get("/agents/reachability")

    assert response.status_code == 200, response.text
    team = response.json()["agents"]
    assert [a["agent_id"] for a in team] == [account.agent_id, agent.agent_id, admin.agent_id]
    assert [a["role"] for a in team] == ["owner", "agent", "admin"]
    assert all(failing(a)["push_subscribed"] == "no_push_subscription" for a in team)
    assert team[1]["items"] == checklist(agent)["items"]


def test_a_test_notification_pushes_now_queues_an_e_mail_and_waits_its_turn(
    account: SignedUp, pushes: PushService, runtime: Runtime, clock: ManualClock
) -> None:
    pushes.vapid_public_key = account.get("/push/vapid-key").json()["public_key"]
    phone, gone = pushes.subscribe(), pushes.subscribe()
    for browser, name in ((phone, "Phone"), (gone, "Old laptop")):
        made = account.post(
            "/me/push-subscriptions", browser.subscription_json() | {"device_name": name}
        )
        assert made.status_code == 201, made.text
    pushes.answer[gone.id] = 410

    sent = account.post("/me/test-notification")

    assert sent.status_code == 202, sent.text
    item = sent.json()
    assert (item["key"], item["ok"], item["problem"]) == (
        "test_notification",
        False,
        "test_push_failed",
    )
    test = item["facts"]["test"]
    assert sorted((p["device_name"], p["result"], p["status"]) for p in test["pushes"]) == [
        ("Old laptop", "gone", 410),
        ("Phone", "sent", 201),
    ]
    (received,) = pushes.received_by(phone)
    assert received.payload["kind"] == "test"
    email = test["email"]
    assert (email["about"], email["address"], email["state"]) == (
        "test_notification",
        account.email,
        "pending",
    )
    assert test["email_skipped"] is None
    # The checklist shows the same test, and the e-mail as the last one to the address.
    found = items(checklist(account))
    assert found["test_notification"] == item
    assert found["last_email"]["facts"]["email"]["about"] == "test_notification"
    assert [s["device_name"] for s in found["push_subscribed"]["facts"]["subscriptions"]] == [
        "Phone"
    ]

    tests, emails = count(runtime, NotificationTest), count(runtime, OutboxEmail)
    clock.advance(29)
    again = account.post("/me/test-notification")
    assert_error(again, 429, "test_notification_sent_recently")
    assert again.headers["Retry-After"] == "1"
    assert (count(runtime, NotificationTest), count(runtime, OutboxEmail)) == (tests, emails)
    assert len(pushes.received_by(phone)) == 1

    clock.advance(1)
    later = account.post("/me/test-notification")
    assert later.status_code == 202, later.text
    assert later.json()["facts"]["test"]["id"] != test["id"]
    assert len(pushes.received_by(phone)) == 2


def test_each_agent_waits_its_own_turn(account: SignedUp, pushes: PushService) -> None:
    agent = account.invite()
    assert account.post("/me/test-notification").status_code == 202
    assert agent.post("/me/test-notification").status_code == 202
    assert_error(account.post("/me/test-notification"), 429, "test_notification_sent_recently")


def test_an_unproven_address_gets_no_test_e_mail(
    client_with_proof: SignedUp, runtime_with_proof: Runtime
) -> None:
    owner = client_with_proof
    outbox = _outbox_kinds(runtime_with_proof, owner.agent_id)

    sent = owner.post("/me/test-notification")

    assert sent.status_code == 202, sent.text
    item = sent.json()
    assert (item["ok"], item["problem"]) == (False, "test_email_skipped")
    assert item["facts"]["test"]["email"] is None
    assert item["facts"]["test"]["email_skipped"] == "address_unconfirmed"
    assert item["facts"]["test"]["pushes"] == []
    assert _outbox_kinds(runtime_with_proof, owner.agent_id) == outbox
    assert failing(checklist(owner)) == {
        "address_confirmed": "address_unconfirmed",
        "push_subscribed": "no_push_subscription",
        "test_notification": "test_email_skipped",
    }


def _outbox_kinds(runtime: Runtime, agent_id: int) -> list[OutboxKind]:
    with runtime.database.read() as session:
        return list(
            session.scalars(
                select(OutboxEmail.kind)
                .where(OutboxEmail.agent_id == agent_id)
                .order_by(OutboxEmail.id)
            )
        )


@pytest.fixture
def runtime_with_proof(runtime: Runtime) -> Runtime:
    return Runtime(
        settings=runtime.settings.model_copy(update={"confirm_addresses": True}),
        database=runtime.database,
        clock=runtime.clock,
        passwords=runtime.passwords,
    )


@pytest.fixture
def client_with_proof(runtime_with_proof: Runtime) -> SignedUp:
    from fastapi.testclient import TestClient

    from frontdesk.api.app import create_app
    from tests.support import sign_up

    return sign_up(TestClient(create_app(runtime_with_proof)))


def test_the_checklist_needs_a_login_and_takes_no_body(account: SignedUp, runtime: Runtime) -> None:
    client = account.client
    tests = count(runtime, NotificationTest)
    for method, path in (
        ("GET", "/api/v1/me/reachability"),
        ("GET", "/api/v1/agents/reachability"),
        ("POST", "/api/v1/me/test-notification"),
    ):
        assert_error(client.request(method, path), 401, "not_authenticated")
        assert_error(
            client.request(method, path, headers={"Authorization": "Bearer nonsense"}),
            401,
            "invalid_token",
        )
    assert_error(account.patch("/me/test-notification", {}), 405, "method_not_allowed")
    assert count(runtime, NotificationTest) == tests


def _relay_runtime(runtime: Runtime, nameserver: str, **settings: Any) -> Runtime:
    return Runtime(
        settings=runtime.settings.model_copy(
            update={
                "smtp_url": "smtp://smtp.shop.example:2525",
                "mail_from": "Frontdesk <notify@shop.example>",
                "mail_check_nameserver": nameserver,
                "mail_check_timeout": 0.5,
                "mail_check_cache_for": 600,
            }
            | settings
        ),
        database=runtime.database,
        clock=runtime.clock,
        passwords=runtime.passwords,
    )


def test_the_sender_domain_is_looked_up_once_and_kept_for_a_while(
    runtime: Runtime, clock: ManualClock
) -> None:
    from frontdesk.service.sender_domain import sender_domain

    zone = {"shop.example": {"TXT": [SPF]}, "_dmarc.shop.example": {"TXT": [DMARC]}}
    with dns_server(zone) as server:
        relay = _relay_runtime(runtime, server.address)
        first = eventually(lambda: _checked(sender_domain(relay)), timeout=5, interval=0.05)
    assert first.state.value == "failing"  # no DKIM: the check says to configure it
    statuses = {f.check: f.status for f in first.findings}
    assert statuses["SPF"] == "ok"
    assert statuses["DKIM"] == "missing"
    assert first.domain == "shop.example"

    # The DNS server is gone: within mail_check_cache_for, nobody asks it again.
    clock.advance(599)
    assert sender_domain(relay) == first
    # A name server that never answers: the request does not wait for it ("checking"),
    # and then the checklist says what could not be checked.
    with silent_dns_server() as silent:
        relay = _relay_runtime(runtime, silent.address)
        assert sender_domain(relay).state.value == "checking"
        unchecked = eventually(lambda: _checked(sender_domain(relay)), timeout=15, interval=0.1)
    assert {f.check: f.status for f in unchecked.findings}["SPF"] == "unchecked"
    assert unchecked.state.value == "failing"  # DKIM is still not configured


def _checked(answer: Any) -> Any:
    assert answer.state.value != "checking"
    return answer


def test_the_dns_check_s_words_are_for_owners_and_admins(runtime: Runtime) -> None:
    from fastapi.testclient import TestClient

    from frontdesk.api.app import create_app
    from tests.support import sign_up

    zone = {"shop.example": {"TXT": [SPF]}, "_dmarc.shop.example": {"TXT": [DMARC]}}
    with dns_server(zone) as server:
        relay = _relay_runtime(runtime, server.address, mail_check_timeout=5)
        owner = sign_up(TestClient(create_app(relay)))
        agent = owner.invite()

        def domain_of(caller: SignedUp) -> dict[str, Any]:
            item = items(checklist(caller))["sender_domain"]
            assert item["facts"]["state"] != "checking", item
            facts: dict[str, Any] = item["facts"]
            return facts

        told = eventually(lambda: domain_of(owner), timeout=10)
        seen = domain_of(agent)
    assert told["state"] == seen["state"] == "failing"
    assert [(f["check"], f["status"]) for f in told["findings"]] == [
        (f["check"], f["status"]) for f in seen["findings"]
    ]
    dkim = next(f for f in told["findings"] if f["check"] == "DKIM")
    assert "does not sign its e-mail with DKIM" in dkim["summary"]
    assert {f["summary"] for f in seen["findings"]} == {None}
