"""The visitor side: widget status per scope, visitors, visitor messages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from frontdesk.clock import ManualClock
from frontdesk.core.presence import PresenceChange
from frontdesk.service import presence
from frontdesk.service.runtime import Runtime
from tests.support import SignedUp, assert_error, new_visitor, sign_up

# Nothing is alerting, and the account does not show its reply time.
NOBODY_TOLD_NOTHING = {"nobody_to_tell": False, "reply_within": None}


def widget_online(account: SignedUp, group_id: int | None = None) -> bool:
    params = {"group_id": group_id} if group_id else {}
    response = account.client.get(f"/api/v1/widget/{account.widget_key}/status", params=params)
    assert response.status_code == 200, response.text
    online: bool = response.json()["online"]
    return online


def go_online(agent: SignedUp, device: str = "tab") -> None:
    response = agent.put("/me/status", {"status": "online", "device_id": device})
    assert response.status_code == 200, response.text


def test_the_widget_is_online_while_some_agent_is(account: SignedUp) -> None:
    colleague = account.invite()
    assert not widget_online(account)
    go_online(colleague)
    assert widget_online(account)
    colleague.put("/me/status", {"status": "offline"})
    assert not widget_online(account)


def test_a_deactivated_agent_does_not_keep_the_widget_online(account: SignedUp) -> None:
    colleague = account.invite()
    go_online(colleague)
    account.patch(f"/agents/{colleague.agent_id}", {"active": False})
    assert not widget_online(account)


def test_a_device_that_stops_heartbeating_stops_counting(
    account: SignedUp, clock: ManualClock
) -> None:
    phone = account.post("/me/devices/phone-1/heartbeat", {"kind": "mobile", "status": "online"})
    assert phone.json()["online"] is True
    assert widget_online(account)
    clock.advance(60.5)  # agent_device_timeout is 60 s
    assert not widget_online(account)
    assert account.get("/me/status").json()["devices"][0]["online"] is False
    account.post("/me/devices/phone-1/heartbeat", {"kind": "mobile", "status": "online"})
    assert widget_online(account)


def test_web_offline_and_mobile_online_is_online(account: SignedUp) -> None:
    account.put("/me/status", {"status": "offline", "device_id": "laptop"})
    account.post("/me/devices/phone/heartbeat", {"kind": "mobile", "status": "online"})
    presence = account.get("/me/status").json()
    assert presence["online"] is True
    assert {d["device_id"]: d["status"] for d in presence["devices"]} == {
        "laptop": "offline",
        "phone": "online",
    }
    assert widget_online(account)


def test_a_pro_group_widget_follows_its_members_only(pro_account: SignedUp) -> None:
    sales_agent = pro_account.invite()
    support_agent = pro_account.invite()
    sales = pro_account.post("/groups", {"name": "Sales", "agent_ids": [sales_agent.agent_id]})
    sales_id = sales.json()["id"]
    go_online(support_agent)
    assert widget_online(pro_account)
    assert not widget_online(pro_account, sales_id)
    go_online(sales_agent)
    assert widget_online(pro_account, sales_id)


def test_a_visitor_message_may_name_a_group(pro_account: SignedUp) -> None:
    group_id = pro_account.post("/groups", {"name": "Billing"}).json()["id"]
    visitor = new_visitor(pro_account.client, pro_account.widget_key)
    conversation_id = visitor.say("invoice?", group_id=group_id).json()["conversation_id"]
    assert pro_account.get(f"/conversations/{conversation_id}").json()["group_id"] == group_id


def test_an_unknown_widget_key_is_a_404(client: TestClient) -> None:
    assert_error(client.get("/api/v1/widget/nope/status"), 404, "widget_not_found")
    assert_error(client.post("/api/v1/widget/nope/visitors", json={}), 404, "widget_not_found")


def test_a_visitor_token_works_only_with_its_own_widget(
    client: TestClient, account: SignedUp
) -> None:
    visitor = new_visitor(client, account.widget_key)
    other = sign_up(client)
    response = client.post(
        f"/api/v1/widget/{other.widget_key}/messages",
        json={"text": "hi"},
        headers=visitor.headers,
    )
    assert_error(response, 401, "invalid_visitor_token")
    assert other.get("/conversations").json()["conversations"] == []


def test_an_agent_token_is_not_a_visitor_token(account: SignedUp) -> None:
    response = account.client.post(
        f"/api/v1/widget/{account.widget_key}/messages",
        json={"text": "hi"},
        headers=account.headers,
    )
    assert_error(response, 401, "invalid_visitor_token")


@pytest.mark.parametrize(
    "fields",
    [
        {"email": "not an address"},
        {"page_url": "javascript:alert(1)"},
        {"page_url": "https://shop.example.com/" + "a" * 2100},
        {"name": "x" * 201},
        {"name": "Eve\r\nBcc: all@example.com"},
        {"cookie": "yum"},
    ],
)
def test_bad_visitor_details_are_refused(account: SignedUp, fields: dict[str, object]) -> None:
    response = account.client.post(f"/api/v1/widget/{account.widget_key}/visitors", json=fields)
    assert_error(response, 422, "invalid_input")


@pytest.mark.parametrize(
    "body",
    [
        {"text": ""},
        {"text": "x" * 10_001},
        {"text": "hi", "group_id": 0},
        {"text": "hi", "group_id": "sales"},
        {"text": 42},
    ],
)
def test_bad_visitor_messages_open_no_conversation(
    account: SignedUp, body: dict[str, object]
) -> None:
    visitor = new_visitor(account.client, account.widget_key)
    response = account.client.post(
        f"/api/v1/widget/{account.widget_key}/messages", json=body, headers=visitor.headers
    )
    assert_error(response, 422, "invalid_input")
    assert account.get("/conversations").json()["conversations"] == []


def test_a_group_of_another_account_opens_no_conversation(
    client: TestClient, pro_account: SignedUp
) -> None:
    other = sign_up(client, plan="pro")
    foreign_group = other.post("/groups", {"name": "Theirs"}).json()["id"]
    visitor = new_visitor(client, pro_account.widget_key)
    assert_error(visitor.say("hi", group_id=foreign_group), 404, "group_not_found")
    assert pro_account.get("/conversations").json()["conversations"] == []


@pytest.mark.parametrize(
    "body",
    [{"status": "busy"}, {"status": "online", "device_id": "a b"}, {"status": "online", "x": 1}],
)
def test_bad_status_changes_are_refused(account: SignedUp, body: dict[str, object]) -> None:
    assert_error(account.put("/me/status", body), 422, "invalid_input")
    assert account.get("/me/status").json()["devices"] == []


def test_the_agent_list_shows_who_is_really_online_and_on_which_device(
    account: SignedUp, clock: ManualClock
) -> None:
    """The help article: 'you were not really offline: check all devices, the mobile app
    included'."""
    colleague = account.invite()
    account.put("/me/status", {"status": "offline", "device_id": "laptop"})
    account.post("/me/devices/phone/heartbeat", {"kind": "mobile", "status": "online"})
    listed = {a["id"]: a for a in account.get("/agents").json()}
    me = listed[account.agent_id]
    assert me["online"] is True
    assert [(d["device_id"], d["kind"], d["status"], d["online"]) for d in me["devices"]] == [
        ("laptop", "web", "offline", False),
        ("phone", "mobile", "online", True),
    ]
    assert listed[colleague.agent_id]["online"] is False
    assert listed[colleague.agent_id]["devices"] == []
    clock.advance(61)
    assert account.get("/agents").json()[0]["online"] is False


