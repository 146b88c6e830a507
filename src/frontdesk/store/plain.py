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

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import ARRAY, BindParameter, Connection, Dialect, Integer, bindparam, func
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, ReturnsRows, TableValuedAlias
from sqlalchemy.types import TypeEngine

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
    # For qmark statements: the caller's values in order (``getter``), those to convert
    # (position, converter), and the statement's own values, converted once.
    getter: Callable[[dict[str, Any]], tuple[Any, ...]] | None = None
    to_convert: tuple[tuple[int, Callable[[Any], Any]], ...] = ()
    fixed_converted: dict[str, Any] = field(default_factory=dict)
    # An INSERT of one VALUES row, cut around that row: (head, row, tail); the row's
    # parameters; the statement for n rows, once made.
    values_row: tuple[str, str, str] | None = None
    per_row: int = 1
    many_sql: dict[int, str] = field(default_factory=dict)
    # On PostgreSQL, the same INSERT for any number of rows (``_unnest``).
    unnest: _Unnest | None = None
    # The columns' converters, known from the first result's description (a driver's type
    # codes pick them on some dialects).
    results: tuple[Converter, ...] | None = None


class PlainStatement:
    """``statement``, and for ``run_many`` on PostgreSQL, ``many_on_postgresql``: the same
    change for many rows in one statement, taking each of ``statement``'s parameters as an
    array of the rows' values (``unnested``). Without it, ``run_many`` sends ``statement``
    once per row (one pipeline, but each row a statement for the server to run)."""

    def __init__(
        self, statement: ClauseElement, *, many_on_postgresql: ClauseElement | None = None
    ) -> None:
        self._statement = statement
        self._compiled: dict[str, _Compiled] = {}
        self._many = None if many_on_postgresql is None else PlainStatement(many_on_postgresql)

    def rows(self, connection: Connection, **params: Any) -> list[tuple[Any, ...]]:
        """Run the statement in ``connection``'s transaction; its rows, converted to the
        columns' Python types (none for a statement without rows)."""
        compiled = self._for(connection.dialect)
        driver = connection.connection.dbapi_connection
        assert driver is not None
        cursor = driver.cursor()
        try:
            cursor.execute(compiled.sql, _arguments(compiled, params))
            if not compiled.columns:
                return []
            return _converted(compiled, connection.dialect, cursor)
        finally:
            cursor.close()

    def run_many(self, connection: Connection, params: Sequence[dict[str, Any]]) -> None:
        """Run a statement without rows once per set of parameters: an ``INSERT`` as one
        statement of many rows (``inserted``), anything else in one call to the driver
        (``executemany``; psycopg sends it in one pipeline)."""
        if not params:
            return
        compiled = self._for(connection.dialect)
        assert not compiled.columns, "run_many is for statements without rows"
        if compiled.values_row is not None:
            self.inserted(connection, params)
            return
        if self._many is not None and connection.dialect.name == "postgresql":
            many = self._many._for(connection.dialect)
            names = [name for name in many.binds if name not in many.fixed]
            self._many.run(connection, **{name: [p[name] for p in params] for name in names})
            return
        # sqlite3's executemany takes the rows as any iterable; DB-API's types say sequence.
        driver: Any = connection.connection.dbapi_connection
        assert driver is not None
        cursor = driver.cursor()
        try:
            cursor.executemany(
                compiled.sql,
                _argument_rows(compiled, params)
                if compiled.positions is not None
                else [_arguments(compiled, p) for p in params],
            )
        finally:
            cursor.close()

    def inserted(
        self, connection: Connection, params: Sequence[dict[str, Any]]
    ) -> list[tuple[Any, ...]]:
        """An ``INSERT … VALUES … RETURNING`` of one row, run for many rows as one
        statement of many ``VALUES`` rows: a row costs a microsecond or two there, against
        ten as a statement of its own on SQLite, and a statement's round trip and planning
        on PostgreSQL. The returned rows come in no promised order (SQLite's RETURNING
        promises none): return a column that tells which row each is."""
        if not params:
            return []
        compiled = self._for(connection.dialect)
        if compiled.values_row is None:
            return [row for p in params for row in self.rows(connection, **p)]
        driver = connection.connection.dbapi_connection
        assert driver is not None
        if compiled.unnest is not None:
            return self._unnested(compiled, connection.dialect, driver, params)
        found: list[tuple[Any, ...]] = []
        step = max(1, _MOST_PARAMETERS.get(connection.dialect.name, 999) // compiled.per_row)
        for start in range(0, len(params), step):
            chunk = params[start : start + step]
            cursor = driver.cursor()
            try:
                cursor.execute(_many_rows_sql(compiled, len(chunk)), _many_rows(compiled, chunk))
                if compiled.columns:
                    found.extend(_converted(compiled, connection.dialect, cursor))
            finally:
                cursor.close()
        return found

    @staticmethod
    def _unnested(
        compiled: _Compiled, dialect: Dialect, driver: Any, params: Sequence[dict[str, Any]]
    ) -> list[tuple[Any, ...]]:
        unnest = compiled.unnest
        assert unnest is not None
        arguments = dict(unnest.fixed)
        for name, convert in unnest.arrays:
            column = [p[name] for p in params]
            arguments[name] = (
                column if convert is None else [None if v is None else convert(v) for v in column]
            )
        cursor = driver.cursor()
        try:
            cursor.execute(unnest.sql, arguments)
            return _converted(compiled, dialect, cursor) if compiled.columns else []
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

    def changed(self, connection: Connection, **params: Any) -> int:
        """Run an ``UPDATE`` or ``DELETE`` without rows; how many rows it changed."""
        compiled = self._for(connection.dialect)
        assert not compiled.columns, "changed is for statements without rows"
        driver = connection.connection.dbapi_connection
        assert driver is not None
        cursor = driver.cursor()
        try:
            cursor.execute(compiled.sql, _arguments(compiled, params))
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def _for(self, dialect: Dialect) -> _Compiled:
        return self._compiled.get(dialect.name) or self._compile(dialect)

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = cast(SQLCompiler, self._statement.compile(dialect=dialect))
        if compiled.insert_prefetch or compiled.update_prefetch:
            # SQLAlchemy would compute these defaults on each execution; here they are not.
            prefetched = [*compiled.insert_prefetch, *compiled.update_prefetch]
            missing = ", ".join(c.name for c in prefetched)
            raise ValueError(f"a plain statement must give these columns a value: {missing}")
        sql = compiled.string
        binds: dict[str, Converter] = {}
        for name, bind in compiled.binds.items():
            if bind.expanding:
                sql = _expanded(sql, name, bind, dialect)
                binds[name] = _json_list if dialect.name == "sqlite" else list
            else:
                binds[name] = _converter(bind.type, dialect)
                if dialect.name == "postgresql" and isinstance(bind.type, ARRAY):
                    # In the binary format, as ``_unnest``'s arrays.
                    sql = sql.replace(f"%({name})s", f"%({name})b")
        columns: tuple[Any, ...] = ()
        if isinstance(self._statement, ReturnsRows):
            columns = tuple(self._statement.exported_columns)
        plain = _Compiled(
            sql=sql,
            positions=tuple(compiled.positiontup) if compiled.positiontup is not None else None,
            binds=binds,
            fixed={
                name: bind.effective_value
                for name, bind in compiled.binds.items()
                if not bind.required
            },
            columns=columns,
        )
        if plain.positions is not None:
            plain.getter = _getter(plain.positions)
            plain.fixed_converted = {
                name: _bound(plain, name, value) for name, value in plain.fixed.items()
            }
            plain.to_convert = tuple(
                (position, convert)
                for position, name in enumerate(plain.positions)
                if (convert := binds.get(name)) is not None and name not in plain.fixed
            )
        plain.values_row = _values_row(plain.sql)
        if plain.values_row is not None:
            row = plain.values_row[1]
            plain.per_row = max(1, row.count("?") if plain.positions else len(_NAMED.findall(row)))
            if dialect.name == "postgresql":
                plain.unnest = _unnest(plain.values_row, plain, compiled)
        self._compiled[dialect.name] = plain
        return plain


def unnested(**columns: TypeEngine[Any]) -> TableValuedAlias:
    """Rows of these columns from one array parameter each, named as its column
    (PostgreSQL's ``unnest``): what a ``many_on_postgresql`` statement reads its rows from.
    An ``UPDATE … FROM`` these changes a row once, from one of the rows matching it, so the
    rows of one call must not name a row twice."""
    arrays = (bindparam(name, type_=ARRAY(type_)) for name, type_ in columns.items())
    return func.unnest(*arrays).table_valued(*columns).render_derived()


def _expanded(sql: str, name: str, bind: BindParameter[Any], dialect: Dialect) -> str:
    """``column IN (…)`` of a list of integers given at each call (``bindparam(name,
    expanding=True)``), as one parameter: SQLAlchemy would write the list into the text
    at each call, and compile it again; here the text stays the same for any list. On
    SQLite the list goes as a JSON array read by ``json_each``, on PostgreSQL as an array."""
    if not isinstance(bind.type, Integer):
        raise ValueError(f"a plain statement's list must be of integers: {name}")
    stand_in = f" IN (__[POSTCOMPILE_{name}])"
    if sql.count(stand_in) != 1 or f"NOT{stand_in}" in sql:
        raise ValueError(f"a plain statement takes a list only in one IN: {name}")
    if dialect.name == "sqlite":
        return sql.replace(stand_in, " IN (SELECT value FROM json_each(?))")
    if dialect.name == "postgresql":
        # In the binary format, as ``_unnest``'s arrays.
        return sql.replace(stand_in, f" = ANY (CAST(%({name})b AS BIGINT[]))")
    raise ValueError(f"a plain statement takes no list on {dialect.name}")


def _json_list(values: Iterable[int]) -> str:
    return "[" + ",".join(str(int(value)) for value in values) + "]"


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
        shared = _TIMES[dialect.name] = _LastTimes(convert)
    return shared


class _LastTimes:
    """The converter of every ``UTCDateTime`` parameter of a dialect, remembering the last
    few moments it converted: an operation passes its one ``now`` (and a due time, a lease's
    end) to most of its statements, and converting one (to UTC, then to SQLite's text) cost
    more than running some of them. Equal moments are the same instant, which converts to
    the same value."""

    __slots__ = ("_convert", "_known")

    def __init__(self, convert: Callable[[Any], Any]) -> None:
        self._convert = convert
        self._known: dict[Any, Any] = {}

    def __call__(self, value: Any) -> Any:
        known = self._known  # replaced, never changed, when full: safe from any thread
        converted = known.get(value, _UNKNOWN)
        if converted is _UNKNOWN:
            converted = self._convert(value)
            if len(known) >= _TIMES_KEPT:
                known = self._known = {}
            known[value] = converted
        return converted


_TIMES_KEPT = 64
_TIMES: dict[str, _LastTimes] = {}


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


def _arguments(compiled: _Compiled, params: dict[str, Any]) -> Sequence[Any] | dict[str, Any]:
    """The driver's parameters: the caller's values (which never name one of the
    statement's own) converted to the columns' types, with the statement's own."""
    if compiled.getter is None:
        values = compiled.fixed | params if compiled.fixed else params
        return {name: _bound(compiled, name, value) for name, value in values.items()}
    arguments = compiled.getter(compiled.fixed_converted | params if compiled.fixed else params)
    if not compiled.to_convert:
        return arguments
    converted = list(arguments)
    for position, convert in compiled.to_convert:
        value = converted[position]
        if value is not None:
            converted[position] = convert(value)
    return converted


def _argument_rows(
    compiled: _Compiled, params: Sequence[dict[str, Any]]
) -> Iterable[Sequence[Any]]:
    """``_arguments`` of many parameter sets of a qmark statement, converted by column
    (``_by_columns``; docs/performance.md)."""
    getter = compiled.getter
    assert getter is not None
    if compiled.fixed:
        fixed = compiled.fixed_converted
        rows = [getter(fixed | p) for p in params]
    else:
        rows = list(map(getter, params))
    if not rows or not compiled.to_convert:
        return rows
    return _by_columns(rows, compiled.to_convert)


def _by_columns(
    rows: Sequence[Sequence[Any]], conversions: Iterable[tuple[int, Callable[[Any], Any]]]
) -> list[tuple[Any, ...]]:
    """``rows`` with the values at each (position, converter) converted, None left as it
    is: column by column, a comprehension over each converted column, where a call and a
    loop for each row (or a generator for each row and value) cost twice as much."""
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
    for position, convert in conversions:
        columns[position] = [None if v is None else convert(v) for v in columns[position]]
    return list(zip(*columns, strict=True))


def _getter(names: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    if not names:
        return lambda _values: ()
    if len(names) == 1:
        (name,) = names
        return lambda values: (values[name],)
    return cast(Callable[[dict[str, Any]], tuple[Any, ...]], itemgetter(*names))


def _converted(compiled: _Compiled, dialect: Dialect, cursor: Any) -> list[tuple[Any, ...]]:
    converters = compiled.results
    if converters is None:
        converters = compiled.results = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, described[1])
            for column, described in zip(compiled.columns, cursor.description, strict=True)
        )
    rows: list[tuple[Any, ...]] = cursor.fetchall()
    if not rows or not any(converters):
        return rows
    return _by_columns(
        rows, [(position, c) for position, c in enumerate(converters) if c is not None]
    )


