"""Sign-up, login, logout, the account and Settings → Notifications, through HTTP."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support import SignedUp, assert_error, sign_up, unique_email


def test_sign_up_gives_an_owner_token_that_works(client: TestClient) -> None:
    shop = sign_up(client, plan="standard", name="Tea Shop")
    account = shop.get("/account").json()
    assert account["name"] == "Tea Shop"
    assert account["plan"] == "standard"
    assert account["widget_key"] == shop.widget_key
    me = shop.get("/me").json()
    assert me["role"] == "owner"
    assert me["email"] == shop.email


def test_login_ignores_the_case_of_the_address(account: SignedUp) -> None:
    response = account.client.post(
        "/api/v1/auth/login", json={"email": account.email.upper(), "password": account.password}
    )
    assert response.status_code == 200
    assert response.json()["agent_id"] == account.agent_id
    assert response.json()["token"] != account.token


@pytest.mark.parametrize("wrong", ["password", "email"])
def test_a_wrong_password_or_address_gives_the_same_answer(account: SignedUp, wrong: str) -> None:
    body = {"email": account.email, "password": account.password}
    body[wrong] = "nobody@example.com" if wrong == "email" else "not-the-password"
    response = account.client.post("/api/v1/auth/login", json=body)
    assert_error(response, 401, "invalid_credentials")


def test_logout_revokes_only_that_token(account: SignedUp) -> None:
    second = account.client.post(
        "/api/v1/auth/login", json={"email": account.email, "password": account.password}
    ).json()["token"]
    assert account.post("/auth/logout").status_code == 204
    assert_error(account.get("/me"), 401, "invalid_token")
    other = account.client.get("/api/v1/me", headers={"Authorization": f"Bearer {second}"})
    assert other.status_code == 200


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Basic dXNlcjpwYXNz", "Bearer fda_made_up", "Bearer " + "x" * 500],
)
def test_missing_or_bad_tokens_are_refused(client: TestClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"not_authenticated", "invalid_token"}
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_visitor_token_is_not_an_agent_token(account: SignedUp) -> None:
    visitor = account.client.post(f"/api/v1/widget/{account.widget_key}/visitors", json={})
    token = visitor.json()["visitor_token"]
    response = account.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 401, "invalid_token")


def test_the_owner_changes_the_plan(account: SignedUp) -> None:
    response = account.patch("/account", {"plan": "pro", "name": "Bigger Shop"})
    assert response.status_code == 200
    assert account.get("/account").json() | {"plan": "pro", "name": "Bigger Shop"} == (
        account.get("/account").json()
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/account", {"plan": "pro"}),
        ("/settings/notifications", {"offline_message_email": False}),
    ],
)
def test_a_plain_agent_cannot_manage_the_account(
    account: SignedUp, path: str, body: dict[str, object]
) -> None:
    agent = account.invite(role="agent")
    before = account.get(path).json()
    assert_error(agent.patch(path, body), 403, "not_a_manager")
    assert account.get(path).json() == before
    assert agent.get(path).status_code == 200  # reading is fine


def test_an_admin_manages_the_settings(account: SignedUp) -> None:
    admin = account.invite(role="admin")
    response = admin.patch("/settings/notifications", {"missed_conversation_email": True})
    assert response.status_code == 200
    assert account.get("/settings/notifications").json()["missed_conversation_email"] is True


def test_notification_settings_start_as_the_help_article_says(account: SignedUp) -> None:
    assert account.get("/settings/notifications").json() == {
        "offline_message_email": True,
        "missed_conversation_email": False,
        "missed_conversation_email_available": False,  # FREE
        "offline_email_delay": None,
        "default_offline_email_delay": 120.0,
        "offline_push_delay": None,
        "default_offline_push_delay": 10.0,
        # Every agent's own choices start on, until an owner says otherwise.
        "agent_defaults": {
            "offline_message_email": True,
            "missed_conversation_email": True,
            "offline_message_push": True,
            "missed_conversation_push": True,
            "unserved_conversation_push": True,
        },
        # No transcript e-mails to visitors until an owner switches them on.
        "visitor_transcript": False,
        "agent_idle_after": None,
        "alert_nobody_online_after": None,
        "expected_reply_time": False,
    }


def test_the_offline_delay_is_per_account_and_resets_with_null(account: SignedUp) -> None:
    assert account.patch("/settings/notifications", {"offline_email_delay": 30.5}).json()[
        "offline_email_delay"
    ] == pytest.approx(30.5)
    reset = account.patch("/settings/notifications", {"offline_email_delay": None}).json()
    assert reset["offline_email_delay"] is None


def test_the_push_delay_is_per_account_beside_the_e_mails(account: SignedUp) -> None:
    changed = account.patch("/settings/notifications", {"offline_push_delay": 5}).json()
    assert (changed["offline_push_delay"], changed["offline_email_delay"]) == (5, None)
    reset = account.patch("/settings/notifications", {"offline_push_delay": None}).json()
    assert reset["offline_push_delay"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"offline_email_delay": 0},
        {"offline_email_delay": 86_401},
        {"offline_push_delay": -1},
        {"offline_message_email": None},
        {"offline_message_email": "yes please"},
        {"sms": True},
    ],
)
def test_bad_notification_settings_change_nothing(
    account: SignedUp, body: dict[str, object]
) -> None:
    before = account.get("/settings/notifications").json()
    assert_error(account.patch("/settings/notifications", body), 422, "invalid_input")
    assert account.get("/settings/notifications").json() == before


def test_missed_conversation_e_mails_are_available_on_standard_and_pro(client: TestClient) -> None:
    for plan, available in [("free", False), ("standard", True), ("pro", True)]:
        shop = sign_up(client, plan=plan)
        settings = shop.get("/settings/notifications").json()
        assert settings["missed_conversation_email_available"] is available


@pytest.mark.parametrize(
    "owner",
    [
        {"name": "O", "email": "not-an-address", "password": "long-enough"},
        {"name": "O", "email": "o@example.com", "password": "short"},
        {"name": "", "email": "o@example.com", "password": "long-enough"},
        {"name": "O\r\nBcc: x@evil.test", "email": "o@example.com", "password": "long-enough"},
        {"name": "O", "email": "o@example.com", "password": "long-enough", "admin": True},
    ],
)
def test_bad_sign_ups_create_nothing(client: TestClient, owner: dict[str, object]) -> None:
    email = str(owner["email"])
    if email == "o@example.com":
        owner = owner | {"email": unique_email("owner")}
    response = client.post("/api/v1/accounts", json={"name": "Shop", "owner": owner})
    assert_error(response, 422, "invalid_input")
    login = client.post(
        "/api/v1/auth/login", json={"email": owner["email"], "password": owner["password"]}
    )
    assert login.status_code == 401


def test_an_unknown_plan_is_refused(client: TestClient) -> None:
    owner = {"name": "O", "email": unique_email(), "password": "long-enough"}
    response = client.post("/api/v1/accounts", json={"name": "S", "plan": "gold", "owner": owner})
    assert_error(response, 422, "invalid_input")


def test_a_taken_address_cannot_sign_up_again(account: SignedUp) -> None:
    owner = {"name": "Copy", "email": account.email.upper(), "password": "long-enough"}
    response = account.client.post("/api/v1/accounts", json={"name": "Copy", "owner": owner})
    assert_error(response, 409, "email_taken")