def test_a_visitor_heartbeat_keeps_it_on_the_website_and_tells_the_widget_status(
    runtime: Runtime, account: SignedUp, clock: ManualClock
) -> None:
    visitor = new_visitor(account.client, account.widget_key)
    url = f"/api/v1/widget/{account.widget_key}/heartbeat"
    first = account.client.post(url, headers=visitor.headers)
    assert first.json() == {"online": False, "open": True, "back_at": None, **NOBODY_TOLD_NOTHING}
    go_online(account)
    assert account.client.post(url, headers=visitor.headers).json()["online"] is True
    start = clock.now()
    clock.advance(31)  # visitor_left_after is 30 s
    (left,) = [e for e in presence.sweep(runtime) if e.visitor_id == visitor.visitor_id]
    assert left.change is PresenceChange.VISITOR_LEFT
    assert left.at == start + timedelta(seconds=30)
    assert_error(account.client.post(url), 401, "not_authenticated")


def test_the_widget_gets_back_the_visitor_s_latest_conversation(account: SignedUp) -> None:
    visitor = new_visitor(account.client, account.widget_key)
    url = f"/api/v1/widget/{account.widget_key}/conversation"
    before = account.client.get(url, headers=visitor.headers)
    assert before.status_code == 200, before.text
    assert before.json() == {"conversation": None}

    first = visitor.say("Hello").json()
    account.post(f"/conversations/{first['conversation_id']}/messages", {"text": "Hi, Olga here"})
    shown = account.client.get(url, headers=visitor.headers).json()["conversation"]
    assert shown["conversation_id"] == first["conversation_id"]
    assert shown["status"] == "served"
    assert [(m["author"], m["text"]) for m in shown["messages"]] == [
        ("visitor", "Hello"),
        ("system", "Olga Owner joined the conversation."),
        ("agent", "Hi, Olga here"),
    ]

    account.post(f"/conversations/{first['conversation_id']}/close")
    closed = account.client.get(url, headers=visitor.headers).json()["conversation"]
    assert closed["status"] == "closed"  # still shown, until the visitor writes again
    second = visitor.say("One more thing").json()
    again = account.client.get(url, headers=visitor.headers).json()["conversation"]
    assert again["conversation_id"] == second["conversation_id"] != first["conversation_id"]
    assert [m["text"] for m in again["messages"]] == ["One more thing"]


