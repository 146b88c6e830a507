"""Plain statements (frontdesk.store.plain) on both backends: many rows through one call
store and return what the same rows one by one would."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, bindparam, insert, select, update

from frontdesk.core.model import Plan
from frontdesk.store import plain
from frontdesk.store.database import Database
from frontdesk.store.models import Account, table_of
from frontdesk.store.plain import PlainStatement, unnested

_accounts = table_of(Account)
_NEW = PlainStatement(
    insert(_accounts)
    .values(
        name=bindparam("name"),
        plan=bindparam("plan"),
        widget_key=bindparam("key"),
        offline_message_email=True,
        missed_conversation_email=False,
        webhook_events=0,
        push_subscribed=False,
        visitor_transcript=False,
        expected_reply_time=False,
        offline_email_delay=bindparam("delay"),
        created_at=bindparam("at"),
    )
    .returning(_accounts.c.id, _accounts.c.widget_key, _accounts.c.plan, _accounts.c.created_at)
)
_RENAME = PlainStatement(
    update(_accounts)
    .where(_accounts.c.id == bindparam("account_id"))
    .values(name=bindparam("name"))
)


@pytest.mark.parametrize("most_variables", [None, 60])
def test_many_rows_inserted_at_once_come_back_converted(
    database: Database, most_variables: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also with the limit on a statement's parameters met every ten rows (SQLite; on
    PostgreSQL the rows go as arrays of one statement, whatever their number)."""
    if most_variables is not None:
        dialect = "sqlite" if database.is_sqlite else "postgresql"
        monkeypatch.setitem(plain._MOST_PARAMETERS, dialect, most_variables)
    prefix = f"plain-{uuid.uuid4().hex}-"
    start = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
    rows = [
        {
            "name": f"Shop {n}",
            "plan": Plan.PRO if n % 2 else Plan.FREE,
            "key": f"{prefix}{n}",
            "at": start + timedelta(seconds=n % 3),  # moments repeat and alternate
            "delay": None if n < 350 else n / 4,
        }
        for n in range(700)
    ]
    with database.write() as session:
        # Rows whose column is NULL in every one of them, then rows with values.
        returned = _NEW.inserted(session.connection(), rows[:350])
        returned += _NEW.inserted(session.connection(), rows[350:])
    assert sorted((key, plan, at) for _, key, plan, at in returned) == sorted(
        (r["key"], r["plan"], r["at"]) for r in rows
    )
    with database.read() as session:
        stored = session.execute(
            select(Account.id, Account.widget_key, Account.plan, Account.created_at).where(
                Account.widget_key.startswith(prefix)
            )
        ).all()
    assert sorted(tuple(row) for row in stored) == sorted(returned)
    with database.read() as session:
        delays = dict(
            session.execute(
                select(Account.widget_key, Account.offline_email_delay).where(
                    Account.widget_key.startswith(prefix)
                )
            ).all()
        )
    assert delays == {r["key"]: r["delay"] for r in rows}

    with database.write() as session:
        _RENAME.run_many(
            session.connection(),
            [{"account_id": row[0], "name": f"Renamed {row[1]}"} for row in returned],
        )
    with database.read() as session:
        names = set(
            session.scalars(select(Account.name).where(Account.widget_key.startswith(prefix)))
        )
    assert names == {f"Renamed {r['key']}" for r in rows}


_LATER_ROWS = unnested(account_id=_accounts.c.id.type, at=_accounts.c.created_at.type)
# Moves an account's moment later, never earlier.
_LATER = PlainStatement(
    update(_accounts)
    .where(_accounts.c.id == bindparam("account_id"), _accounts.c.created_at < bindparam("at"))
    .values(created_at=bindparam("at")),
    many_on_postgresql=update(_accounts)
    .where(_accounts.c.id == _LATER_ROWS.c.account_id, _accounts.c.created_at < _LATER_ROWS.c.at)
    .values(created_at=_LATER_ROWS.c.at),
)


