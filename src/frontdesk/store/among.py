"""``among(column, ids)``: ``column IN ids`` for a statement the ORM or Core runs, with the
ids as one parameter, so that the statement's text is the same for any number of them.

``column.in_(ids)`` writes one placeholder per id into the text: a batch of 37 and one of
38 are two statements to SQLite, each compiled and kept in the connection's cache of
prepared statements (128 of them). The engine's batches read their facts with a dozen such
lists, and a `frontdesk worker` held 5 MB of SQLite's memory in prepared statements that
differed only in their lists' lengths (docs/performance.md). Here the list goes as a JSON
array read by ``json_each`` on SQLite and as an array compared with ``= ANY`` on
PostgreSQL, as ``frontdesk.store.plain`` does for the hot paths' plain statements.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    ColumnElement,
    Dialect,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeEngine


class _Ids(TypeDecorator[list[Any]]):
    """A list of integer ids as one parameter: JSON text on SQLite, an array elsewhere."""

    impl = String
    cache_ok = True
    element: type[TypeEngine[Any]] = BigInteger
    # What each value must be, and what a list of anything else is told.
    python: type = int
    refusal = "among takes integer ids"

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String())
        return dialect.type_descriptor(ARRAY(self.element()))

    def process_bind_param(self, value: list[Any] | None, dialect: Dialect) -> Any:
        assert value is not None
        return json.dumps(value) if dialect.name == "sqlite" else value


class _Texts(_Ids):
    """A list of strings as one parameter, as ``_Ids``."""

    cache_ok = True
    element = Text
    python = str
    refusal = "among_texts takes str values"


class Among(ColumnElement[bool]):
    """``column IN ids``, the ids one parameter (``among``)."""

    inherit_cache = True
    type = Boolean()
    # A condition of its own, as ``IN`` is: no ``= 1`` after it on SQLite.
    _is_implicitly_boolean = True
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("ids", InternalTraversal.dp_clauseelement),
    ]

    def __init__(
        self,
        column: ColumnElement[Any] | QueryableAttribute[Any],
        ids: Iterable[int] | Iterable[str],
        *,
        kind: builtins.type[_Ids] = _Ids,
    ) -> None:
        self.column = column.expression if isinstance(column, QueryableAttribute) else column
        values = set(ids)
        if not all(type(i) is kind.python for i in values):
            raise TypeError(kind.refusal)
        self.ids: BindParameter[list[Any]] = BindParameter(
            None, sorted(values), type_=kind(), unique=True
        )


def among(column: ColumnElement[Any] | QueryableAttribute[Any], ids: Iterable[int]) -> Among:
    """``column IN ids`` whose SQL text does not depend on how many ids there are (none
    matches nothing)."""
    return Among(column, ids)


def among_texts(
    column: ColumnElement[Any] | QueryableAttribute[Any], texts: Iterable[str]
) -> Among:
    """``among`` for a column of text (a socket's id, say)."""
    return Among(column, texts, kind=_Texts)


@compiles(Among, "sqlite")
def _among_on_sqlite(element: Among, compiler: SQLCompiler, **kw: Any) -> str:
    # The column's name and the parameter's placeholder, as the compiler writes them: the
    # ids themselves are never in the text.
    column = compiler.process(element.column, **kw)
    ids = compiler.process(element.ids, **kw)
    return f"{column} IN (SELECT value FROM json_each({ids}))"  # noqa: S608


@compiles(Among)
def _among_as_array(element: Among, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    # psycopg's dialect casts the parameter itself (``::BIGINT[]``).
    return f"{column} = ANY ({compiler.process(element.ids, **kw)})"
