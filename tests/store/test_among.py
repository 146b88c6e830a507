"""``among(column, ids)`` on both backends: the rows ``IN`` would select, with one statement
text for any number of ids (frontdesk.store.among)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select, update

from frontdesk.core.model import Plan
from frontdesk.store.among import among, among_texts
from frontdesk.store.database import Database
from frontdesk.store.models import Account


@contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    """The SQL texts sent to the driver while inside."""
    sent: list[str] = []

    def record(*args: object) -> None:
        sent.append(str(args[2]))

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(database.engine, "before_cursor_execute", record)


def test_it_selects_what_in_selects_with_one_text_for_any_number_of_ids(
    database: Database,
) -> None:
    prefix = f"among-{uuid.uuid4().hex}-"
    at = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
    with database.write() as session:
        accounts = [
            Account(
                name=f"Shop {n}",
                plan=Plan.PRO if n % 2 else Plan.FREE,
                widget_key=f"{prefix}{n}",
                created_at=at,
            )
            for n in range(40)
        ]
        session.add_all(accounts)
        session.flush()
        ids = [a.id for a in accounts]
    asked_lists = [[], ids[:1], ids[:7], [*ids[3:30], ids[3], 2**40], ids]
    with statements(database) as sent, database.read() as session:
        for asked in asked_lists:
            found = session.scalars(
                select(Account.id)
                .where(among(Account.id, asked), Account.plan == Plan.PRO)
                .order_by(Account.id)
            ).all()
            expected = session.scalars(
                select(Account.id)
                .where(Account.id.in_(asked), Account.plan == Plan.PRO)
                .order_by(Account.id)
            ).all()
            assert found == expected
            assert len(found) == sum(1 for i in set(asked) if i in ids[1::2])
    texts = {text for text in sent if "json_each" in text or "ANY" in text}
    assert len(texts) == 1, texts
    (text,) = texts
    assert "= 1" not in text  # a condition of its own, not a value compared with true


def test_it_works_inside_orm_statements_and_updates(database: Database) -> None:
    prefix = f"among-{uuid.uuid4().hex}-"
    at = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
    with database.write() as session:
        accounts = [
            Account(name=f"Shop {n}", plan=Plan.FREE, widget_key=f"{prefix}{n}", created_at=at)
            for n in range(5)
        ]
        session.add_all(accounts)
        session.flush()
        ids = [a.id for a in accounts]
        chosen = session.scalars(select(Account).where(among(Account.id, ids[1:3]))).all()
        for account in chosen:
            account.name = "Renamed"
    with database.read() as session:
        names = dict(
            session.execute(select(Account.id, Account.name).where(among(Account.id, ids))).all()
        )
    assert sorted(names) == ids
    assert [i for i, name in names.items() if name == "Renamed"] == ids[1:3]


def test_texts_select_what_in_selects_with_one_text_for_any_number(database: Database) -> None:
    prefix = f"among-{uuid.uuid4().hex}-"
    at = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    keys = [f"{prefix}{n}" for n in range(12)]
    with database.write() as session:
        session.add_all(
            Account(name=f"Shop {n}", plan=Plan.FREE, widget_key=key, created_at=at)
            for n, key in enumerate(keys)
        )
    # Quotes and JSON's own characters travel as they are.
    asked_lists = [[], keys[:1], [*keys[2:9], keys[2], 'no "such" key\\'], keys]
    with statements(database) as sent, database.write() as session:
        for asked in asked_lists:
            found = session.scalars(
                select(Account.widget_key)
                .where(among_texts(Account.widget_key, asked))
                .order_by(Account.widget_key)
            ).all()
            assert found == sorted(set(asked) & set(keys))
        session.execute(
            update(Account)
            .where(among_texts(Account.widget_key, keys[:3]))
            .values(name="Renamed")
            .execution_options(synchronize_session=False)
        )
    with database.read() as session:
        renamed = session.scalars(
            select(Account.widget_key).where(
                Account.widget_key.startswith(prefix), Account.name == "Renamed"
            )
        ).all()
    assert sorted(renamed) == sorted(keys[:3])
    texts = {text for text in sent if "json_each" in text or "ANY" in text}
    assert len(texts) == 2, texts  # the select's and the update's


def test_texts_are_strings() -> None:
    with pytest.raises(TypeError, match="str"):
        among_texts(Account.widget_key, [1])  # type: ignore[list-item]


@pytest.mark.parametrize("ids", [[1.5], ["1"], [True]])
def test_ids_are_integers(ids: list[object]) -> None:
    with pytest.raises(TypeError, match="integer"):
        among(Account.id, ids)  # type: ignore[arg-type]