def test_an_update_of_many_rows_in_one_statement_changes_what_each_row_alone_would(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``many_on_postgresql``: on PostgreSQL the rows go as arrays of one ``UPDATE … FROM
    unnest``, on SQLite as the statement once per row; the same rows change either way,
    the statement's own condition held for each."""
    prefix = f"plain-{uuid.uuid4().hex}-"
    start = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
    with database.write() as session:
        inserted = _NEW.inserted(
            session.connection(),
            [
                {"name": f"Shop {n}", "plan": Plan.FREE, "key": f"{prefix}{n}", "at": start}
                | {"delay": None}
                for n in range(300)
            ],
        )
    ids = sorted(row[0] for row in inserted)
    # Even rows later (changed), odd ones earlier (left as they are), each its own moment.
    wanted = {
        account_id: start + timedelta(minutes=(n + 1) if n % 2 == 0 else -(n + 1))
        for n, account_id in enumerate(ids)
    }
    calls: list[int] = []
    assert _LATER._many is not None
    run_once = _LATER._many.run

    def counted(connection: Connection, **params: Any) -> None:
        calls.append(len(params))
        run_once(connection, **params)

    monkeypatch.setattr(_LATER._many, "run", counted)
    with database.write() as session:
        _LATER.run_many(
            session.connection(),
            [{"account_id": account_id, "at": at} for account_id, at in wanted.items()],
        )
    assert calls == ([2] if database.is_postgresql else [])  # two arrays, in one statement
    with database.read() as session:
        stored = dict(
            session.execute(
                select(Account.id, Account.created_at).where(Account.widget_key.startswith(prefix))
            ).all()
        )
    assert stored == {account_id: at if at > start else start for account_id, at in wanted.items()}


_NEW_WITH_DEFAULTS = PlainStatement(
    insert(_accounts)
    .values(
        name=bindparam("name"),
        plan=Plan.PRO,
        widget_key=bindparam("key"),
        offline_message_email=False,
        missed_conversation_email=True,
        webhook_events=3,
        push_subscribed=False,
        visitor_transcript=True,
        expected_reply_time=False,
        agent_defaults={"sound": True},
        business_hours=None,
        created_at=bindparam("at"),
    )
    .returning(_accounts.c.id, _accounts.c.widget_key)
)


def test_the_statements_own_values_are_stored_for_every_row(database: Database) -> None:
    """The literals of an INSERT (an enum, JSON, a boolean, NULL) come with each of many
    rows; on PostgreSQL each goes once, as a parameter of its own, and only the caller's
    values go as arrays of the rows'."""
    prefix = f"plain-{uuid.uuid4().hex}-"
    at = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    with database.write() as session:
        returned = _NEW_WITH_DEFAULTS.inserted(
            session.connection(),
            [{"name": f"Shop {n}", "key": f"{prefix}{n}", "at": at} for n in range(5)],
        )
    assert sorted(key for _, key in returned) == [f"{prefix}{n}" for n in range(5)]
    with database.read() as session:
        stored = session.execute(
            select(
                Account.plan,
                Account.offline_message_email,
                Account.missed_conversation_email,
                Account.webhook_events,
                Account.visitor_transcript,
                Account.agent_defaults,
                Account.business_hours,
                Account.created_at,
            ).where(Account.widget_key.startswith(prefix))
        ).all()
    assert [tuple(row) for row in stored] == [
        (Plan.PRO, False, True, 3, True, {"sound": True}, None, at)
    ] * 5
    if database.is_postgresql:
        with database.read() as session:
            unnest = _NEW_WITH_DEFAULTS._for(session.connection().dialect).unnest
        assert unnest is not None
        assert [name for name, _ in unnest.arrays] == ["name", "key", "at"]
        assert "agent_defaults" in unnest.fixed


def test_nothing_to_insert_runs_nothing(database: Database) -> None:
    with database.write() as session:
        assert _NEW.inserted(session.connection(), []) == []
        _RENAME.run_many(session.connection(), [])


_NAMED_IN = PlainStatement(
    select(_accounts.c.id, _accounts.c.plan)
    .where(
        _accounts.c.id.in_(bindparam("account_ids", expanding=True)),
        _accounts.c.plan == bindparam("plan"),
    )
    .order_by(_accounts.c.id)
)


@pytest.mark.parametrize("count", [0, 1, 3, 2000])
def test_a_list_goes_as_one_parameter_and_selects_as_in_would(
    database: Database, count: int
) -> None:
    """``IN`` a list given at each call: the same rows as SQLAlchemy's own ``IN`` for any
    length (none included), with the statement's other parameters beside it."""
    prefix = f"plain-{uuid.uuid4().hex}-"
    at = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
    with database.write() as session:
        inserted = _NEW.inserted(
            session.connection(),
            [
                {
                    "name": f"Shop {n}",
                    "plan": Plan.PRO if n % 2 else Plan.FREE,
                    "key": f"{prefix}{n}",
                    "at": at,
                    "delay": None,
                }
                for n in range(max(count, 1) + 2)
            ],
        )
    ids = [row[0] for row in inserted][:count]
    asked = [*ids, *ids[:1], 2**40]  # a repeated id and one that is not there
    with database.read() as session:
        rows = _NAMED_IN.rows(session.connection(), account_ids=asked, plan=Plan.PRO)
        expected = session.execute(
            select(_accounts.c.id, _accounts.c.plan)
            .where(_accounts.c.id.in_(asked), _accounts.c.plan == Plan.PRO)
            .order_by(_accounts.c.id)
        ).all()
    assert rows == [tuple(row) for row in expected]
    assert len(rows) == sum(1 for n in range(count) if n % 2)
    assert all(plan is Plan.PRO for _, plan in rows)


def test_a_list_of_anything_but_integers_is_refused(database: Database) -> None:
    statement = PlainStatement(
        select(_accounts.c.id).where(_accounts.c.name.in_(bindparam("names", expanding=True)))
    )
    with database.read() as session, pytest.raises(ValueError, match="integers"):
        statement.rows(session.connection(), names=["Shop"])
