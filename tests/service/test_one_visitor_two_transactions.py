"""On PostgreSQL two transactions may hold messages of one visitor at once: two serve
processes, or two group-commit batches of one process that name the visitor differently (by
a token not proven yet, and by a proven caller). Each locks the visitor's row before it
looks for the visitor's open conversation, so the second waits for the first and writes
into the conversation the first opened: a visitor's first two messages never open two.
(SQLite has one writer at a time.)"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from frontdesk.core.model import Plan
from frontdesk.security import PasswordHasher, token_digest
from frontdesk.service import accounts, visitor_messages, widget
from frontdesk.service.accounts import NewAgent
from frontdesk.service.runtime import Runtime
from frontdesk.service.visitor_messages_together import _ToPost, record_visitor_messages
from frontdesk.settings import Settings
from frontdesk.store.database import Database
from frontdesk.store.migrate import upgrade
from frontdesk.store.models import Conversation, Message
from tests.support import eventually, manual_clock, unique_email

pytestmark = pytest.mark.postgres


@pytest.fixture
def postgresql_runtime(
    postgres_url: str, tmp_path: Path, passwords: PasswordHasher
) -> Iterator[Runtime]:
    database = Database(postgres_url)
    upgrade(database)
    settings = Settings(database_url=postgres_url, password_hashing="fast", data_dir=tmp_path)
    yield Runtime(settings=settings, database=database, clock=manual_clock(), passwords=passwords)
    database.dispose()


def someone_waits_for_a_lock(database: Database) -> bool:
    with database.read() as session:
        waiting = session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return bool(waiting)


@pytest.mark.parametrize("second", ["alone", "together, by token"])
def test_a_visitors_first_messages_in_two_transactions_open_one_conversation(
    postgresql_runtime: Runtime, second: str
) -> None:
    rt = postgresql_runtime
    signed = accounts.sign_up(
        rt,
        name="Shop",
        plan=Plan.STANDARD,
        owner=NewAgent(name="Olga", email=unique_email("owner"), password="steep-the-oolong-4"),
    )
    key = signed.account.widget_key
    made = widget.create_visitor(rt, key, name="V", email=None, page_url="/")
    caller = widget.authenticate_visitor(rt, key, made.token)
    finished = threading.Event()
    failures: list[BaseException] = []

    def the_second_transaction() -> None:
        try:
            with rt.database.write() as session:
                if second == "alone":
                    visitor_messages.record_visitor_message(
                        session, rt, caller, text="two", group_id=None
                    )
                else:
                    item = _ToPost(
                        rt=rt,
                        text="two",
                        group_id=None,
                        widget_key=key,
                        digest=token_digest(made.token),
                    )
                    record_visitor_messages(session, [item])
        except BaseException as error:
            failures.append(error)
        finally:
            finished.set()

    thread = threading.Thread(target=the_second_transaction)
    with rt.database.write() as session:
        visitor_messages.record_visitor_message(session, rt, caller, text="one", group_id=None)
        # The first transaction, its conversation opened and not committed yet, stays open
        # until the second one has either finished or waits for it.
        thread.start()
        eventually(
            lambda: finished.is_set() or someone_waits_for_a_lock(rt.database),
            timeout=10,
            interval=0.01,
            what="the second transaction done or waiting for the first",
        )
    thread.join(timeout=10)
    assert finished.is_set()
    assert failures == []
    with rt.database.read() as session:
        conversations = session.scalars(
            select(Conversation.id).where(Conversation.visitor_id == caller.visitor_id)
        ).all()
        texts = session.scalars(
            select(Message.text)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.visitor_id == caller.visitor_id)
            .order_by(Message.id)
        ).all()
    assert len(conversations) == 1
    assert texts == ["one", "two"]
