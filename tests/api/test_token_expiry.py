"""Agent tokens end: ``token_idle_timeout`` after their last use and ``token_lifetime``
after they were issued, however much they are used; a token this process remembers is no
exception, and neither is a socket's opening. On a manual clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.websockets import WebSocketDisconnect

from frontdesk.api.app import create_app
from frontdesk.clock import ManualClock
from frontdesk.security import PasswordHasher, token_digest
from frontdesk.service.runtime import Runtime
from frontdesk.settings import Settings
from frontdesk.store.database import Database
from frontdesk.store.models import AgentToken
from tests.support import assert_error, unique_email

PASSWORD = "a-kettle-of-fish"
IDLE = 100.0
LIFETIME = 300.0


@pytest.fixture
def expiring(
    settings: Settings, database: Database, clock: ManualClock, passwords: PasswordHasher
) -> Iterator[tuple[TestClient, Runtime]]:
    rt = Runtime(
        settings=settings.model_copy(
            update={"token_idle_timeout": IDLE, "token_lifetime": LIFETIME}
        ),
        database=database,
        clock=clock,
        passwords=passwords,
    )
    with TestClient(create_app(rt)) as client:
        yield client, rt


def signed_up(client: TestClient) -> tuple[str, str]:
    email = unique_email("owner")
    body = {"name": "Teas", "owner": {"name": "Ivo", "email": email, "password": PASSWORD}}
    created = client.post("/api/v1/accounts", json=body)
    assert created.status_code == 201, created.text
    return email, created.json()["token"]


def last_used_of(session: Session, token: str) -> object:
    return session.scalar(
        select(AgentToken.last_used_at).where(AgentToken.token_hash == token_digest(token))
    )


def me(client: TestClient, token: str) -> int:
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code


def test_a_token_unused_for_the_idle_timeout_ends_and_use_keeps_it_alive(
    expiring: tuple[TestClient, Runtime], clock: ManualClock
) -> None:
    client, rt = expiring
    email, token = signed_up(client)
    for _ in range(3):  # used every 90 s: 270 s in all, more than the idle timeout
        clock.advance(90)
        assert me(client, token) == 200
    with rt.database.read() as session:
        last_used = last_used_of(session, token)
    assert last_used == clock.now()  # its use was written down, not only remembered

    clock.advance(IDLE + 1)
    refused = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert_error(refused, 401, "token_expired")
    again = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert me(client, again.json()["token"]) == 200


def test_a_token_ends_at_its_lifetime_however_much_it_is_used(
    expiring: tuple[TestClient, Runtime], clock: ManualClock
) -> None:
    client, _ = expiring
    _, token = signed_up(client)
    for _ in range(5):  # 250 s, a request every 50 s: remembered, and in use
        clock.advance(50)
        assert me(client, token) == 200
    clock.advance(49)
    assert me(client, token) == 200
    clock.advance(1)  # 300 s since it was issued
    assert_error(
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}),
        401,
        "token_expired",
    )


def test_a_socket_is_refused_with_an_expired_token_and_its_opening_counts_as_use(
    expiring: tuple[TestClient, Runtime], clock: ManualClock
) -> None:
    client, rt = expiring
    _, token = signed_up(client)
    clock.advance(IDLE - 10)
    protocols = ["frontdesk", f"frontdesk.token.{token}"]
    with client.websocket_connect(
        "/api/v1/agent/ws?device_id=tab", subprotocols=protocols
    ) as socket:
        assert socket.receive_json()["type"]  # greeted
    with rt.database.read() as session:
        assert last_used_of(session, token) == clock.now()

    clock.advance(IDLE + 1)
    with client.websocket_connect(
        "/api/v1/agent/ws?device_id=tab", subprotocols=protocols
    ) as socket:
        said = socket.receive_json()
        with pytest.raises(WebSocketDisconnect) as refused:
            socket.receive_json()
    assert said["error"]["code"] == "token_expired"
    assert refused.value.code == 4401
    assert refused.value.reason == "token_expired"
