"""Rule 2 on SQLite, a chunk a transaction: an agent coming online calls off the first
CALL_OFF_CHUNK of the account's offline notifications with their presence, and this
process's engine the rest, each with the moment the agent came online. What a chunk never
reaches (no engine ran, the process died) is decided suppressed at its due time all the
same. On PostgreSQL, one statement calls off all of them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from frontdesk.clock import ManualClock
from frontdesk.core.model import DeviceStatus
from frontdesk.core.notifications import NotificationKind, NotificationState, SuppressedBecause
from frontdesk.service import notifications, presence
from frontdesk.service.accounts import authenticate_agent
from frontdesk.service.notifications import opening
from frontdesk.service.runtime import Runtime
from frontdesk.store.models import Notification
from tests.support import SignedUp, new_visitor, sign_up
from tests.support.live import (
    LiveServer,
    decisions,
    live_sign_up,
    new_live_visitor,
)
from tests.support.waiting import eventually

CHUNK = 2
CALLED_OFF = (NotificationState.SUPPRESSED, SuppressedBecause.AGENT_CAME_ONLINE)
SCHEDULED = (NotificationState.SCHEDULED, None)


@pytest.fixture
def engine_overrides() -> dict[str, Any]:
    return {"offline_email_delay": 60}  # nothing falls due before the chunks come


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(opening, "CALL_OFF_CHUNK", CHUNK)


@contextmanager
def engine_listening(runtime: Runtime) -> Iterator[None]:
    """As while this process's engine runs: the bell its call-off loop waits on is attached
    (the test then takes the loop's steps itself, with ``continue_call_off``)."""
    loop = asyncio.new_event_loop()

    async def attach() -> None:
        runtime.call_offs_bell.attach()

    loop.run_until_complete(attach())
    try:
        yield
    finally:
        runtime.call_offs_bell.detach()
        runtime.call_offs.clear()
        loop.close()


def written(client: TestClient, owner: SignedUp, count: int) -> list[int]:
    """``count`` visitors write once each: as many offline notifications, oldest first."""
    return [
        new_visitor(client, owner.widget_key).say(f"Question {n}").json()["conversation_id"]
        for n in range(count)
    ]


def states(runtime: Runtime, conversation_ids: list[int]) -> list[tuple[object, object]]:
    return [(state, reason) for state, reason, _ in outcomes(runtime, conversation_ids)]


def outcomes(
    runtime: Runtime, conversation_ids: list[int]
) -> list[tuple[NotificationState, SuppressedBecause | None, datetime | None]]:
    with runtime.database.read() as session:
        rows = session.execute(
            select(Notification.state, Notification.reason, Notification.decided_at)
            .where(
                Notification.conversation_id.in_(conversation_ids),
                Notification.kind == NotificationKind.OFFLINE_MESSAGE,
            )
            .order_by(Notification.id)
        ).all()
    return [(state, reason, decided_at) for state, reason, decided_at in rows]


def come_online(runtime: Runtime, owner: SignedUp, status: DeviceStatus) -> datetime:
    presence.set_status(
        runtime, authenticate_agent(runtime, owner.token), status=status, device_key="tab"
    )
    return runtime.clock.now()


def test_the_engine_calls_off_the_rest_a_chunk_a_transaction_with_the_moment_she_came(
    runtime: Runtime, client: TestClient, clock: ManualClock
) -> None:
    owner = sign_up(client)
    conversations = written(client, owner, 5)
    clock.advance(1)
    with engine_listening(runtime):
        came = come_online(runtime, owner, DeviceStatus.ONLINE)
        if runtime.database.is_postgresql:  # one statement, no chunks
            assert states(runtime, conversations) == [CALLED_OFF] * 5
            assert not runtime.call_offs
            return
        assert states(runtime, conversations) == [CALLED_OFF] * 2 + [SCHEDULED] * 3
        assert len(runtime.call_offs) == 1
        clock.advance(1)  # the engine's chunks come later, with her moment all the same
        assert notifications.continue_call_off(runtime) == CHUNK
        assert states(runtime, conversations) == [CALLED_OFF] * 4 + [SCHEDULED]
        assert notifications.continue_call_off(runtime) == 1
        assert not runtime.call_offs
        assert notifications.continue_call_off(runtime) == 0
    assert outcomes(runtime, conversations) == [(*CALLED_OFF, came)] * 5


def test_what_no_chunk_reached_is_decided_suppressed_at_its_due_time(
    runtime: Runtime, client: TestClient, clock: ManualClock
) -> None:
    """No engine ran in the process that recorded her (it died, say): the rest stays
    scheduled, and the decision at the due time reads her online moment from the history,
    though she has gone again by then."""
    owner = sign_up(client)
    conversations = written(client, owner, 5)
    clock.advance(1)
    come_online(runtime, owner, DeviceStatus.ONLINE)
    clock.advance(1)
    come_online(runtime, owner, DeviceStatus.OFFLINE)
    assert not runtime.call_offs
    left = 3 if runtime.database.is_sqlite else 0
    assert states(runtime, conversations) == [CALLED_OFF] * (5 - left) + [SCHEDULED] * left
    clock.advance(runtime.settings.offline_email_delay)
    decided = 0
    while batch := notifications.decide_due(runtime):
        decided += batch
    assert decided >= left  # besides what earlier tests left due on a shared database
    assert states(runtime, conversations) == [CALLED_OFF] * 5


def test_a_later_chunk_leaves_what_was_opened_after_she_came_online(
    runtime: Runtime, client: TestClient, clock: ManualClock
) -> None:
    """She comes and goes before the engine's chunks: a visitor writing meanwhile opens a
    notification that her coming online did not call off, and no chunk does."""
    owner = sign_up(client)
    conversations = written(client, owner, 5)
    with engine_listening(runtime):
        clock.advance(1)
        come_online(runtime, owner, DeviceStatus.ONLINE)
        clock.advance(1)
        come_online(runtime, owner, DeviceStatus.OFFLINE)
        clock.advance(1)
        later = written(client, owner, 1)
        while runtime.call_offs:
            notifications.continue_call_off(runtime)
    assert states(runtime, conversations) == [CALLED_OFF] * 5
    assert states(runtime, later) == [SCHEDULED]


def test_a_running_engine_finishes_the_call_off_over_http(engine_server: LiveServer) -> None:
    """A real server: the owner's PUT /me/status answers after the first chunk, and the
    server's engine calls off the rest, every one decided at the moment she came online,
    long before its due time (``engine_overrides``)."""
    server = engine_server
    owner = live_sign_up(server)
    conversations = [
        new_live_visitor(server, owner.widget_key).say(f"Question {n}")["conversation_id"]
        for n in range(5)
    ]
    answer = owner.call("PUT", "/me/status", {"status": "online", "device_id": "tab"})
    assert answer.status_code == 200, answer.text

    def all_called_off() -> list[dict[str, Any]]:
        found = [
            n
            for c in conversations
            for n in decisions(owner, c)
            if n["kind"] == "offline_message"  # not the visitors' missed conversations
        ]
        assert [(n["state"], n["reason"]) for n in found] == [
            ("suppressed", "agent_came_online")
        ] * 5, found
        return found

    found = eventually(all_called_off, timeout=10, what="the rest called off")
    assert len({n["decided_at"] for n in found}) == 1
    assert all(n["decided_at"] < n["due_at"] for n in found)
    assert not server.runtime.call_offs
