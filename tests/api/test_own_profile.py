"""The caller's own agent over the HTTP API: its profile (name, locale, time zone, e-mail
address and password, the last two only with the current password) and its notification
choices; and bad input that changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import SignedUp, agent_in, assert_error, log_in, sign_up, unique_email

# --- the caller's own profile ----------------------------------------------------------


def test_get_me(account: SignedUp) -> None:
    response = account.get("/me")

    assert response.status_code == 200, response.text
    me = response.json()
    assert me["id"] == account.agent_id
    assert me["account_id"] == account.account_id
    assert me["email"] == account.email
    assert me["role"] == "owner"
    assert me["active"] is True


def test_plain_agent_edits_its_own_name_and_locale(account: SignedUp) -> None:
    agent = account.invite()

    response = agent.patch("/me", {"name": "Nina", "locale": "cs"})

    assert response.status_code == 200, response.text
    listed = agent_in(account, agent.agent_id)
    assert (listed["name"], listed["locale"], listed["role"]) == ("Nina", "cs", "agent")


def test_times_in_e_mails_follow_the_agents_time_zone_which_defaults_to_utc(
    account: SignedUp,
) -> None:
    assert account.get("/me").json()["time_zone"] == "UTC"
    response = account.patch("/me", {"time_zone": "Europe/Prague"})
    assert response.status_code == 200, response.text
    assert account.get("/me").json()["time_zone"] == "Europe/Prague"
    invited = account.post(
        "/agents", {"name": "Ken", "email": unique_email(), "time_zone": "Asia/Tokyo"}
    )
    assert invited.json()["time_zone"] == "Asia/Tokyo"


def test_changing_the_email_changes_the_login(client: TestClient, account: SignedUp) -> None:
    agent = account.invite()
    new_email = unique_email("renamed")

    response = agent.patch("/me", {"email": new_email, "current_password": agent.password})

    assert response.status_code == 200, response.text
    assert response.json()["email"] == new_email
    assert_error(log_in(client, agent.email, agent.password), 401, "invalid_credentials")
    login = log_in(client, new_email.upper(), agent.password)
    assert login.status_code == 200, login.text
    assert login.json()["agent_id"] == agent.agent_id
    # The old address is free again.
    reused = account.post("/agents", {"name": "Reuse", "email": agent.email})
    assert reused.status_code == 201, reused.text


def test_changing_the_password(client: TestClient, account: SignedUp) -> None:
    response = account.patch(
        "/me", {"password": "brand-new-password", "current_password": account.password}
    )

    assert response.status_code == 200, response.text
    assert_error(log_in(client, account.email, account.password), 401, "invalid_credentials")
    assert log_in(client, account.email, "brand-new-password").status_code == 200


@pytest.mark.parametrize("current_password", [None, "wrong-password"])
@pytest.mark.parametrize("change", ["email", "password"])
def test_email_or_password_change_needs_the_current_password(
    client: TestClient, account: SignedUp, change: str, current_password: str | None
) -> None:
    new_email = unique_email("hijack")
    body: dict[str, Any] = (
        {"email": new_email} if change == "email" else {"password": "hijacked-password"}
    )
    body["name"] = "Hijacked"
    if current_password is not None:
        body["current_password"] = current_password
    before = account.get("/me").json()

    response = account.patch("/me", body)

    assert_error(response, 401, "current_password_required")
    assert account.get("/me").json() == before
    assert log_in(client, account.email, account.password).status_code == 200
    assert_error(log_in(client, new_email, account.password), 401, "invalid_credentials")
    assert_error(log_in(client, account.email, "hijacked-password"), 401, "invalid_credentials")


# --- own notification choices ----------------------------------------------------------


ALL_ON = {
    "offline_message_email": True,
    "missed_conversation_email": True,
    "offline_message_push": True,
    "missed_conversation_push": True,
    "unserved_conversation_push": True,
}


def test_my_notifications_default_to_on(account: SignedUp) -> None:
    response = account.get("/me/notifications")

    assert response.status_code == 200, response.text
    assert response.json() == ALL_ON


@pytest.mark.parametrize("choice", sorted(ALL_ON))
def test_patching_one_notification_choice_keeps_the_other(account: SignedUp, choice: str) -> None:
    agent = account.invite()
    expected = ALL_ON | {choice: False}

    response = agent.patch("/me/notifications", {choice: False})

    assert response.status_code == 200, response.text
    assert response.json() == expected
    assert agent.get("/me/notifications").json() == expected
    # Only the caller's own choice changed.
    assert account.get("/me/notifications").json() == ALL_ON


# --- e-mail addresses are logins: unique across all accounts ---------------------------


def test_patch_me_refuses_an_email_of_another_account(
    client: TestClient, account: SignedUp
) -> None:
    other = sign_up(client)
    before = other.get("/me").json()

    response = other.patch(
        "/me", {"email": account.email.upper(), "current_password": other.password}
    )

    assert_error(response, 409, "email_taken")
    assert other.get("/me").json() == before
    assert log_in(client, account.email, account.password).json()["agent_id"] == account.agent_id


# --- bad input is refused and changes nothing ------------------------------------------

LONG_NAME = "x" * 201


@pytest.mark.parametrize(
    "body",
    [
        {"nickname": "x"},
        {"role": "owner"},
        {"active": False},
        {"name": None},
        {"email": None},
        {"locale": None},
        {"password": None},
        {"name": LONG_NAME},
        {"name": "Two\nLines"},
        {"email": "not-an-email", "current_password": "owner-password"},
        {"password": "short", "current_password": "owner-password"},
        {"locale": "fr"},
        {"time_zone": "Mars/Olympus_Mons"},
        {"time_zone": "../../etc/passwd"},
        {"time_zone": ""},
        {"time_zone": None},
    ],
)
def test_patch_me_refuses_bad_input(
    client: TestClient, account: SignedUp, body: dict[str, Any]
) -> None:
    before = account.get("/me").json()

    assert_error(account.patch("/me", body), 422, "invalid_input")
    assert account.get("/me").json() == before
    assert log_in(client, account.email, account.password).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"nickname": True},
        {"offline_message_email": None},
        {"missed_conversation_email": None},
        {"offline_message_email": "maybe"},
        {"offline_message_email": False, "extra": 1},
    ],
)
def test_patch_my_notifications_refuses_bad_input(account: SignedUp, body: dict[str, Any]) -> None:
    before = account.get("/me/notifications").json()

    assert_error(account.patch("/me/notifications", body), 422, "invalid_input")
    assert account.get("/me/notifications").json() == before


def test_an_owner_sets_the_choices_new_agents_start_with(account: SignedUp) -> None:
    before = account.invite()
    changed = account.patch(
        "/settings/notifications",
        {"agent_defaults": {"offline_message_email": False, "unserved_conversation_push": False}},
    )
    assert changed.status_code == 200, changed.text
    defaults = {
        "offline_message_email": False,
        "missed_conversation_email": True,
        "offline_message_push": True,
        "missed_conversation_push": True,
        "unserved_conversation_push": False,
    }
    assert changed.json()["agent_defaults"] == defaults
    # A second change merges into the first.
    again = account.patch(
        "/settings/notifications", {"agent_defaults": {"offline_message_push": False}}
    )
    defaults["offline_message_push"] = False
    assert again.json()["agent_defaults"] == defaults

    after = account.invite()

    assert after.get("/me/notifications").json() == defaults
    # Agents added before keep their own, and so does the owner.
    assert set(before.get("/me/notifications").json().values()) == {True}
    assert set(account.get("/me/notifications").json().values()) == {True}
    # And a new agent's own choice is theirs from then on.
    assert after.patch("/me/notifications", {"offline_message_email": True}).json()[
        "offline_message_email"
    ]


def test_only_managers_set_the_defaults_and_bad_ones_change_nothing(account: SignedUp) -> None:
    agent = account.invite()
    bodies = [
        {"agent_defaults": {"offline_message_email": "no"}},
        {"agent_defaults": {"sms": True}},
        {"agent_defaults": {"offline_message_email": None}},
        {"agent_defaults": None},
    ]
    for body in bodies:
        assert account.patch("/settings/notifications", body).status_code == 422, body
    assert_error(
        agent.patch("/settings/notifications", {"agent_defaults": {"offline_message_push": False}}),
        403,
        "not_a_manager",
    )
    defaults = account.get("/settings/notifications").json()["agent_defaults"]
    assert set(defaults.values()) == {True}
