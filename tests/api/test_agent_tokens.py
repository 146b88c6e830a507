"""A proven agent token is remembered by the process, and stops working the moment the
agent's access changes: a logout, a deactivation, another role. (Across processes on
PostgreSQL: tests/live/test_agent_tokens.py.)"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from frontdesk.service.runtime import Runtime
from tests.support import SignedUp, assert_error, sign_up, unique_email


@pytest.fixture
def remembering(runtime: Runtime) -> Runtime:
    """As a process that hears every change of access (SQLite; PostgreSQL once its
    listener runs)."""
    runtime.agent_callers.forget_all(trusted=True)
    return runtime


def test_a_remembered_token_stops_working_at_logout(
    remembering: Runtime, account: SignedUp
) -> None:
    assert account.get("/me").status_code == 200
    assert len(remembering.agent_callers) == 1
    assert account.post("/auth/logout").status_code == 204
    assert_error(account.get("/me"), 401, "invalid_token")


def test_a_deactivated_agent_s_remembered_token_stops_working(
    remembering: Runtime, client: TestClient
) -> None:
    owner = sign_up(client, plan="standard")
    colleague = owner.invite(name="Cyril")
    assert colleague.get("/me").status_code == 200
    assert len(remembering.agent_callers) == 2
    assert owner.patch(f"/agents/{colleague.agent_id}", {"active": False}).status_code == 200
    assert_error(colleague.get("/me"), 401, "invalid_token")
    assert owner.get("/me").status_code == 200


def test_a_demoted_admin_cannot_manage_from_the_next_request(
    remembering: Runtime, client: TestClient
) -> None:
    owner = sign_up(client, plan="standard")
    admin = owner.invite(role="admin")
    invite = {"name": "New", "email": unique_email(), "password": "agent-password"}
    assert admin.post("/agents", invite).status_code == 201
    assert owner.patch(f"/agents/{admin.agent_id}", {"role": "agent"}).status_code == 200
    again = {"name": "Newer", "email": unique_email(), "password": "agent-password"}
    assert_error(admin.post("/agents", again), 403, "not_a_manager")
