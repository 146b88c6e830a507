"""Plain statements for the hot paths: a Core statement compiled once per dialect and run
straight on the DBAPI connection of the caller's transaction.

SQLAlchemy builds, caches and runs a Core statement in 50 to 100 µs of Python, which a visitor
message pays for each of its statements (docs/performance.md). A ``PlainStatement`` keeps
what SQLAlchemy would work out on each call — the SQL text for the dialect, the order of
its parameters, the column types' converters — and leaves only the driver's own work: a
few microseconds. The statement is still written with the models' tables, so it is checked
by the type checker and follows the schema; only its execution is plain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, ReturnsRows

from frontdesk.store.types import StrEnumType, UTCDateTime

Converter = Callable[[Any], Any] | None


@dataclass(slots=True)
class _Compiled:
    sql: str
    # qmark drivers (sqlite3) take a tuple in this order; named ones (psycopg) a dict.
    positions: tuple[str, ...] | None
    binds: dict[str, Converter]
    # The values the statement carries itself (literals, LIMIT): the caller's come on top.
    fixed: dict[str, Any]
    columns: tuple[Any, ...]
    # The columns' converters, known from the first result's description (a driver's type
    # codes pick them on some dialects).
    results: tuple[Converter, ...] | None = None


class PlainStatement:
    def __init__(self, statement: ClauseElement) -> None:
        self._statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def rows(self, connection: Connection, **params: Any) -> list[tuple[Any, ...]]:
        """Run the statement in ``connection``'s transaction; its rows, converted to the
        columns' Python types (none for a statement without rows)."""
        compiled = self._compiled.get(connection.dialect.name) or self._compile(connection.dialect)
        values = compiled.fixed | params if compiled.fixed else params
        arguments: Sequence[Any] | dict[str, Any]
        if compiled.positions is not None:
            arguments = tuple(_bound(compiled, name, values[name]) for name in compiled.positions)
        else:
            arguments = {name: _bound(compiled, name, value) for name, value in values.items()}
        driver = connection.connection.driver_connection
        assert driver is not None
        cursor = driver.cursor()
        try:
            cursor.execute(compiled.sql, arguments)
            if not compiled.columns:
                return []
            converters = compiled.results
            if converters is None:
                converters = compiled.results = tuple(
                    column.type.dialect_impl(connection.dialect).result_processor(
                        connection.dialect, described[1]
                    )
                    for column, described in zip(compiled.columns, cursor.description, strict=True)
                )
            return [
                tuple(
                    value if convert is None or value is None else convert(value)
                    for convert, value in zip(converters, row, strict=True)
                )
                for row in cursor.fetchall()
            ]
        finally:
            cursor.close()

    def first(self, connection: Connection, **params: Any) -> tuple[Any, ...] | None:
        found = self.rows(connection, **params)
        return found[0] if found else None

    def scalar(self, connection: Connection, **params: Any) -> Any:
        found = self.first(connection, **params)
        return None if found is None else found[0]

    def run(self, connection: Connection, **params: Any) -> None:
        self.rows(connection, **params)

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = cast(SQLCompiler, self._statement.compile(dialect=dialect))
        if compiled.insert_prefetch or compiled.update_prefetch:
            # SQLAlchemy would compute these defaults on each execution; here they are not.
            prefetched = [*compiled.insert_prefetch, *compiled.update_prefetch]
            missing = ", ".join(c.name for c in prefetched)
            raise ValueError(f"a plain statement must give these columns a value: {missing}")
        binds: dict[str, Converter] = {
            name: _converter(bind.type, dialect) for name, bind in compiled.binds.items()
        }
        columns: tuple[Any, ...] = ()
        if isinstance(self._statement, ReturnsRows):
            columns = tuple(self._statement.exported_columns)
        plain = _Compiled(
            sql=compiled.string,
            positions=tuple(compiled.positiontup) if compiled.positiontup is not None else None,
            binds=binds,
            fixed={
                name: bind.effective_value
                for name, bind in compiled.binds.items()
                if not bind.required
            },
            columns=columns,
        )
        self._compiled[dialect.name] = plain
        return plain


def _converter(type_: Any, dialect: Dialect) -> Converter:
    convert = cast(Converter, type_.dialect_impl(dialect).bind_processor(dialect))
    if convert is None:
        return None
    if isinstance(type_, StrEnumType):
        return _EnumValues(convert)
    if not isinstance(type_, UTCDateTime):
        return convert
    shared = _TIMES.get(dialect.name)
    if shared is None:
        shared = _TIMES[dialect.name] = _LastTime(convert)
    return shared


class _LastTime:
    """The converter of every ``UTCDateTime`` parameter of a dialect, remembering the last
    moment it converted: an operation passes its one ``now`` to most of its statements,
    and converting it (to UTC, then to SQLite's text) cost more than running some of them.
    A moment is immutable, so the same object converts to the same value."""

    __slots__ = ("_convert", "_last")

    def __init__(self, convert: Callable[[Any], Any]) -> None:
        self._convert = convert
        self._last: tuple[Any, Any] = (None, None)

    def __call__(self, value: Any) -> Any:
        last, converted = self._last  # one tuple: a consistent pair from any thread
        if value is last:
            return converted
        converted = self._convert(value)
        self._last = (value, converted)
        return converted


_TIMES: dict[str, _LastTime] = {}


class _EnumValues:
    """The converter of a ``StrEnumType`` parameter, remembering what each member (or its
    value) converts to: a handful of them, where the type made a member of it each time."""

    __slots__ = ("_convert", "_known")

    def __init__(self, convert: Callable[[Any], Any]) -> None:
        self._convert = convert
        self._known: dict[Any, Any] = {}

    def __call__(self, value: Any) -> Any:
        converted = self._known.get(value, _UNKNOWN)
        if converted is _UNKNOWN:
            converted = self._known[value] = self._convert(value)  # raises for a non-member
        return converted


_UNKNOWN = object()


def _bound(compiled: _Compiled, name: str, value: Any) -> Any:
    convert = compiled.binds.get(name)
    return value if convert is None or value is None else convert(value)
