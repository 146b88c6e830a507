"""Rate limits: per address for everything, failed logins per address and per e-mail, sign-ups
per address, the widget's visitors and messages per address and per visitor; 429 with
``Retry-After``, nothing changed; counted in memory, or in Redis across processes."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from limits import parse
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect

from frontdesk.api.app import create_app
from frontdesk.api.ratelimits import Limit, LocalWindows
from frontdesk.clock import ManualClock
from frontdesk.security import PasswordHasher
from frontdesk.service.runtime import Runtime
from frontdesk.settings import Settings
from frontdesk.store.database import Database
from tests.support import assert_error, eventually, new_visitor, sign_up, unique_email

PROXY = ("10.0.0.1", 40000)  # the TestClient's requests come from this trusted proxy
LimitedClient = Callable[..., TestClient]


@pytest.fixture
def limited(
    settings: Settings, database: Database, clock: ManualClock, passwords: PasswordHasher
) -> LimitedClient:
    """A client of an app with rate limits on: every limit off but those given."""

    def make(**limits: Any) -> TestClient:
        values: dict[str, Any] = {
            "rate_limits": True,
            "trusted_proxies": ["10.0.0.0/8"],
            "rate_limit_per_ip": "off",
            "rate_limit_login_failures_per_ip": "off",
            "rate_limit_login_failures_per_email": "off",
            "rate_limit_signups_per_ip": "off",
            "rate_limit_visitors_per_ip": "off",
            "rate_limit_messages_per_ip": "off",
            "rate_limit_messages_per_visitor": "off",
        }
        values |= {
            name if name == "redis_url" else f"rate_limit_{name}": value
            for name, value in limits.items()
        }
        configured = settings.model_copy(update=values)
        rt = Runtime(settings=configured, database=database, clock=clock, passwords=passwords)
        return TestClient(create_app(rt), client=PROXY)

    return make


def at(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def login(client: TestClient, email: str, password: str, address: str = "192.0.2.1") -> Any:
    return client.post(
        "/api/v1/auth/login", json={"email": email, "password": password}, headers=at(address)
    )


def assert_limited(response: Any) -> dict[str, Any]:
    error = assert_error(response, 429, "rate_limited")
    assert int(response.headers["retry-after"]) >= 1
    assert error["retry_after"] == int(response.headers["retry-after"])
    return error


def test_guessing_a_password_is_refused_and_the_right_one_works_after_the_window(
    limited: LimitedClient,
) -> None:
    client = limited(login_failures_per_ip="3 per 1 second")
    owner = sign_up(client)
    for _ in range(3):
        assert_error(login(client, owner.email, "a-guess"), 401, "invalid_credentials")
    refused = login(client, owner.email, owner.password)  # even the right one, for now
    assert "failed logins" in assert_limited(refused)["message"]
    # Another address is not this one's neighbour.
    assert login(client, owner.email, owner.password, address="192.0.2.2").status_code == 200

    def let_in() -> Any:
        answer = login(client, owner.email, owner.password)
        assert answer.status_code != 429, answer.text
        return answer

    answer = eventually(let_in, timeout=5, interval=0.1, what="the limit lifted")
    assert answer.status_code == 200, answer.text


def test_successful_logins_are_not_counted(limited: LimitedClient) -> None:
    client = limited(login_failures_per_ip="2 per minute", login_failures_per_email="2/minute")
    owner = sign_up(client)
    for _ in range(5):
        assert login(client, owner.email, owner.password).status_code == 200


def test_failed_logins_per_address_are_counted_across_addresses_and_tell_nothing(
    limited: LimitedClient,
) -> None:
    client = limited(login_failures_per_email="2 per minute")
    owner = sign_up(client)
    nobody = unique_email("nobody")
    # An address with an agent and one without answer alike, guess by guess.
    for email in (owner.email, nobody):
        statuses = [
            login(client, email, "a-guess", address=f"198.51.100.{i}").status_code for i in range(3)
        ]
        assert statuses == [401, 401, 429], (email, statuses)
    assert_limited(login(client, owner.email, owner.password, address="203.0.113.50"))
    colleague = owner.invite()
    assert login(client, colleague.email, colleague.password).status_code == 200


def test_sign_ups_per_address(limited: LimitedClient) -> None:
    client = limited(signups_per_ip="2 per minute")

    def sign_up_from(address: str) -> Any:
        owner = {"name": "O", "email": unique_email("owner"), "password": "owner-password"}
        return client.post(
            "/api/v1/accounts", json={"name": "Shop", "owner": owner}, headers=at(address)
        )

    assert [sign_up_from("192.0.2.7").status_code for _ in range(2)] == [201, 201]
    assert "sign-ups" in assert_limited(sign_up_from("192.0.2.7"))["message"]
    assert sign_up_from("192.0.2.8").status_code == 201


def test_a_visitor_over_its_limit_stores_nothing_and_the_widget_can_read_why(
    limited: LimitedClient,
) -> None:
    client = limited(messages_per_visitor="3 per minute", visitors_per_ip="2 per minute")
    owner = sign_up(client)
    visitor = new_visitor(client, owner.widget_key)
    assert [visitor.say(f"message {i}").status_code for i in range(3)] == [201, 201, 201]
    refused = client.post(
        f"/api/v1/widget/{owner.widget_key}/messages",
        json={"text": "one too many"},
        headers=visitor.headers | {"Origin": "https://shop.example"},
    )
    assert "messages" in assert_limited(refused)["message"]
    assert refused.headers["access-control-allow-origin"] == "*"
    (conversation,) = owner.get("/conversations").json()["conversations"]
    messages = owner.get(f"/conversations/{conversation['id']}").json()["messages"]
    assert [m["text"] for m in messages] == ["message 0", "message 1", "message 2"]
    # Another visitor writes on; a third new visitor from this address does not.
    assert new_visitor(client, owner.widget_key).say("me too").status_code == 201
    third = client.post(f"/api/v1/widget/{owner.widget_key}/visitors", json={})
    assert "visitors" in assert_limited(third)["message"]


def test_messages_per_address(limited: LimitedClient) -> None:
    client = limited(messages_per_ip="2 per minute")
    owner = sign_up(client)
    first, second = new_visitor(client, owner.widget_key), new_visitor(client, owner.widget_key)
    assert first.say("one").status_code == 201
    assert second.say("two").status_code == 201
    assert_limited(first.say("three"))


def test_every_request_and_socket_counts_per_address(limited: LimitedClient) -> None:
    client = limited(per_ip="4 per minute")
    assert [client.get("/healthz").status_code for _ in range(4)] == [200] * 4
    assert_limited(client.get("/api/v1/me"))
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect("/api/v1/agent/ws?device_id=tab") as socket,
    ):
        socket.receive_json()
    assert refused.value.code == 1008
    assert client.get("/healthz", headers=at("192.0.2.99")).status_code == 200


def test_a_limit_that_does_not_parse_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="not a rate limit"):
        Settings(rate_limit_per_ip="plenty")
    assert Settings(rate_limit_per_ip="off").rate_limit_per_ip == "off"


def test_processes_sharing_redis_count_together(
    settings: Settings,
    database: Database,
    clock: ManualClock,
    passwords: PasswordHasher,
    redis_url: str,
) -> None:
    shared = settings.model_copy(
        update={
            "rate_limits": True,
            "redis_url": redis_url,
            "redis_prefix": f"test-{uuid.uuid4().hex[:8]}",
            "rate_limit_per_ip": "3 per minute",
        }
    )
    one, other = (
        TestClient(
            create_app(
                Runtime(settings=shared, database=database, clock=clock, passwords=passwords)
            ),
            client=("192.0.2.44", 1),
        )
        for _ in range(2)
    )
    with one, other:  # each app on its own event loop, as two processes would be
        assert one.get("/healthz").status_code == 200
        assert other.get("/healthz").status_code == 200
        assert one.get("/healthz").status_code == 200
        assert_limited(other.get("/healthz"))


def test_without_redis_nothing_is_refused_and_the_log_says_so(
    limited: LimitedClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = limited(per_ip="1 per minute", redis_url="redis://127.0.0.1:1/0")
    with caplog.at_level(logging.WARNING, logger="frontdesk.limits"):
        assert [client.get("/healthz").status_code for _ in range(3)] == [200] * 3
    assert "rate limits are not counted" in caplog.text


def test_a_window_in_memory_opens_at_its_first_hit_and_lasts_its_period() -> None:
    now = [1000.0]
    windows = LocalWindows(clock=lambda: now[0])
    limit = Limit("test", parse("2 per 10 seconds"), amount=2, period=10.0)
    assert windows.hit(limit, "a") is None
    now[0] += 4
    assert windows.hit(limit, "a") is None
    assert windows.left(limit, "a") == 6.0
    assert windows.hit(limit, "a") == 6.0  # over: not counted
    assert windows.hit(limit, "b") is None  # another key, its own window
    now[0] += 6
    assert windows.left(limit, "a") is None
    assert windows.hit(limit, "a") is None  # a new window from this hit
    for i in range(5000):  # expired windows go as the table grows
        now[0] += 11
        windows.hit(limit, f"key-{i}")
    assert len(windows._windows) < 1100
