"""The notification log over HTTP: what it shows, to whom, and what it refuses (docs/spec.md section
6). The engine itself is tested in tests/engine; here nothing runs in the background, so
notifications stay as the visitor's message opened them until the manual clock says so."""

from __future__ import annotations

from fastapi.testclient import TestClient

from frontdesk.clock import ManualClock
from frontdesk.service import notifications
from frontdesk.service.runtime import Runtime
from tests.support import SignedUp, new_visitor, sign_up


def test_a_visitor_message_opens_a_scheduled_offline_notification(
    client: TestClient, account: SignedUp
) -> None:
    visitor = new_visitor(client, account.widget_key)
    posted = visitor.say("Hello?").json()
    response = account.get("/notifications", params={"conversation_id": posted["conversation_id"]})
    assert response.status_code == 200
    (notification,) = response.json()["notifications"]
    assert notification["kind"] == "offline_message"
    assert notification["state"] == "scheduled"
    assert notification["reason"] is None
    assert notification["message_ids"] == [posted["message_id"]]
    assert notification["recipients"] == []
    assert notification["decided_at"] is None
    assert notification["for_agent"] is None


def test_the_decision_is_told_to_each_agent(
    client: TestClient, account: SignedUp, runtime: Runtime, clock: ManualClock
) -> None:
    colleague = account.invite()
    colleague.patch("/me/notifications", {"offline_message_email": False})
    conversation_id = new_visitor(client, account.widget_key).say("Hi").json()["conversation_id"]
    clock.advance(runtime.settings.offline_email_delay)
    assert notifications.decide_due(runtime) >= 1
    (mine,) = account.get(
        "/notifications",
        params={"conversation_id": conversation_id, "agent_id": account.agent_id},
    ).json()["notifications"]
    assert mine["state"] == "sent"
    assert mine["for_agent"]["text"] == "It is being sent to you."
    (theirs,) = colleague.get(
        "/notifications",
        params={"conversation_id": conversation_id, "agent_id": colleague.agent_id},
    ).json()["notifications"]
    assert "switched this kind of e-mail off" in theirs["for_agent"]["text"]


def test_another_account_sees_nothing_of_it(client: TestClient, account: SignedUp) -> None:
    conversation_id = new_visitor(client, account.widget_key).say("Hi").json()["conversation_id"]
    stranger = sign_up(client)
    response = stranger.get("/notifications", params={"conversation_id": conversation_id})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "conversation_not_found"
    response = stranger.get("/notifications", params={"agent_id": account.agent_id})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "agent_not_found"
    assert stranger.get("/notifications").json() == {"notifications": []}


def test_bad_queries_are_refused(client: TestClient, account: SignedUp) -> None:
    for params in ({"conversation_id": 0}, {"limit": 0}, {"limit": 501}, {"agent_id": "x"}):
        response = account.get("/notifications", params=params)
        assert response.status_code == 422, params
        assert response.json()["error"]["code"] == "invalid_input"
    assert client.get("/api/v1/notifications").status_code == 401
