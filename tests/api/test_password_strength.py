"""Passwords that take more than a few thousand guesses, counting one's own name and
address as known."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.test_addresses import sign_up_as
from tests.support import SignedUp, assert_error, unique_email


@pytest.mark.parametrize("password", ["password", "12345678", "aaaaaaaa", "qwertyuiop"])
def test_a_password_easy_to_guess_is_refused_and_nothing_is_made(
    client: TestClient, password: str
) -> None:
    email = unique_email("owner")
    error = assert_error(sign_up_as(client, email, password), 422, "weak_password")
    assert error["message"].startswith("This password is too easy to guess.")
    login = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert_error(login, 401, "invalid_credentials")


def test_a_password_made_of_ones_own_name_and_address_is_refused(account: SignedUp) -> None:
    local = account.email.partition("@")[0]
    for weak in (local, "12345678"):
        changed = account.patch("/me", {"password": weak, "current_password": account.password})
        assert_error(changed, 422, "weak_password")
        invitee = unique_email("nora")
        invited = account.post(
            "/agents", {"name": "Nora", "email": invitee, "password": invitee.partition("@")[0]}
        )
        assert_error(invited, 422, "weak_password")
    assert account.get("/me").status_code == 200  # nothing changed: the token still works
    fine = account.patch(
        "/me", {"password": "steep-the-oolong-4", "current_password": account.password}
    )
    assert fine.status_code == 200, fine.text