def test_a_visitor_sees_only_its_own_conversation(account: SignedUp) -> None:
    talker = new_visitor(account.client, account.widget_key)
    talker.say("Mine")
    other = new_visitor(account.client, account.widget_key)
    url = f"/api/v1/widget/{account.widget_key}/conversation"
    assert account.client.get(url, headers=other.headers).json() == {"conversation": None}
    assert_error(account.client.get(url), 401, "not_authenticated")


def test_the_visitor_tells_its_e_mail_and_the_page_it_is_on(account: SignedUp) -> None:
    visitor = new_visitor(account.client, account.widget_key, name="Vera")
    url = f"/api/v1/widget/{account.widget_key}/visitor"
    changed = account.client.patch(
        url,
        json={"email": "vera@example.com", "page_url": "https://shop.example/cart"},
        headers=visitor.headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Vera"  # not sent, not changed
    assert changed.json()["email"] == "vera@example.com"
    conversation_id = visitor.say("Where is my parcel?").json()["conversation_id"]
    seen = account.get(f"/conversations/{conversation_id}").json()["visitor"]
    assert (seen["email"], seen["page_url"]) == ("vera@example.com", "https://shop.example/cart")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not an address"}, "email"),
        ({"page_url": "javascript:alert(1)"}, "page_url"),
        ({"email": None}, "email"),
        ({"token": "x"}, "token"),
    ],
)
def test_a_bad_visitor_change_is_refused_and_changes_nothing(
    account: SignedUp, body: dict[str, object], field: str
) -> None:
    visitor = new_visitor(account.client, account.widget_key, email="kept@example.com")
    url = f"/api/v1/widget/{account.widget_key}/visitor"
    refused = account.client.patch(url, json={"name": "Changed", **body}, headers=visitor.headers)
    error = assert_error(refused, 422, "invalid_input")
    assert field in str(error["details"])
    conversation_id = visitor.say("Hi").json()["conversation_id"]
    seen = account.get(f"/conversations/{conversation_id}").json()["visitor"]
    assert (seen["name"], seen["email"]) == (None, "kept@example.com")


def test_the_widget_s_calls_may_come_from_any_website(account: SignedUp) -> None:
    """The widget runs on the customer's site: its calls are cross-origin, and the browser
    asks first for the ones with a token."""
    url = f"/api/v1/widget/{account.widget_key}/messages"
    asked = account.client.options(
        url,
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert asked.status_code == 200, asked.text
    assert asked.headers["access-control-allow-origin"] == "*"
    assert "authorization" in asked.headers["access-control-allow-headers"].lower()
    status = account.client.get(
        f"/api/v1/widget/{account.widget_key}/status", headers={"Origin": "https://shop.example"}
    )
    assert status.headers["access-control-allow-origin"] == "*"


def test_the_agents_api_is_not_open_to_other_websites(account: SignedUp) -> None:
    asked = account.client.options(
        "/api/v1/conversations",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in asked.headers
    listed = account.client.get(
        "/api/v1/me", headers={"Origin": "https://evil.example", **account.headers}
    )
    assert "access-control-allow-origin" not in listed.headers
