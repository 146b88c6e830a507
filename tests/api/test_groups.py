"""PRO groups over the HTTP API: the plan gate, create/list/change/delete, membership seen
from both sides, who may manage them, and tenants kept apart."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import SignedUp, assert_error, new_visitor, sign_up, unique_email


def groups_of(caller: SignedUp) -> list[dict[str, Any]]:
    response = caller.get("/groups")
    assert response.status_code == 200, response.text
    groups: list[dict[str, Any]] = response.json()
    return groups


def create_group(caller: SignedUp, name: str, agent_ids: list[int] | None = None) -> int:
    response = caller.post("/groups", {"name": name, "agent_ids": agent_ids or []})
    assert response.status_code == 201, response.text
    group_id: int = response.json()["id"]
    return group_id


def group_ids_by_agent(caller: SignedUp) -> dict[int, list[int]]:
    response = caller.get("/agents")
    assert response.status_code == 200, response.text
    return {a["id"]: a["group_ids"] for a in response.json()}


# --- the plan gate ---------------------------------------------------------------------


@pytest.mark.parametrize("plan", ["free", "standard"])
def test_groups_are_pro_only(client: TestClient, plan: str) -> None:
    account = sign_up(client, plan=plan)

    assert_error(account.post("/groups", {"name": "Sales"}), 403, "plan_lacks_feature")
    listed = account.get("/groups")  # listing works on every plan: see the next test
    assert (listed.status_code, listed.json()) == (200, [])


def test_an_account_that_left_pro_still_finds_and_deletes_its_groups(
    pro_account: SignedUp,
) -> None:
    created = pro_account.post("/groups", {"name": "Sales"}).json()
    pro_account.patch("/account", {"plan": "standard"})
    assert [g["id"] for g in pro_account.get("/groups").json()] == [created["id"]]
    assert_error(
        pro_account.patch(f"/groups/{created['id']}", {"name": "B2B"}), 403, "plan_lacks_feature"
    )
    assert pro_account.delete(f"/groups/{created['id']}").status_code == 204
    assert pro_account.get("/groups").json() == []


@pytest.mark.parametrize("plan", ["free", "standard"])
def test_agent_group_ids_are_pro_only(client: TestClient, plan: str) -> None:
    account = sign_up(client, plan=plan)
    agent = account.invite()
    before = group_ids_by_agent(account)

    assert_error(
        account.patch(f"/agents/{agent.agent_id}", {"group_ids": []}), 403, "plan_lacks_feature"
    )
    assert group_ids_by_agent(account) == before


# --- create, list, change, delete ------------------------------------------------------


def test_create_and_list_groups(pro_account: SignedUp) -> None:
    agent = pro_account.invite()

    response = pro_account.post("/groups", {"name": "Sales", "agent_ids": [agent.agent_id]})

    assert response.status_code == 201, response.text
    sales = response.json()
    assert sales == {"id": sales["id"], "name": "Sales", "agent_ids": [agent.agent_id]}
    support = create_group(pro_account, "Support")
    assert groups_of(pro_account) == [
        sales,
        {"id": support, "name": "Support", "agent_ids": []},
    ]
    # Members see their groups on the agent list.
    assert group_ids_by_agent(pro_account) == {
        pro_account.agent_id: [],
        agent.agent_id: [sales["id"]],
    }


def test_patch_group_name_and_members(pro_account: SignedUp) -> None:
    first = pro_account.invite()
    second = pro_account.invite()
    group_id = create_group(pro_account, "Sales", [first.agent_id])

    renamed = pro_account.patch(f"/groups/{group_id}", {"name": "Key accounts"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json() == {"id": group_id, "name": "Key accounts", "agent_ids": [first.agent_id]}

    moved = pro_account.patch(
        f"/groups/{group_id}", {"agent_ids": [second.agent_id, pro_account.agent_id]}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["agent_ids"] == sorted([pro_account.agent_id, second.agent_id])
    assert groups_of(pro_account) == [moved.json()]
    assert group_ids_by_agent(pro_account) == {
        pro_account.agent_id: [group_id],
        first.agent_id: [],
        second.agent_id: [group_id],
    }


def test_delete_group(pro_account: SignedUp) -> None:
    agent = pro_account.invite()
    keep = create_group(pro_account, "Keep", [agent.agent_id])
    gone = create_group(pro_account, "Gone", [agent.agent_id])

    response = pro_account.delete(f"/groups/{gone}")

    assert response.status_code == 204, response.text
    assert [g["id"] for g in groups_of(pro_account)] == [keep]
    assert group_ids_by_agent(pro_account)[agent.agent_id] == [keep]
    assert_error(pro_account.delete(f"/groups/{gone}"), 404, "group_not_found")


def test_deleted_group_conversations_fall_back_to_the_account(
    client: TestClient, pro_account: SignedUp
) -> None:
    group_id = create_group(pro_account, "Sales", [pro_account.agent_id])
    visitor = new_visitor(client, pro_account.widget_key)
    conversation_id = visitor.say("Hello?", group_id=group_id).json()["conversation_id"]

    assert pro_account.delete(f"/groups/{group_id}").status_code == 204

    conversation = pro_account.get(f"/conversations/{conversation_id}").json()
    assert conversation["group_id"] is None
    assert_error(visitor.say("Still there?", group_id=group_id), 404, "group_not_found")
    assert visitor.say("Still there?").status_code == 201


def test_patch_agent_group_ids_sets_membership(pro_account: SignedUp) -> None:
    agent = pro_account.invite()
    sales = create_group(pro_account, "Sales")
    support = create_group(pro_account, "Support")

    response = pro_account.patch(f"/agents/{agent.agent_id}", {"group_ids": [support, sales]})

    assert response.status_code == 200, response.text
    assert response.json()["group_ids"] == [sales, support]
    assert group_ids_by_agent(pro_account)[agent.agent_id] == [sales, support]
    assert {g["id"]: g["agent_ids"] for g in groups_of(pro_account)} == {
        sales: [agent.agent_id],
        support: [agent.agent_id],
    }

    cleared = pro_account.patch(f"/agents/{agent.agent_id}", {"group_ids": []})
    assert cleared.status_code == 200, cleared.text
    assert group_ids_by_agent(pro_account)[agent.agent_id] == []


def test_invite_into_groups(pro_account: SignedUp) -> None:
    sales = create_group(pro_account, "Sales")

    agent = pro_account.invite(group_ids=[sales])

    assert group_ids_by_agent(pro_account)[agent.agent_id] == [sales]
    assert groups_of(pro_account)[0]["agent_ids"] == [agent.agent_id]


# --- names -----------------------------------------------------------------------------


def test_duplicate_group_name_is_refused(pro_account: SignedUp) -> None:
    create_group(pro_account, "Sales")
    other = create_group(pro_account, "Support")
    before = groups_of(pro_account)

    assert_error(pro_account.post("/groups", {"name": "Sales"}), 409, "group_name_taken")
    assert_error(pro_account.post("/groups", {"name": "  Sales "}), 409, "group_name_taken")
    assert_error(pro_account.patch(f"/groups/{other}", {"name": "Sales"}), 409, "group_name_taken")
    assert groups_of(pro_account) == before


def test_group_names_are_per_account(client: TestClient, pro_account: SignedUp) -> None:
    create_group(pro_account, "Sales")
    other = sign_up(client, plan="pro")

    assert other.post("/groups", {"name": "Sales"}).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "x" * 201},
        {"name": "Two\nLines"},
        {"name": None},
        {"name": "Sales", "color": "red"},
        {"name": "Sales", "agent_ids": [0]},
        {"name": "Sales", "agent_ids": None},
    ],
)
def test_create_group_refuses_bad_input(pro_account: SignedUp, body: dict[str, Any]) -> None:
    assert_error(pro_account.post("/groups", body), 422, "invalid_input")
    assert groups_of(pro_account) == []


@pytest.mark.parametrize(
    "body", [{"name": None}, {"agent_ids": None}, {"name": "x" * 201}, {"colour": "red"}]
)
def test_patch_group_refuses_bad_input(pro_account: SignedUp, body: dict[str, Any]) -> None:
    create_group(pro_account, "Sales", [pro_account.agent_id])
    before = groups_of(pro_account)

    assert_error(pro_account.patch(f"/groups/{before[0]['id']}", body), 422, "invalid_input")
    assert groups_of(pro_account) == before


# --- who may manage groups -------------------------------------------------------------


def test_plain_agent_cannot_manage_groups(pro_account: SignedUp) -> None:
    agent = pro_account.invite()
    group_id = create_group(pro_account, "Sales")
    before = groups_of(pro_account)

    assert_error(agent.post("/groups", {"name": "Mine"}), 403, "not_a_manager")
    assert_error(agent.patch(f"/groups/{group_id}", {"name": "Mine"}), 403, "not_a_manager")
    assert_error(
        agent.patch(f"/groups/{group_id}", {"agent_ids": [agent.agent_id]}), 403, "not_a_manager"
    )
    assert_error(agent.delete(f"/groups/{group_id}"), 403, "not_a_manager")
    # It may still see them.
    assert groups_of(agent) == before
    assert groups_of(pro_account) == before


def test_admin_manages_groups(pro_account: SignedUp) -> None:
    admin = pro_account.invite(role="admin")

    group_id = create_group(admin, "Sales", [admin.agent_id])

    assert pro_account.delete(f"/groups/{group_id}").status_code == 204


# --- tenants stay apart ----------------------------------------------------------------


def test_agents_of_another_account_cannot_join_a_group(
    client: TestClient, pro_account: SignedUp
) -> None:
    other = sign_up(client, plan="pro")
    stranger = other.invite()
    group_id = create_group(pro_account, "Sales", [pro_account.agent_id])
    before = groups_of(pro_account)

    response = pro_account.post(
        "/groups", {"name": "Mixed", "agent_ids": [pro_account.agent_id, stranger.agent_id]}
    )
    assert_error(response, 404, "agent_not_found")
    response = pro_account.patch(f"/groups/{group_id}", {"agent_ids": [stranger.agent_id]})
    assert_error(response, 404, "agent_not_found")

    assert groups_of(pro_account) == before
    assert group_ids_by_agent(other)[stranger.agent_id] == []


def test_groups_of_another_account_are_not_found(client: TestClient, pro_account: SignedUp) -> None:
    theirs = create_group(pro_account, "Theirs", [pro_account.agent_id])
    other = sign_up(client, plan="pro")
    mine = create_group(other, "Mine")
    agent = other.invite()
    before = groups_of(pro_account)

    assert [g["id"] for g in groups_of(other)] == [mine]
    assert_error(other.patch(f"/groups/{theirs}", {"name": "Stolen"}), 404, "group_not_found")
    assert_error(
        other.patch(f"/groups/{theirs}", {"agent_ids": [agent.agent_id]}), 404, "group_not_found"
    )
    assert_error(other.delete(f"/groups/{theirs}"), 404, "group_not_found")
    assert_error(
        other.patch(f"/agents/{agent.agent_id}", {"group_ids": [mine, theirs]}),
        404,
        "group_not_found",
    )
    assert_error(
        other.post("/agents", {"name": "X", "email": unique_email(), "group_ids": [theirs]}),
        404,
        "group_not_found",
    )

    assert groups_of(pro_account) == before
    assert group_ids_by_agent(other) == {other.agent_id: [], agent.agent_id: []}


def test_visitor_cannot_route_to_a_group_of_another_account(
    client: TestClient, pro_account: SignedUp
) -> None:
    theirs = create_group(pro_account, "Theirs")
    other = sign_up(client, plan="pro")
    mine = create_group(other, "Mine")
    visitor = new_visitor(client, other.widget_key)

    assert_error(visitor.say("Hello?", group_id=theirs), 404, "group_not_found")
    assert other.get("/conversations", params={"folder": "unserved"}).json()["conversations"] == []

    response = visitor.say("Hello?", group_id=mine)
    assert response.status_code == 201, response.text
    conversation = other.get(f"/conversations/{response.json()['conversation_id']}").json()
    assert conversation["group_id"] == mine


def test_group_names_are_unique_without_regard_to_case(pro_account: SignedUp) -> None:
    assert pro_account.post("/groups", {"name": "Sales"}).status_code == 201
    assert_error(pro_account.post("/groups", {"name": "SALES"}), 409, "group_name_taken")
    support = pro_account.post("/groups", {"name": "Support"}).json()["id"]
    assert_error(
        pro_account.patch(f"/groups/{support}", {"name": "sales"}), 409, "group_name_taken"
    )
    renamed = pro_account.patch(f"/groups/{support}", {"name": "SUPPORT"})
    assert renamed.status_code == 200  # a group may change the case of its own name
    assert [g["name"] for g in pro_account.get("/groups").json()] == ["Sales", "SUPPORT"]
