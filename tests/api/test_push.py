"""Web Push subscriptions over the HTTP API, and pushes to them through a real push service
on loopback (tests/pushservice.py) that checks the VAPID token and decrypts the payload as
the browser would."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from frontdesk.clock import ManualClock
from frontdesk.service.runtime import Runtime
from frontdesk.settings import Settings
from tests.pushservice import Browser, PushService, push_service
from tests.support import SignedUp, assert_error, log_in


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        password_hashing="fast",
        data_dir=tmp_path,
        push_http_hosts=["127.0.0.1"],
        max_devices_per_agent=3,
    )


@pytest.fixture
def pushes(clock: ManualClock) -> Iterator[PushService]:
    with push_service(clock.now) as service:
        yield service


def subscribe(caller: SignedUp, browser: Browser, **fields: Any) -> Any:
    return caller.post("/me/push-subscriptions", browser.subscription_json() | fields)


def listed(caller: SignedUp) -> list[dict[str, Any]]:
    response = caller.get("/me/push-subscriptions")
    assert response.status_code == 200, response.text
    subscriptions: list[dict[str, Any]] = response.json()
    return subscriptions


def test_a_test_push_reaches_the_browser_signed_and_decryptable(
    account: SignedUp, pushes: PushService
) -> None:
    key = account.get("/push/vapid-key").json()["public_key"]
    assert len(base64.urlsafe_b64decode(key + "=")) == 65  # P-256, uncompressed
    pushes.vapid_public_key = key
    phone, laptop = pushes.subscribe(), pushes.subscribe()

    made = subscribe(account, phone, device_name="Chrome on Android", device_id="phone-1")
    assert made.status_code == 201, made.text
    assert subscribe(account, laptop, device_name="Firefox").status_code == 201
    tested = account.post("/me/push-subscriptions/test")

    assert tested.status_code == 200, tested.text
    assert sorted((t["device_name"], t["result"], t["status"]) for t in tested.json()) == [
        ("Chrome on Android", "sent", 201),
        ("Firefox", "sent", 201),
    ]
    assert pushes.refused == []
    for browser in (phone, laptop):
        (received,) = pushes.received_by(browser)
        assert received.payload["kind"] == "test"
        assert received.claims["sub"] == "mailto:frontdesk@localhost"
        assert received.headers["urgency"] == "high"
    subscriptions = listed(account)
    assert [s["device_name"] for s in subscriptions] == ["Firefox", "Chrome on Android"]
    assert subscriptions[1]["device_id"] == "phone-1"
    assert {s["last_status"] for s in subscriptions} == {201}


def test_the_vapid_key_is_the_installations_and_the_cli_prints_it(
    account: SignedUp, runtime: Runtime
) -> None:
    key = account.get("/push/vapid-key").json()["public_key"]
    assert account.get("/push/vapid-key").json()["public_key"] == key

    printed = subprocess.run(
        [sys.executable, "-m", "frontdesk", "push", "vapid-key"],
        env={"FRONTDESK_DATABASE_URL": runtime.settings.effective_database_url, "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    assert printed.stdout.strip() == key


@pytest.mark.parametrize("status", [404, 410])
def test_a_subscription_its_push_service_says_is_gone_is_removed(
    account: SignedUp, pushes: PushService, status: int
) -> None:
    gone, kept = pushes.subscribe(), pushes.subscribe()
    subscribe(account, gone)
    subscribe(account, kept)
    pushes.answer[gone.id] = status

    results = {t["device_name"] + str(t["status"]): t["result"] for t in _test(account)}

    assert results == {f"Browser{status}": "gone", "Browser201": "sent"}
    assert [s["endpoint"] for s in listed(account)] == [kept.endpoint]


def test_a_push_service_that_fails_keeps_the_subscription_and_says_so(
    account: SignedUp, pushes: PushService
) -> None:
    browser = pushes.subscribe()
    subscribe(account, browser)
    pushes.answer[browser.id] = 503

    (tested,) = _test(account)

    assert (tested["result"], tested["status"]) == ("retry", 503)
    (subscription,) = listed(account)
    assert (subscription["last_status"], subscription["last_answer"]) == (503, "as the test asked")


def _test(caller: SignedUp) -> list[dict[str, Any]]:
    response = caller.post("/me/push-subscriptions/test")
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()
    return results


def _point_off_the_curve() -> str:
    return base64.urlsafe_b64encode(b"\x04" + b"\x01" * 64).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"endpoint": "http://push.example.com/x"}, "invalid_push_subscription"),
        ({"endpoint": "ftp://push.example.com/x"}, "invalid_push_subscription"),
        ({"endpoint": "https://user:pw@push.example.com/x"}, "invalid_push_subscription"),
        ({"keys": {"p256dh": _point_off_the_curve(), "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}, None),
        ({"keys": {"p256dh": None, "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}, "invalid_input"),
        ({"auth_too_short": True}, None),
        ({"endpoint": "https://push.example.com/" + "x" * 2100}, "invalid_input"),
        ({"unknown": 1}, "invalid_input"),
        ({"device_name": "a\nb"}, "invalid_input"),
    ],
)
def test_a_bad_subscription_gets_a_clear_error_and_changes_nothing(
    account: SignedUp, pushes: PushService, change: dict[str, Any], code: str | None
) -> None:
    body = pushes.subscribe().subscription_json()
    if "auth_too_short" in change:
        body["keys"]["auth"] = "AAAA"
    else:
        body |= change

    response = account.post("/me/push-subscriptions", body)

    assert_error(response, 422, code or "invalid_push_subscription")
    assert listed(account) == []


def test_a_browser_has_one_subscription_the_latest_logins(
    account: SignedUp, pushes: PushService
) -> None:
    browser = pushes.subscribe()
    agent = account.invite()
    subscribe(account, browser, device_name="Shared laptop")
    subscribe(account, browser, device_name="Shared laptop, again")
    assert [s["device_name"] for s in listed(account)] == ["Shared laptop, again"]

    subscribe(agent, browser, device_name="Shared laptop, Ken")

    assert listed(account) == []
    assert [s["device_name"] for s in listed(agent)] == ["Shared laptop, Ken"]


def test_an_agent_keeps_at_most_its_device_limit_of_subscriptions(
    account: SignedUp, pushes: PushService, clock: ManualClock
) -> None:
    browsers = [pushes.subscribe() for _ in range(4)]
    for number, browser in enumerate(browsers):
        subscribe(account, browser, device_name=f"Browser {number}")
        clock.advance(1)

    assert [s["device_name"] for s in listed(account)] == ["Browser 3", "Browser 2", "Browser 1"]


def test_a_subscription_ends_with_its_login(
    account: SignedUp, pushes: PushService, client: TestClient
) -> None:
    second = log_in(client, account.email, account.password).json()["token"]
    other_login = replace(account, token=second)
    here, there, third = pushes.subscribe(), pushes.subscribe(), pushes.subscribe()
    subscribe(account, here)
    subscribe(other_login, there)

    assert account.post("/auth/logout").status_code == 204

    assert [s["endpoint"] for s in listed(other_login)] == [there.endpoint]
    subscribe(other_login, third)
    assert other_login.post("/auth/logout-everywhere").status_code == 204
    fresh = replace(account, token=log_in(client, account.email, account.password).json()["token"])
    assert listed(fresh) == []


def test_a_new_password_ends_the_other_logins_subscriptions(
    account: SignedUp, pushes: PushService, client: TestClient
) -> None:
    other_login = replace(
        account, token=log_in(client, account.email, account.password).json()["token"]
    )
    here, there = pushes.subscribe(), pushes.subscribe()
    subscribe(account, here)
    subscribe(other_login, there)

    changed = account.patch(
        "/me", {"password": "a-new-steep-oolong-9", "current_password": account.password}
    )

    assert changed.status_code == 200, changed.text
    assert [s["endpoint"] for s in listed(account)] == [here.endpoint]


def test_unsubscribing_by_endpoint(account: SignedUp, pushes: PushService) -> None:
    browser = pushes.subscribe()
    subscribe(account, browser)
    other = account.invite()

    assert_error(
        other.delete("/me/push-subscriptions", params={"endpoint": browser.endpoint}),
        404,
        "push_subscription_not_found",
    )
    gone = account.delete("/me/push-subscriptions", params={"endpoint": browser.endpoint})

    assert gone.status_code == 204, gone.text
    assert listed(account) == []
    assert_error(
        account.delete("/me/push-subscriptions", params={"endpoint": browser.endpoint}),
        404,
        "push_subscription_not_found",
    )


def test_subscriptions_need_a_logged_in_agent(client: TestClient, pushes: PushService) -> None:
    body = pushes.subscribe().subscription_json()
    assert_error(client.post("/api/v1/me/push-subscriptions", json=body), 401, "not_authenticated")
    assert_error(client.get("/api/v1/push/vapid-key"), 401, "not_authenticated")
