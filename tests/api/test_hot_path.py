"""The visitor message served in front of FastAPI (frontdesk.api.hot): a visitor's first
message goes through FastAPI (its token is not remembered yet), the next ones through the
hot path, with the same answers, the same refusals and the widget's CORS header."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from frontdesk.api.hot import HotPaths
from tests.support import SignedUp, Visitor, assert_error, new_visitor, sign_up


def hot_paths(client: TestClient) -> HotPaths:
    served: HotPaths | None = client.app.hot_paths  # type: ignore[attr-defined]
    assert served is not None
    return served


def post(visitor: Visitor, content: bytes, **headers: str) -> Any:
    return visitor.client.post(
        f"/api/v1/widget/{visitor.widget_key}/messages",
        content=content,
        headers={"Authorization": f"Bearer {visitor.token}", **headers},
    )


@pytest.fixture
def known(client: TestClient, account: SignedUp) -> Visitor:
    """A visitor whose token this process has proven (its first message went through)."""
    visitor = new_visitor(client, account.widget_key)
    assert visitor.say("Hello?").status_code == 201
    return visitor


def test_the_next_messages_are_served_in_front_with_the_same_answer(
    client: TestClient, account: SignedUp, known: Visitor
) -> None:
    before = hot_paths(client).served
    second = known.say("Is anyone there?")
    third = known.say("Shipping to Brno?")
    assert hot_paths(client).served == before + 2
    assert second.status_code == third.status_code == 201
    assert second.headers["content-type"] == "application/json"
    assert set(second.json()) == {"conversation_id", "message_id"}
    assert second.json()["conversation_id"] == third.json()["conversation_id"]
    shown = account.get(f"/conversations/{second.json()['conversation_id']}").json()
    assert [m["text"] for m in shown["messages"]][-2:] == ["Is anyone there?", "Shipping to Brno?"]
    assert [m["id"] for m in shown["messages"]][-2:] == [
        second.json()["message_id"],
        third.json()["message_id"],
    ]


def test_the_widget_gets_its_cors_header_from_the_hot_path(known: Visitor) -> None:
    answer = post(
        known,
        b'{"text":"From the shop"}',
        **{"Content-Type": "application/json", "Origin": "https://shop.example"},
    )
    assert answer.status_code == 201
    assert answer.headers["access-control-allow-origin"] == "*"


def test_a_refusal_of_the_operation_is_the_apis_refusal(client: TestClient, known: Visitor) -> None:
    other = sign_up(client, plan="pro")
    group = other.post("/groups", {"name": "Sales"}).json()["id"]
    before = hot_paths(client).served
    answer = known.client.post(
        f"/api/v1/widget/{known.widget_key}/messages",
        json={"text": "Into their group?", "group_id": group},
        headers={**known.headers, "Origin": "https://shop.example"},
    )
    assert_error(answer, 404, "group_not_found")
    assert answer.headers["access-control-allow-origin"] == "*"
    assert hot_paths(client).served == before


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (b'{"text": "unclosed', {"Content-Type": "application/json"}, 400, "invalid_json"),
        (b'{"text": "a\\u0000b"}', {"Content-Type": "application/json"}, 422, "invalid_input"),
        (
            b'{"text": "hi", "colour": "red"}',
            {"Content-Type": "application/json"},
            422,
            "invalid_input",
        ),
        (b'{"text": ""}', {"Content-Type": "application/json"}, 422, "invalid_input"),
        (b"x" * 70_000, {"Content-Type": "application/json"}, 413, "payload_too_large"),
    ],
)
def test_what_the_hot_path_does_not_serve_fastapi_refuses_as_before(
    client: TestClient,
    known: Visitor,
    content: bytes,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    before = hot_paths(client).served
    assert_error(post(known, content, **headers), status, code)
    assert hot_paths(client).served == before


def test_an_unknown_token_or_another_widgets_key_is_refused(
    client: TestClient, account: SignedUp, known: Visitor
) -> None:
    other = sign_up(client)
    stranger = Visitor(client, account.widget_key, 0, "fdv_not-a-token")
    assert_error(stranger.say("Hi"), 401, "invalid_visitor_token")
    elsewhere = Visitor(client, other.widget_key, known.visitor_id, known.token)
    assert_error(elsewhere.say("Hi"), 401, "invalid_visitor_token")
