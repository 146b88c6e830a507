"""A visitor's socket opening while its first message is being written: each transaction
reads the clock, and the one that read it first may commit last. The missed-conversation
rule counts the messages written at or after the visitor's arrival, so an arrival stamped
after the message it came with left the message outside "this visit", and a missed
conversation went unnoticed. Each transaction now reads the clock once it holds the
visitor's row (and, on SQLite, the write lock): commit order and time order agree for one
visitor (docs/presence.md, one clock).

The interleaving is made, not hoped for: the message's transaction is held right after it
reads the clock, and the socket's opening runs meanwhile."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select, text

from frontdesk.clock import ManualClock
from frontdesk.core.model import DeviceKind, DeviceStatus
from frontdesk.core.notifications import NotificationKind
from frontdesk.core.presence import PresenceChange
from frontdesk.security import token_digest
from frontdesk.service import presence
from frontdesk.service.accounts import authenticate_agent
from frontdesk.service.presence.sockets import VisitorSocket
from frontdesk.service.runtime import Runtime
from frontdesk.service.visitor_messages_together import _ToPost, record_visitor_messages
from frontdesk.service.widget import authenticate_visitor, create_visitor
from frontdesk.store.database import Database
from frontdesk.store.models import Conversation, Message, Notification, PresenceChangeRow
from tests.support import SignedUp, eventually, manual_clock

MESSAGE_THREAD = "the visitor's message"


class HeldClock(ManualClock):
    """A manual clock that holds the thread named ``MESSAGE_THREAD`` right after its first
    reading, until released: the transaction read the time, then lost the race to commit."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self.read = threading.Event()
        self.release = threading.Event()

    def now(self) -> datetime:
        at = super().now()
        if threading.current_thread().name == MESSAGE_THREAD and not self.read.is_set():
            self.read.set()
            assert self.release.wait(timeout=20), "never released"
        return at


@pytest.fixture
def clock() -> HeldClock:
    return HeldClock(manual_clock().now())


def waits_for_a_lock(database: Database) -> bool:
    """Whether a transaction of this test waits for another's lock: PostgreSQL's row lock,
    or this process's turn to write to SQLite."""
    if database.is_sqlite:
        assert database._write_turn is not None
        return database._write_turn.waiting > 0
    with database.read() as session:
        waiting = session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return bool(waiting)


def in_thread(name: str, work: Any) -> tuple[threading.Thread, list[BaseException]]:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:
            failures.append(error)

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread, failures


def test_a_socket_opening_during_the_first_message_keeps_the_message_in_the_visit(
    runtime: Runtime, account: SignedUp, clock: HeldClock
) -> None:
    rt = runtime
    owner = authenticate_agent(rt, account.token)
    presence.heartbeat(
        rt, owner, device_key="laptop", kind=DeviceKind.WEB, status=DeviceStatus.ONLINE
    )
    made = create_visitor(rt, account.widget_key, name="Vera", email=None, page_url="/")
    visitor = authenticate_visitor(rt, account.widget_key, made.token)
    item = _ToPost(
        rt=rt,
        text="Is the teapot in stock?",
        group_id=None,
        caller=visitor,
        widget_key=account.widget_key,
        digest=token_digest(made.token),
    )

    def write_the_message() -> None:
        with rt.database.write() as session:
            record_visitor_messages(session, [item])

    message, message_failed = in_thread(MESSAGE_THREAD, write_the_message)
    assert clock.read.wait(timeout=10)
    clock.advance(0.001)  # the socket's transaction reads the clock a millisecond later
    socket_done = threading.Event()

    def open_the_socket() -> None:
        presence.sockets_changed(rt, [VisitorSocket(visitor)])
        socket_done.set()

    opening, opening_failed = in_thread("the visitor's socket", open_the_socket)
    # The socket's opening commits first, or waits for the message's transaction (which
    # holds the visitor, having read the clock only then).
    eventually(
        lambda: socket_done.is_set() or waits_for_a_lock(rt.database),
        interval=0.01,
        what="the socket's opening done, or waiting for the message",
    )
    clock.release.set()
    message.join(timeout=20)
    opening.join(timeout=20)
    assert (message_failed, opening_failed) == ([], [])

    with rt.database.read() as session:
        (written,) = session.scalars(
            select(Message.created_at)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.visitor_id == visitor.visitor_id)
        ).all()
        arrivals = session.scalars(
            select(PresenceChangeRow.at).where(
                PresenceChangeRow.visitor_id == visitor.visitor_id,
                PresenceChangeRow.change == PresenceChange.VISITOR_ARRIVED,
            )
        ).all()
    assert arrivals, "the visitor's arrival was recorded"
    assert max(arrivals) <= written, (arrivals, written)

    # The visitor leaves unserved while the owner is online: a missed conversation.
    clock.advance(rt.settings.visitor_left_after + rt.settings.visitor_seen_coalesce + 1)
    presence.heartbeat(
        rt, owner, device_key="laptop", kind=DeviceKind.WEB, status=DeviceStatus.ONLINE
    )
    presence.sweep(rt)
    with rt.database.read() as session:
        kinds = session.scalars(
            select(Notification.kind).where(Notification.account_id == account.account_id)
        ).all()
    assert NotificationKind.MISSED_CONVERSATION in kinds, kinds