# The most parameters of one statement: SQLite's SQLITE_MAX_VARIABLE_NUMBER (since 3.32).
# (PostgreSQL's inserts of many rows take one array a column: ``_unnest``.)
_MOST_PARAMETERS = {"sqlite": 32766}
_NAMED = re.compile(r"%\((\w+)\)s")


def _values_row(sql: str) -> tuple[str, str, str] | None:
    """``INSERT INTO t (a, b) VALUES (?, ?) RETURNING …`` cut into its head (up to and
    with ``VALUES``), its one row of placeholders (``?`` or psycopg's ``%(name)s``, with
    or without a cast), and the rest; None for anything else."""
    if not sql.startswith("INSERT INTO "):
        return None
    head, marker, rest = sql.partition(" VALUES (")
    if not marker:
        return None
    row, returning, columns = rest.rpartition(" RETURNING ")
    if not returning:
        row, columns = rest, ""
    row = "(" + row
    if not row.endswith(")") or any(word in row for word in (" SELECT ", " ON ", "VALUES")):
        return None
    return head + " VALUES ", row, returning + columns


@dataclass(slots=True)
class _Unnest:
    """An ``INSERT`` of one ``VALUES`` row made one for any number of rows (``_unnest``)."""

    sql: str
    # The caller's parameters, each an array of the rows' values, with the converter of
    # their values.
    arrays: tuple[tuple[str, Converter], ...]
    # The statement's own values (literals), converted once: one parameter each, not an
    # array of the same value for every row.
    fixed: dict[str, Any]


