"""Agents of an account over the HTTP API: invite, list, change, deactivate; who may do what;
tenants apart; and bad input that changes nothing. The caller's own profile and notification
choices: test_own_profile.py."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import (
    SignedUp,
    agent_in,
    agents_of,
    assert_error,
    log_in,
    sign_up,
    unique_email,
)

# --- inviting and listing --------------------------------------------------------------


def test_invite_with_a_password_returns_no_initial_password(
    client: TestClient, account: SignedUp
) -> None:
    email = unique_email()
    response = account.post(
        "/agents",
        {"name": "Anna", "email": email, "password": "anna-password", "locale": "de"},
    )

    assert response.status_code == 201, response.text
    invited = response.json()
    assert invited["initial_password"] is None
    assert invited["name"] == "Anna"
    assert invited["email"] == email
    assert invited["role"] == "agent"
    assert invited["locale"] == "de"
    assert invited["active"] is True
    assert invited["group_ids"] == []
    assert log_in(client, email, "anna-password").status_code == 200


def test_invite_without_a_password_returns_one_that_logs_in(
    client: TestClient, account: SignedUp
) -> None:
    email = unique_email()
    response = account.post("/agents", {"name": "Ben", "email": email})

    assert response.status_code == 201, response.text
    initial_password = response.json()["initial_password"]
    assert initial_password
    login = log_in(client, email, initial_password)
    assert login.status_code == 200, login.text
    assert login.json()["agent_id"] == response.json()["id"]
    assert login.json()["account_id"] == account.account_id
    # Shown once: the list never shows it (nor any password).
    listed = agent_in(account, response.json()["id"])
    assert not any("password" in key for key in listed)


def test_list_shows_the_owner_and_invited_agents_in_order(account: SignedUp) -> None:
    admin = account.invite(role="admin", name="Ada Admin")
    agent = account.invite(name="Al Agent")

    listed = agents_of(account)

    assert [(a["id"], a["role"]) for a in listed] == [
        (account.agent_id, "owner"),
        (admin.agent_id, "admin"),
        (agent.agent_id, "agent"),
    ]
    assert [a["email"] for a in listed] == [account.email, admin.email, agent.email]
    # Every agent of the account may see its colleagues.
    assert agents_of(agent) == listed


# --- changing agents -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"name": "Renamed"}, {"name": "Renamed"}),
        ({"role": "admin"}, {"role": "admin"}),
        ({"locale": "cs"}, {"locale": "cs"}),
        ({"active": False}, {"active": False}),
        ({"name": "Both", "locale": "de"}, {"name": "Both", "locale": "de"}),
        ({"time_zone": "America/New_York"}, {"time_zone": "America/New_York"}),
    ],
)
def test_patch_changes_only_what_is_sent(
    account: SignedUp, change: dict[str, Any], expected: dict[str, Any]
) -> None:
    agent = account.invite(name="Before")
    before = agent_in(account, agent.agent_id)

    response = account.patch(f"/agents/{agent.agent_id}", change)

    assert response.status_code == 200, response.text
    assert response.json() == before | expected
    assert agent_in(account, agent.agent_id) == before | expected


def test_admin_manages_agents(account: SignedUp) -> None:
    admin = account.invite(role="admin")
    agent = account.invite()

    response = admin.patch(f"/agents/{agent.agent_id}", {"role": "admin", "name": "Promoted"})

    assert response.status_code == 200, response.text
    assert agent_in(account, agent.agent_id)["role"] == "admin"
    invited = admin.post("/agents", {"name": "New", "email": unique_email()})
    assert invited.status_code == 201, invited.text


# --- who may do what -------------------------------------------------------------------


def test_plain_agent_may_not_invite(account: SignedUp) -> None:
    agent = account.invite()
    before = agents_of(account)

    response = agent.post("/agents", {"name": "Sneaky", "email": unique_email()})

    assert_error(response, 403, "not_a_manager")
    assert agents_of(account) == before


@pytest.mark.parametrize(
    "change",
    [{"name": "Renamed"}, {"role": "owner"}, {"role": "admin"}, {"active": False}, {}],
)
def test_plain_agent_may_not_patch_agents(account: SignedUp, change: dict[str, Any]) -> None:
    agent = account.invite()
    before = agents_of(account)

    assert_error(agent.patch(f"/agents/{account.agent_id}", change), 403, "not_a_manager")
    # Not even itself: its own profile is /me.
    assert_error(agent.patch(f"/agents/{agent.agent_id}", change), 403, "not_a_manager")
    assert agents_of(account) == before


def test_admin_may_not_invite_an_owner(account: SignedUp) -> None:
    admin = account.invite(role="admin")
    before = agents_of(account)

    response = admin.post("/agents", {"name": "Boss", "email": unique_email(), "role": "owner"})

    assert_error(response, 403, "only_owner_manages_owners")
    assert agents_of(account) == before


@pytest.mark.parametrize(
    ("target_role", "change"),
    [
        ("agent", {"role": "owner"}),
        ("admin", {"role": "owner"}),
        ("owner", {"role": "admin"}),
        ("owner", {"role": "agent"}),
        ("owner", {"active": False}),
    ],
)
def test_admin_may_not_make_unmake_or_deactivate_owners(
    account: SignedUp, target_role: str, change: dict[str, Any]
) -> None:
    admin = account.invite(role="admin")
    # A second owner, so that "last owner" is not what refuses the change.
    target = account.invite(role=target_role)
    before = agents_of(account)

    response = admin.patch(f"/agents/{target.agent_id}", change)

    assert_error(response, 403, "only_owner_manages_owners")
    assert agents_of(account) == before


def test_admin_may_rename_an_owner(account: SignedUp) -> None:
    admin = account.invite(role="admin")

    response = admin.patch(f"/agents/{account.agent_id}", {"name": "Olga the Owner"})

    assert response.status_code == 200, response.text
    assert agent_in(account, account.agent_id)["name"] == "Olga the Owner"


def test_owner_makes_and_unmakes_owners(account: SignedUp) -> None:
    agent = account.invite()

    promoted = account.patch(f"/agents/{agent.agent_id}", {"role": "owner"})
    assert promoted.status_code == 200, promoted.text
    # With a second owner, the first may step down.
    demoted = account.patch(f"/agents/{account.agent_id}", {"role": "admin"})
    assert demoted.status_code == 200, demoted.text

    roles = {a["id"]: a["role"] for a in agents_of(agent)}
    assert roles == {account.agent_id: "admin", agent.agent_id: "owner"}


@pytest.mark.parametrize("change", [{"role": "admin"}, {"role": "agent"}, {"active": False}])
def test_last_active_owner_can_be_neither_demoted_nor_deactivated(
    account: SignedUp, change: dict[str, Any]
) -> None:
    before = agents_of(account)

    response = account.patch(f"/agents/{account.agent_id}", change)

    assert_error(response, 409, "last_owner")
    assert agents_of(account) == before


def test_a_deactivated_owner_does_not_count_as_an_owner(account: SignedUp) -> None:
    other_owner = account.invite(role="owner")
    deactivated = account.patch(f"/agents/{other_owner.agent_id}", {"active": False})
    assert deactivated.status_code == 200, deactivated.text

    response = account.patch(f"/agents/{account.agent_id}", {"role": "admin"})

    assert_error(response, 409, "last_owner")
    assert agent_in(account, account.agent_id)["role"] == "owner"


# --- deactivation ----------------------------------------------------------------------


def test_deactivated_agent_loses_its_token_and_cannot_log_in(
    client: TestClient, account: SignedUp
) -> None:
    agent = account.invite()
    assert agent.get("/me").status_code == 200

    response = account.patch(f"/agents/{agent.agent_id}", {"active": False})

    assert response.status_code == 200, response.text
    assert response.json()["active"] is False
    assert_error(agent.get("/me"), 401, "invalid_token")
    assert_error(agent.get("/agents"), 401, "invalid_token")
    assert_error(log_in(client, agent.email, agent.password), 403, "agent_deactivated")
    # A wrong password still says nothing about the account's state.
    assert_error(log_in(client, agent.email, "wrong-password"), 401, "invalid_credentials")


def test_reactivated_agent_logs_in_again_but_old_tokens_stay_revoked(
    client: TestClient, account: SignedUp
) -> None:
    agent = account.invite()
    account.patch(f"/agents/{agent.agent_id}", {"active": False})

    response = account.patch(f"/agents/{agent.agent_id}", {"active": True})

    assert response.status_code == 200, response.text
    assert_error(agent.get("/me"), 401, "invalid_token")
    login = log_in(client, agent.email, agent.password)
    assert login.status_code == 200, login.text
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {login.json()['token']}"})
    assert me.status_code == 200, me.text


# --- e-mail addresses are logins: unique across all accounts ---------------------------


def test_invite_refuses_an_email_of_this_account_in_any_case(account: SignedUp) -> None:
    agent = account.invite()
    before = agents_of(account)

    response = account.post("/agents", {"name": "Twin", "email": agent.email.upper()})

    assert_error(response, 409, "email_taken")
    assert agents_of(account) == before


def test_invite_refuses_an_email_of_another_account(client: TestClient, account: SignedUp) -> None:
    other = sign_up(client)
    before = agents_of(other)

    response = other.post("/agents", {"name": "Twin", "email": account.email.upper()})

    assert_error(response, 409, "email_taken")
    assert agents_of(other) == before


# --- tenants stay apart ----------------------------------------------------------------


@pytest.mark.parametrize(
    "change", [{"name": "Taken over"}, {"active": False}, {"role": "agent"}, {"locale": "de"}]
)
def test_owner_of_another_account_cannot_patch_agents_here(
    client: TestClient, account: SignedUp, change: dict[str, Any]
) -> None:
    agent = account.invite()
    other = sign_up(client)
    before = agents_of(account)

    assert_error(other.patch(f"/agents/{agent.agent_id}", change), 404, "agent_not_found")
    assert_error(other.patch(f"/agents/{account.agent_id}", change), 404, "agent_not_found")
    assert agents_of(account) == before
    assert agent.get("/me").status_code == 200


def test_agent_list_shows_only_the_own_account(client: TestClient, account: SignedUp) -> None:
    account.invite()
    other = sign_up(client)

    assert [a["id"] for a in agents_of(other)] == [other.agent_id]


# --- bad input is refused and changes nothing ------------------------------------------

LONG_NAME = "x" * 201
DROP = object()  # leave the key out


@pytest.mark.parametrize(
    "change",
    [
        {"nickname": "e"},
        {"active": False},
        {"name": LONG_NAME},
        {"name": "Eve\nBcc: x@example.com"},
        {"name": "   "},
        {"name": None},
        {"name": DROP},
        {"email": "not-an-email"},
        {"email": "eve@example.com\r\nBcc: x@example.com"},
        {"email": DROP},
        {"role": "superuser"},
        {"locale": "fr"},
        {"password": "short"},
        {"group_ids": [0]},
    ],
)
def test_invite_refuses_bad_input(account: SignedUp, change: dict[str, Any]) -> None:
    valid = {"name": "Eve", "email": unique_email("eve")}
    body = {k: v for k, v in (valid | change).items() if v is not DROP}
    before = agents_of(account)

    assert_error(account.post("/agents", body), 422, "invalid_input")
    assert agents_of(account) == before
    # The same invitation without the bad part goes through.
    assert account.post("/agents", valid).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"nickname": "x"},
        {"email": "new@example.com"},
        {"name": None},
        {"role": None},
        {"locale": None},
        {"active": None},
        {"group_ids": None},
        {"name": LONG_NAME},
        {"name": "Two\nLines"},
        {"name": ""},
        {"role": "superuser"},
        {"locale": "fr"},
        {"active": "maybe"},
        {"group_ids": [0]},
        {"name": "Valid", "role": "admin", "bogus": 1},
    ],
)
def test_patch_agent_refuses_bad_input(account: SignedUp, body: dict[str, Any]) -> None:
    agent = account.invite()
    before = agents_of(account)

    assert_error(account.patch(f"/agents/{agent.agent_id}", body), 422, "invalid_input")
    assert agents_of(account) == before


@pytest.mark.parametrize("agent_id", ["0", "-1", "abc", str(2**63)])
def test_patch_agent_refuses_bad_ids(account: SignedUp, agent_id: str) -> None:
    before = agents_of(account)

    assert_error(account.patch(f"/agents/{agent_id}", {"name": "X"}), 422, "invalid_input")
    assert agents_of(account) == before


def test_patch_unknown_agent_is_not_found(account: SignedUp) -> None:
    assert_error(account.patch(f"/agents/{2**62}", {"name": "X"}), 404, "agent_not_found")


def test_name_of_exactly_200_characters_is_accepted(account: SignedUp) -> None:
    agent = account.invite()

    response = account.patch(f"/agents/{agent.agent_id}", {"name": "y" * 200})

    assert response.status_code == 200, response.text
    assert agent_in(account, agent.agent_id)["name"] == "y" * 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/agents/{id}", {"active": "no"}),
        ("/agents/{id}", {"active": 0}),
        ("/me/notifications", {"offline_message_email": "false"}),
        ("/settings/notifications", {"offline_message_email": 0}),
        ("/agents/{id}", {"group_ids": ["1"]}),
    ],
)
def test_booleans_and_ids_are_not_guessed_from_strings_or_numbers(
    account: SignedUp, path: str, body: dict[str, object]
) -> None:
    colleague = account.invite()
    target = path.format(id=colleague.agent_id)
    before = (account.get("/agents").json(), account.get("/settings/notifications").json())
    assert_error(account.patch(target, body), 422, "invalid_input")
    after = (account.get("/agents").json(), account.get("/settings/notifications").json())
    assert after == before
    assert colleague.get("/me/notifications").json()["offline_message_email"] is True


def test_two_owners_demoting_each_other_at_once_leave_one_owner(account: SignedUp) -> None:
    """The last-owner rule holds under concurrency: the owner count is read under row locks."""
    for _ in range(5):
        second = account.invite(role="owner")
        with ThreadPoolExecutor(max_workers=2) as pool:
            demote_second = pool.submit(
                account.patch, f"/agents/{second.agent_id}", {"role": "admin"}
            )
            demote_first = pool.submit(
                second.patch, f"/agents/{account.agent_id}", {"role": "admin"}
            )
            statuses = sorted(
                [demote_second.result().status_code, demote_first.result().status_code]
            )
        owners = [a for a in account.get("/agents").json() if a["role"] == "owner" and a["active"]]
        assert len(owners) >= 1, statuses
        if owners[0]["id"] != account.agent_id:  # the original owner was demoted: swap back
            second.patch(f"/agents/{account.agent_id}", {"role": "owner"})
        account.patch(f"/agents/{second.agent_id}", {"active": False})
