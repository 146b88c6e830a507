"""The HTTP API in-process (a ``TestClient``): accounts, agents and visitors made the way a
client makes them, and the shape of an error."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

_counter = itertools.count()


def unique_email(prefix: str = "agent") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}-{next(_counter)}@example.com"


@dataclass
class SignedUp:
    """An account made through the API, with its owner's credentials."""

    client: TestClient
    account_id: int
    agent_id: int
    widget_key: str
    token: str
    email: str
    password: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(f"/api/v1{path}", headers=self.headers, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.client.post(f"/api/v1{path}", json=json, headers=self.headers, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.client.patch(f"/api/v1{path}", json=json, headers=self.headers, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.client.put(f"/api/v1{path}", json=json, headers=self.headers, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.client.delete(f"/api/v1{path}", headers=self.headers, **kwargs)

    def invite(self, *, role: str = "agent", **fields: Any) -> SignedUp:
        """Invite an agent, log it in, and return it as a caller of this account."""
        email = fields.pop("email", unique_email(role))
        password = fields.pop("password", "agent-password")
        body = {"name": fields.pop("name", f"{role.title()} Agent"), "email": email}
        body |= {"role": role, "password": password, **fields}
        response = self.post("/agents", body)
        assert response.status_code == 201, response.text
        login = self.client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
        return SignedUp(
            client=self.client,
            account_id=self.account_id,
            agent_id=response.json()["id"],
            widget_key=self.widget_key,
            token=login.json()["token"],
            email=email,
            password=password,
        )


def sign_up(client: TestClient, *, plan: str = "free", name: str = "Shop") -> SignedUp:
    email = unique_email("owner")
    password = "owner-password"
    response = client.post(
        "/api/v1/accounts",
        json={
            "name": name,
            "plan": plan,
            "owner": {"name": "Olga Owner", "email": email, "password": password},
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return SignedUp(
        client=client,
        account_id=body["account_id"],
        agent_id=body["agent_id"],
        widget_key=body["widget_key"],
        token=body["token"],
        email=email,
        password=password,
    )


def log_in(client: TestClient, email: str, password: str) -> Any:
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def agents_of(caller: SignedUp) -> list[dict[str, Any]]:
    response = caller.get("/agents")
    assert response.status_code == 200, response.text
    agents: list[dict[str, Any]] = response.json()
    return agents


def agent_in(caller: SignedUp, agent_id: int) -> dict[str, Any]:
    """The agent's profile as the list shows it (its presence left out)."""
    (agent,) = [a for a in agents_of(caller) if a["id"] == agent_id]
    return {key: value for key, value in agent.items() if key not in ("online", "state", "devices")}


@dataclass
class Visitor:
    client: TestClient
    widget_key: str
    visitor_id: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def say(self, text: str, **fields: Any) -> Any:
        return self.client.post(
            f"/api/v1/widget/{self.widget_key}/messages",
            json={"text": text, **fields},
            headers=self.headers,
        )


def new_visitor(client: TestClient, widget_key: str, **fields: Any) -> Visitor:
    response = client.post(f"/api/v1/widget/{widget_key}/visitors", json=fields)
    assert response.status_code == 201, response.text
    body = response.json()
    return Visitor(client, widget_key, body["visitor_id"], body["visitor_token"])


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is a JSON error with this status and code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"], body
    error: dict[str, Any] = body["error"]
    return error