def _unnest(
    values_row: tuple[str, str, str], plain: _Compiled, compiled: SQLCompiler
) -> _Unnest | None:
    """``INSERT INTO t (a, b, c) SELECT u.p0, u.p1, CAST(%(c)s AS C) FROM unnest(%(a)b::A[],
    %(b)b::B[]) AS u(p0, p1) …``: the statement of one ``VALUES`` row made one for any number
    of rows, each of the caller's parameters an array of the rows' values. Its text is the
    same whatever the number of rows, so the driver converts it once and PostgreSQL plans it
    once (prepared), where a statement of N ``VALUES`` rows is new text for each N and parsed
    anew on each call."""
    head, row, tail = values_row
    names = tuple(dict.fromkeys(_NAMED.findall(row)))

    def type_of(name: str) -> str:
        return str(compiled.dialect.type_compiler_instance.process(compiled.binds[name].type))

    given = [name for name in names if name not in plain.fixed]
    if not given:
        return None  # no array to tell how many rows: VALUES rows (``_many_rows_sql``)
    column = {name: f"p{n}" for n, name in enumerate(given)}
    selected = _NAMED.sub(
        lambda m: f"u.{column[m[1]]}" if m[1] in column else f"CAST(%({m[1]})s AS {type_of(m[1])})",
        row[1:-1],
    )
    # In the binary format (``%(a)b``): psycopg writes a text array in Python, checking
    # each value for what needs quoting; a binary one took a third of the time.
    arrays = ", ".join(f"%({name})b::{type_of(name)}[]" for name in given)
    assert head.endswith(" VALUES ")
    # Made of the compiled statement's own text: values only ever go as parameters.
    sql = (
        f"{head[: -len('VALUES ')]}SELECT {selected} FROM unnest({arrays})"  # noqa: S608
        f" AS u({', '.join(column.values())}){tail}"
    )
    return _Unnest(
        sql=sql,
        arrays=tuple((name, plain.binds.get(name)) for name in given),
        fixed={
            name: _bound(plain, name, plain.fixed[name]) for name in names if name not in column
        },
    )


def _many_rows_sql(compiled: _Compiled, count: int) -> str:
    sql = compiled.many_sql.get(count)
    if sql is None:
        assert compiled.values_row is not None
        head, row, tail = compiled.values_row
        if compiled.positions is not None:
            rows = [row] * count
        else:
            rows = [_NAMED.sub(f"%(\\1__{n})s", row) for n in range(count)]
        sql = compiled.many_sql[count] = head + ", ".join(rows) + tail
    return sql


def _many_rows(compiled: _Compiled, chunk: Sequence[dict[str, Any]]) -> list[Any] | dict[str, Any]:
    """The parameters of ``_many_rows_sql`` for these rows."""
    if compiled.positions is not None:
        return [value for row in _argument_rows(compiled, chunk) for value in row]
    named: dict[str, Any] = {}
    for n, p in enumerate(chunk):
        arguments = _arguments(compiled, p)
        assert isinstance(arguments, dict)
        named.update({f"{name}__{n}": value for name, value in arguments.items()})
    return named
