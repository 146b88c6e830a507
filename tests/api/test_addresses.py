"""What Frontdesk will write to: addresses the mail writer can put in a header (ASCII before
the @, the ASCII form of a domain, no encoded words)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import assert_error, sign_up, unique_email

GOOD_PASSWORD = "tea-kettle-spout"


def sign_up_as(client: TestClient, email: str, password: str = GOOD_PASSWORD) -> Any:
    owner = {"name": "Jörg", "email": email, "password": password}
    return client.post("/api/v1/accounts", json={"name": "Teas", "owner": owner})


@pytest.mark.parametrize(
    "email", ["jörg@example.com", "=?utf-8?q?x?=@example.com", "Bcc: x@evil.test", "a@b"]
)
def test_an_address_the_mail_writer_cannot_write_is_refused_at_input(
    client: TestClient, email: str
) -> None:
    error = assert_error(sign_up_as(client, email), 422, "invalid_input")
    assert error["details"][0]["field"] == "body.owner.email"
    invited = sign_up(client).post("/agents", {"name": "N", "email": email})
    assert_error(invited, 422, "invalid_input")


def test_an_internationalised_domain_is_kept_in_its_ascii_form(client: TestClient) -> None:
    local = unique_email("idn").partition("@")[0]
    signed = sign_up_as(client, f"{local}@bücher.example")
    assert signed.status_code == 201, signed.text
    token = signed.json()["token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["email"] == f"{local}@xn--bcher-kva.example"
