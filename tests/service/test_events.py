"""Domain events: recorded on a transaction, dispatched once it commits, in order, never
when it rolls back; and every operation that changes what a dashboard shows records it,
so no route has to remember to announce anything."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from frontdesk.core.presence import PresenceChange
from frontdesk.service import events
from frontdesk.service.runtime import Runtime
from tests.support import new_visitor, sign_up


class Recorder:
    def __init__(self, runtime: Runtime, *kinds: type[Any]) -> None:
        self.seen: list[Any] = []
        self._stops = [runtime.events.subscribe(kind, self.seen.append) for kind in kinds]

    def stop(self) -> None:
        for stop in self._stops:
            stop()

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.seen if isinstance(e, kind)]


@pytest.fixture
def recorder(runtime: Runtime) -> Iterator[Recorder]:
    kinds = (
        events.PresenceChanged,
        events.VisitorMessagePosted,
        events.ConversationChanged,
        events.ConversationRead,
        events.AgentDeactivated,
        events.NotificationsDue,
    )
    recording = Recorder(runtime, *kinds)
    yield recording
    recording.stop()


def test_events_are_dispatched_after_the_commit_in_order_and_never_on_rollback(
    runtime: Runtime,
) -> None:
    seen: list[object] = []
    runtime.events.subscribe(events.AgentDeactivated, seen.append)
    first, second = events.AgentDeactivated(1, 1), events.AgentDeactivated(1, 2)
    with runtime.database.write() as session:
        runtime.record(session, first)
        runtime.record(session, second)
        assert seen == []  # not before the commit
    assert seen == [first, second]

    def rolled_back() -> None:
        with runtime.database.write() as session:
            runtime.record(session, events.AgentDeactivated(1, 3))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        rolled_back()
    assert seen == [first, second]


def test_a_failing_handler_keeps_neither_the_others_nor_the_commit_from_happening(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[object] = []

    def broken(_event: object) -> None:
        raise ValueError("broken handler")

    runtime.events.subscribe(events.AgentDeactivated, broken)
    stop = runtime.events.subscribe(events.AgentDeactivated, seen.append)
    event = events.AgentDeactivated(7, 7)
    with runtime.database.write() as session:
        runtime.record(session, event)
    assert seen == [event]
    assert "a handler of AgentDeactivated failed" in caplog.text
    stop()
    with runtime.database.write() as session:
        runtime.record(session, event)
    assert seen == [event]  # unsubscribed


def test_every_operation_records_what_dashboards_show(
    client: TestClient, recorder: Recorder
) -> None:
    owner = sign_up(client, plan="standard")
    colleague = owner.invite(name="Cyril")

    owner.put("/me/status", {"status": "online", "device_id": "tab"}).raise_for_status()
    (online,) = recorder.of(events.PresenceChanged)
    assert [(e.change, e.agent_id) for e in online.events] == [
        (PresenceChange.AGENT_ONLINE, owner.agent_id)
    ]

    visitor = new_visitor(client, owner.widget_key)
    written = visitor.say("Hello?").json()
    (posted,) = recorder.of(events.VisitorMessagePosted)
    assert (posted.posted.conversation_id, posted.posted.message_id) == (
        written["conversation_id"],
        written["message_id"],
    )
    assert [e.change for e in recorder.of(events.PresenceChanged)[-1].events] == [
        PresenceChange.VISITOR_ARRIVED
    ]

    conversation_id = written["conversation_id"]
    owner.post(f"/conversations/{conversation_id}/read").raise_for_status()
    (read,) = recorder.of(events.ConversationRead)
    assert (read.conversation_id, read.agent_id, read.up_to) == (
        conversation_id,
        owner.agent_id,
        written["message_id"],
    )

    reply = owner.post(f"/conversations/{conversation_id}/messages", {"text": "Hi!"}).json()
    owner.post(f"/conversations/{conversation_id}/close").raise_for_status()
    replied, closed = recorder.of(events.ConversationChanged)
    assert [m.author for m in replied.messages] == ["system", "agent"]  # joined, then replied
    assert replied.messages[1].id == reply["id"]
    assert replied.conversation.visitor.id == visitor.visitor_id  # what a frame shows
    assert [m.author for m in closed.messages] == ["system"]

    colleague.put("/me/status", {"status": "online", "device_id": "tab"}).raise_for_status()
    before = len(recorder.seen)
    owner.patch(f"/agents/{colleague.agent_id}", {"active": False}).raise_for_status()
    went, deactivated = recorder.seen[before:]
    assert [(e.change, e.agent_id) for e in went.events] == [
        (PresenceChange.AGENT_OFFLINE, colleague.agent_id)
    ]
    assert deactivated == events.AgentDeactivated(owner.account_id, colleague.agent_id)


def test_a_refused_operation_records_nothing(client: TestClient, recorder: Recorder) -> None:
    owner = sign_up(client)
    answer = owner.post("/conversations/999999/messages", {"text": "Hi!"})
    assert answer.status_code == 404
    assert recorder.seen == []
