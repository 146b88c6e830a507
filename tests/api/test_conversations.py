"""The dashboard folders and the conversation lifecycle: a visitor writes, an agent reads,
joins, replies, closes."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from frontdesk.clock import ManualClock
from tests.support import SignedUp, assert_error, new_visitor, sign_up


def folder(agent: SignedUp, name: str) -> list[int]:
    response = agent.get("/conversations", params={"folder": name})
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["conversations"]]


def open_conversation(account: SignedUp, text: str = "Hello?", **visitor: Any) -> int:
    conversation_id: int = (
        new_visitor(account.client, account.widget_key, **visitor)
        .say(text)
        .json()["conversation_id"]
    )
    return conversation_id


def test_a_visitor_message_lands_in_unserved_with_the_visitor_details(account: SignedUp) -> None:
    visitor = new_visitor(
        account.client,
        account.widget_key,
        name="Vera Visitor",
        email="vera@example.com",
        page_url="https://shop.example.com/cart",
    )
    posted = visitor.say("Do you ship to Brno?").json()
    listed = account.get("/conversations", params={"folder": "unserved"}).json()["conversations"]
    (conversation,) = [c for c in listed if c["id"] == posted["conversation_id"]]
    assert conversation["status"] == "unserved"
    assert conversation["unread"] is True
    assert conversation["visitor"] == {
        "id": visitor.visitor_id,
        "name": "Vera Visitor",
        "email": "vera@example.com",
        "page_url": "https://shop.example.com/cart",
        "on_website": True,  # writing is a sign of life
    }
    assert conversation["last_message"]["text"] == "Do you ship to Brno?"
    assert conversation["last_message"]["id"] == posted["message_id"]


def test_later_messages_join_the_open_conversation(account: SignedUp) -> None:
    visitor = new_visitor(account.client, account.widget_key)
    first = visitor.say("one").json()
    second = visitor.say("two").json()
    assert first["conversation_id"] == second["conversation_id"]
    texts = [
        m["text"]
        for m in account.get(f"/conversations/{first['conversation_id']}").json()["messages"]
    ]
    assert texts == ["one", "two"]


def test_join_moves_it_to_mine_and_to_served_for_the_others(account: SignedUp) -> None:
    colleague = account.invite()
    conversation_id = open_conversation(account)
    joined = colleague.post(f"/conversations/{conversation_id}/join")
    assert joined.status_code == 200
    assert joined.json()["status"] == "served"
    assert joined.json()["assignee_id"] == colleague.agent_id
    assert conversation_id in folder(colleague, "mine")
    assert conversation_id in folder(account, "served")
    assert conversation_id not in folder(account, "unserved")
    assert conversation_id not in folder(account, "mine")


def test_joining_twice_is_harmless_but_another_agent_cannot_take_it(account: SignedUp) -> None:
    colleague = account.invite()
    conversation_id = open_conversation(account)
    assert account.post(f"/conversations/{conversation_id}/join").status_code == 200
    assert account.post(f"/conversations/{conversation_id}/join").status_code == 200
    assert_error(colleague.post(f"/conversations/{conversation_id}/join"), 409, "already_served")
    detail = account.get(f"/conversations/{conversation_id}").json()
    assert detail["assignee_id"] == account.agent_id
    assert [m["author"] for m in detail["messages"]] == ["visitor", "system"]


def test_a_reply_joins_an_unserved_conversation_and_counts_as_read(
    account: SignedUp, clock: ManualClock
) -> None:
    conversation_id = open_conversation(account)
    clock.advance(5)
    reply = account.post(f"/conversations/{conversation_id}/messages", {"text": "Yes, we do."})
    assert reply.status_code == 201
    assert reply.json()["author"] == "agent"
    assert reply.json()["agent_id"] == account.agent_id
    detail = account.get(f"/conversations/{conversation_id}").json()
    assert detail["folder"] == "mine"
    assert detail["unread"] is False
    assert detail["last_read_message_id"] == reply.json()["id"]
    assert [m["author"] for m in detail["messages"]] == ["visitor", "system", "agent"]
    times = [m["created_at"] for m in detail["messages"]]
    assert times == sorted(times)


def test_reading_marks_everything_up_to_the_newest_and_never_moves_back(
    account: SignedUp,
) -> None:
    visitor = new_visitor(account.client, account.widget_key)
    first = visitor.say("one").json()
    second = visitor.say("two").json()
    conversation_id = first["conversation_id"]
    read = account.post(f"/conversations/{conversation_id}/read")
    assert read.json() == {"last_read_message_id": second["message_id"]}
    back = account.post(
        f"/conversations/{conversation_id}/read", {"message_id": first["message_id"]}
    )
    assert back.json() == {"last_read_message_id": second["message_id"]}
    assert account.get(f"/conversations/{conversation_id}").json()["unread"] is False
    visitor.say("three")
    assert account.get(f"/conversations/{conversation_id}").json()["unread"] is True


def test_read_marks_are_per_agent(account: SignedUp) -> None:
    colleague = account.invite()
    conversation_id = open_conversation(account)
    account.post(f"/conversations/{conversation_id}/read")
    assert account.get(f"/conversations/{conversation_id}").json()["unread"] is False
    assert colleague.get(f"/conversations/{conversation_id}").json()["unread"] is True


def test_reading_up_to_a_message_of_another_conversation_is_refused(account: SignedUp) -> None:
    one = open_conversation(account)
    other_message = new_visitor(account.client, account.widget_key).say("x").json()["message_id"]
    response = account.post(f"/conversations/{one}/read", {"message_id": other_message})
    assert_error(response, 404, "message_not_found")
    assert account.get(f"/conversations/{one}").json()["last_read_message_id"] is None


def test_close_then_the_visitor_opens_a_new_conversation(account: SignedUp) -> None:
    visitor = new_visitor(account.client, account.widget_key)
    first = visitor.say("hi").json()["conversation_id"]
    closed = account.post(f"/conversations/{first}/close")
    assert closed.json()["status"] == "closed"
    assert closed.json()["closed_at"] is not None
    assert first in folder(account, "closed")
    assert account.post(f"/conversations/{first}/close").status_code == 200  # idempotent
    assert_error(
        account.post(f"/conversations/{first}/messages", {"text": "late"}),
        409,
        "conversation_closed",
    )
    assert_error(account.post(f"/conversations/{first}/join"), 409, "conversation_closed")
    second = visitor.say("me again").json()["conversation_id"]
    assert second != first
    assert second in folder(account, "unserved")


def test_folders_are_newest_first_and_page(account: SignedUp, clock: ManualClock) -> None:
    ids = []
    for _ in range(3):
        ids.append(open_conversation(account))
        clock.advance(1)
    assert folder(account, "unserved") == ids[::-1]
    page = account.get("/conversations", params={"folder": "unserved", "limit": 2, "offset": 1})
    assert [c["id"] for c in page.json()["conversations"]] == ids[1::-1]


def test_another_account_sees_none_of_it(client: TestClient, account: SignedUp) -> None:
    conversation_id = open_conversation(account)
    stranger = sign_up(client)
    for method, path in [
        ("get", f"/conversations/{conversation_id}"),
        ("post", f"/conversations/{conversation_id}/read"),
        ("post", f"/conversations/{conversation_id}/join"),
        ("post", f"/conversations/{conversation_id}/close"),
    ]:
        assert_error(getattr(stranger, method)(path), 404, "conversation_not_found")
    assert_error(
        stranger.post(f"/conversations/{conversation_id}/messages", {"text": "mine now"}),
        404,
        "conversation_not_found",
    )
    assert folder(stranger, "unserved") == []
    detail = account.get(f"/conversations/{conversation_id}").json()
    assert detail["status"] == "unserved"
    assert len(detail["messages"]) == 1


@pytest.mark.parametrize(
    "params",
    [{"folder": "spam"}, {"limit": 0}, {"limit": 201}, {"offset": -1}],
)
def test_bad_folder_queries_are_refused(account: SignedUp, params: dict[str, object]) -> None:
    assert_error(account.get("/conversations", params=params), 422, "invalid_input")


@pytest.mark.parametrize(
    "body",
    [
        {"text": ""},
        {"text": "   \n "},
        {"text": "x" * 10_001},
        {"text": "a\x00b"},
        {},
        {"txt": "x"},
    ],
)
def test_bad_replies_change_nothing(account: SignedUp, body: dict[str, object]) -> None:
    conversation_id = open_conversation(account)
    response = account.post(f"/conversations/{conversation_id}/messages", body)
    assert_error(response, 422, "invalid_input")
    detail = account.get(f"/conversations/{conversation_id}").json()
    assert detail["status"] == "unserved"  # the failed reply did not join either
    assert len(detail["messages"]) == 1


def test_a_reply_of_exactly_the_maximum_length_is_kept_whole(account: SignedUp) -> None:
    conversation_id = open_conversation(account)
    text = "ž" * 10_000
    assert (
        account.post(f"/conversations/{conversation_id}/messages", {"text": text}).status_code
        == 201
    )
    assert account.get(f"/conversations/{conversation_id}").json()["messages"][-1]["text"] == text


def test_the_messages_of_a_conversation_come_in_pages_newest_first(account: SignedUp) -> None:
    visitor = new_visitor(account.client, account.widget_key)
    ids = [visitor.say(f"message {n}").json()["message_id"] for n in range(7)]
    conversation_id = visitor.say("last").json()["conversation_id"]
    ids.append(account.get(f"/conversations/{conversation_id}").json()["messages"][-1]["id"])

    def page(**params: Any) -> dict[str, Any]:
        response = account.get(f"/conversations/{conversation_id}", params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    everything = page()
    assert [m["id"] for m in everything["messages"]] == ids
    assert everything["has_earlier"] is False
    newest = page(limit=3)
    assert [m["id"] for m in newest["messages"]] == ids[-3:]
    assert newest["has_earlier"] is True
    before = page(limit=3, before=ids[-3])
    assert [m["id"] for m in before["messages"]] == ids[-6:-3]
    assert before["has_earlier"] is True
    first = page(limit=3, before=ids[-6])
    assert [m["id"] for m in first["messages"]] == ids[:2]
    assert first["has_earlier"] is False
    for bad in ({"limit": 0}, {"limit": 501}, {"before": 0}, {"before": "x"}):
        assert_error(
            account.get(f"/conversations/{conversation_id}", params=bad), 422, "invalid_input"
        )
