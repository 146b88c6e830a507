"""A visitor message sent again with its ``Idempotency-Key`` (docs/api.md): a client that
lost the answer (the server killed after its commit, a connection cut) retries, and the
message is stored once. In front of FastAPI (frontdesk.api.hot) and through its route."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from frontdesk.service.runtime import Runtime, VisitorCaller
from frontdesk.service.visitor_messages import Replayed
from frontdesk.service.visitor_messages_together import _ToPost, record_visitor_messages
from frontdesk.store.models import Conversation, Message
from tests.api.test_hot_path import hot_paths
from tests.support import SignedUp, Visitor, assert_error, new_visitor

KEY = "5f0c2a8e-7d1b-4a57-9a4e-2f1b8c3d9e60"


def say(visitor: Visitor, text: str, key: str | None, *, chunked: bool = False) -> Any:
    """The widget's POST; ``chunked``: a body without a length, which the hot path leaves
    to FastAPI's route."""
    body = b'{"text": "%s"}' % text.encode()

    def pieces() -> Iterator[bytes]:
        yield body

    headers = {**visitor.headers, "Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return visitor.client.post(
        f"/api/v1/widget/{visitor.widget_key}/messages",
        content=pieces() if chunked else body,
        headers=headers,
    )


def stored(runtime: Runtime, visitor: Visitor) -> list[str]:
    with runtime.database.read() as session:
        return list(
            session.scalars(
                select(Message.text)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Conversation.visitor_id == visitor.visitor_id)
                .order_by(Message.id)
            )
        )


@pytest.mark.parametrize("chunked", [False, True], ids=["hot path", "FastAPI's route"])
def test_a_message_sent_again_with_its_key_is_stored_once(
    client: TestClient, account: SignedUp, runtime: Runtime, chunked: bool
) -> None:
    vera = new_visitor(client, account.widget_key)
    served_before = hot_paths(client).served
    first = say(vera, "Is the teapot in stock?", KEY, chunked=chunked)
    again = say(vera, "Is the teapot in stock?", KEY, chunked=chunked)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert stored(runtime, vera) == ["Is the teapot in stock?"]
    assert hot_paths(client).served == served_before + (0 if chunked else 2)
    # Without a key, or with another, the same words are another message.
    assert say(vera, "Is the teapot in stock?", None).status_code == 201
    assert say(vera, "Is the teapot in stock?", KEY + "-2").status_code == 201
    assert len(stored(runtime, vera)) == 3


def test_a_key_is_each_visitors_own(
    client: TestClient, account: SignedUp, runtime: Runtime
) -> None:
    vera, ken = new_visitor(client, account.widget_key), new_visitor(client, account.widget_key)
    assert say(vera, "Hello?", KEY).status_code == 201
    answered = say(ken, "Hello?", KEY)
    assert answered.status_code == 201
    assert "idempotent-replayed" not in answered.headers
    assert (stored(runtime, vera), stored(runtime, ken)) == (["Hello?"], ["Hello?"])


@pytest.mark.parametrize("chunked", [False, True], ids=["hot path", "FastAPI's route"])
def test_a_key_sent_again_with_other_words_is_refused(
    client: TestClient, account: SignedUp, runtime: Runtime, chunked: bool
) -> None:
    vera = new_visitor(client, account.widget_key)
    assert say(vera, "Hello?", KEY).status_code == 201
    assert_error(say(vera, "Goodbye?", KEY, chunked=chunked), 409, "idempotency_key_reused")
    assert stored(runtime, vera) == ["Hello?"]


@pytest.mark.parametrize("key", ["", "x" * 101, "with space", "ключ"])
def test_a_malformed_key_is_refused_and_nothing_stored(
    client: TestClient, account: SignedUp, runtime: Runtime, key: str
) -> None:
    vera = new_visitor(client, account.widget_key)
    answered = vera.client.post(
        f"/api/v1/widget/{vera.widget_key}/messages",
        json={"text": "Hello?"},
        headers=[
            (b"authorization", f"Bearer {vera.token}".encode()),
            (b"idempotency-key", key.encode()),
        ],
    )
    assert_error(answered, 422, "invalid_input")
    assert stored(runtime, vera) == []


def test_two_copies_in_one_group_commit_are_one_message(
    client: TestClient, account: SignedUp, runtime: Runtime
) -> None:
    """A retry that arrives while the first is still in its transaction's batch: the second
    runs after the first in the same transaction, and finds it."""
    vera = new_visitor(client, account.widget_key)
    assert say(vera, "First", None).status_code == 201
    caller = VisitorCaller(visitor_id=vera.visitor_id, account_id=account.account_id)
    items = [
        _ToPost(rt=runtime, text="Twice?", group_id=None, caller=caller, idempotency_key=KEY)
        for _ in range(2)
    ]
    with runtime.database.write() as session:
        first, second = record_visitor_messages(session, items)
    assert first is not None
    assert not isinstance(first, Replayed)
    assert second == Replayed(first.conversation_id, first.message_id)
    assert stored(runtime, vera) == ["First", "Twice?"]
    with runtime.database.read() as session:
        keyed = session.scalar(
            select(func.count())
            .select_from(Message)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.idempotency_key == KEY, Conversation.visitor_id == vera.visitor_id)
        )
    assert keyed == 1
