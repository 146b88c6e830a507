"""The HTTP surface as a whole: JSON errors for everything, body limits, OpenAPI."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.testclient import TestClient

from tests.support import SignedUp, assert_error, unique_email


def test_invalid_json_is_a_400_and_creates_nothing(client: TestClient) -> None:
    email = unique_email()
    body = '{"name": "Shop", "owner": {"name": "O", "email": "' + email + '", "password": '
    response = client.post(
        "/api/v1/accounts", content=body, headers={"content-type": "application/json"}
    )
    assert_error(response, 400, "invalid_json")
    # Nothing was created: the address is still free for a sign-up (409 email_taken if not).
    owner = {"name": "O", "email": email, "password": "steep-the-oolong-4"}
    again = client.post("/api/v1/accounts", json={"name": "Shop", "owner": owner})
    assert again.status_code == 201, again.text


def test_a_json_array_instead_of_an_object_is_refused(client: TestClient) -> None:
    assert_error(client.post("/api/v1/accounts", json=[1, 2]), 422, "invalid_input")


def test_a_body_over_64_kib_is_refused_before_it_is_read(account: SignedUp) -> None:
    response = account.client.post(
        "/api/v1/accounts",
        content=b'{"name": "' + b"x" * 70_000 + b'"}',
        headers={"content-type": "application/json"},
    )
    assert_error(response, 413, "payload_too_large")


def test_a_chunked_body_over_the_limit_is_refused_too(account: SignedUp) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * 4096

    response = account.client.post(
        "/api/v1/accounts", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_error(response, 413, "payload_too_large")


def test_unknown_routes_and_methods_answer_in_json(client: TestClient) -> None:
    assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(client.delete("/api/v1/accounts"), 405, "method_not_allowed")


def test_ids_out_of_range_are_a_422_not_a_database_error(account: SignedUp) -> None:
    assert_error(account.get("/conversations/99999999999999999999"), 422, "invalid_input")
    assert_error(account.patch("/agents/0", {"name": "x"}), 422, "invalid_input")


def test_openapi_describes_the_api_with_real_schemas(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in [
        "/api/v1/accounts",
        "/api/v1/auth/login",
        "/api/v1/account",
        "/api/v1/settings/notifications",
        "/api/v1/agents",
        "/api/v1/agents/{agent_id}",
        "/api/v1/me",
        "/api/v1/me/notifications",
        "/api/v1/groups",
        "/api/v1/me/status",
        "/api/v1/me/devices/{device_id}/heartbeat",
        "/api/v1/conversations",
        "/api/v1/conversations/{conversation_id}",
        "/api/v1/conversations/{conversation_id}/read",
        "/api/v1/conversations/{conversation_id}/join",
        "/api/v1/conversations/{conversation_id}/close",
        "/api/v1/conversations/{conversation_id}/messages",
        "/api/v1/widget/{widget_key}/status",
        "/api/v1/widget/{widget_key}/visitors",
        "/api/v1/widget/{widget_key}/messages",
    ]:
        assert path in paths, path
    schemas = spec["components"]["schemas"]
    assert schemas["SignUpIn"]["additionalProperties"] is False
    assert schemas["ReplyIn"]["properties"]["text"]["maxLength"] == 10_000
    login = paths["/api/v1/auth/login"]["post"]["responses"]["200"]
    assert login["content"]["application/json"]["schema"]["$ref"].endswith("/TokenOut")


def test_nul_characters_anywhere_are_refused_before_the_database_sees_them(
    client: TestClient,
) -> None:
    """PostgreSQL cannot store NUL; it must be a 422, never a 500 (found by the fuzz test)."""
    login = client.post("/api/v1/auth/login", json={"email": "\x00", "password": "x"})
    assert_error(login, 422, "invalid_input")
    nested = {
        "name": "S",
        "owner": {"name": "O", "email": "o@example.com", "password": "p\x00ssword"},
    }
    assert_error(client.post("/api/v1/accounts", json=nested), 422, "invalid_input")
    assert_error(client.get("/api/v1/widget/%00/status"), 422, "invalid_input")
