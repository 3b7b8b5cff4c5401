"""Statements run on the database driver itself, for the writes every booking makes.

SQLAlchemy's execution of a statement (cache lookup, execution context, parameter and
result processing, the greenlet hop of its asyncio layer) costs 100-300 µs of CPU, an
INSERT into SQLite in WAL mode a few microseconds: a booking's four statements cost
more in SQLAlchemy than in the database. A statement here is compiled by SQLAlchemy
once per dialect and run on the driver connection under the caller's transaction (the
one a unit of work holds), its parameters converted by the columns' own bind processors
and its results by their result processors, so values are stored and read exactly as
SQLAlchemy would. What is left per call is the driver's work.

Drivers: SQLite through ``rider_api.db.sqlite_inline`` and PostgreSQL through psycopg's
``AsyncConnection`` (both: ``cursor()``, then awaited ``execute`` / ``executemany`` /
``fetchall`` / ``close``). Bulk imports go around SQLAlchemy the same way
(``network.bulk``).

On PostgreSQL every statement is a round trip, and each costs more CPU in the event loop
and the driver than the statement costs the server. Inside ``DriverCursor.pipeline()``
statements are queued (psycopg's pipeline mode) and go to the server together when the
block ends, with one Sync: one round trip for all of them. What they return is read
then (``Returned.values()``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select
from sqlalchemy.sql.compiler import Compiled
from sqlalchemy.sql.dml import Insert, UpdateBase
from sqlalchemy.types import TypeEngine

__all__ = ["DriverCursor", "DriverSelect", "DriverWrite", "Returned", "insert_rows"]

Processor = Callable[[Any], Any] | None

#: A placeholder: filled from the caller's values by name (with its processor), or a
#: value the statement carries itself (an IN list's), already converted.
_Slot = tuple[str, Processor] | tuple[None, Any]


@dataclass(frozen=True, slots=True)
class _Prepared:
    sql: str
    #: Named paramstyle (psycopg): the values go as a mapping, else as a tuple.
    named: bool
    slots: tuple[_Slot, ...]
    names: tuple[str, ...]
    results: tuple[Processor, ...]

    def params(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        out = []
        for name, process in self.slots:
            if name is None:
                out.append(process)  # a constant
                continue
            value = values[name]
            out.append(value if process is None or value is None else process(value))
        return dict(zip(self.names, out, strict=True)) if self.named else tuple(out)

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(
            v if process is None or v is None else process(v)
            for process, v in zip(self.results, raw, strict=True)
        )


def _prepare(compiled: Compiled, dialect: Dialect, result_types: Sequence[Any]) -> _Prepared:
    binds = compiled.binds  # type: ignore[attr-defined]
    positions = getattr(compiled, "positiontup", None)
    names = tuple(positions) if positions else tuple(compiled.params)
    slots: list[_Slot] = []
    for name in names:
        bind = binds.get(name)
        # An IN list rendered as parameters of its own: converted by the list's type.
        base = bind if bind is not None else binds.get(name.rsplit("_", 1)[0])
        process = None if base is None else base.type.dialect_impl(dialect).bind_processor(dialect)
        if bind is not None and (bind.required or bind.value is None):
            slots.append((name, process))
        else:
            value = compiled.params[name]
            slots.append((None, process(value) if process is not None else value))
    results = tuple(t.dialect_impl(dialect).result_processor(dialect, None) for t in result_types)
    return _Prepared(compiled.string, not positions, tuple(slots), names, results)


class DriverCursor:
    """A driver cursor on the connection of a transaction, for several statements
    (``async with``; one per unit of work: opening one costs more than a statement)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self.dialect = connection.dialect
        self._driver: Any = None
        self._cursor: Any = None
        #: Cursors of statements whose results are read later (in a pipeline).
        self._others: list[Any] = []
        #: Inside ``pipeline()``: statements are queued, results come at its end.
        self.pipelined = False

    async def _driver_connection(self) -> Any:
        if self._driver is None:
            raw = await self.connection.get_raw_connection()
            self._driver = raw.driver_connection
        return self._driver

    async def get(self) -> Any:
        if self._cursor is None:
            self._cursor = (await self._driver_connection()).cursor()
        return self._cursor

    async def another(self) -> Any:
        """A cursor of its own, for a statement whose results are read later."""
        cursor = (await self._driver_connection()).cursor()
        self._others.append(cursor)
        return cursor

    @asynccontextmanager
    async def pipeline(self) -> AsyncIterator[None]:
        """PostgreSQL only: the statements run inside are sent together, with one Sync
        when the block ends, and their results read then. An error in one fails the
        block there (psycopg raises it) and the server skips the statements after it."""
        if self.dialect.name != "postgresql":
            raise TypeError(f"no pipeline on {self.dialect.name}")
        async with (await self._driver_connection()).pipeline():
            self.pipelined = True
            try:
                yield
            finally:
                self.pipelined = False

    async def commit(self) -> None:
        """COMMIT as a statement of the transaction (queued, in a pipeline): the
        transaction's own commit then finds nothing to do (psycopg skips a commit on an
        idle connection), so the writes and the commit share one round trip."""
        await (await self.get()).execute("COMMIT")

    async def close(self) -> None:
        cursors = [self._cursor, *self._others]
        self._cursor, self._others = None, []
        for cursor in cursors:
            if cursor is not None:
                await cursor.close()

    async def __aenter__(self) -> DriverCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


#: Up to this many rows, psycopg runs a statement once per row: its ``executemany`` sets
#: up a pipeline, which costs more CPU and time than a few statements on a nearby server
#: (one row: 0.2 against 0.4-0.7 ms; two: 0.45 against 0.7-0.9 ms, measured on loopback).
#: An INSERT that returns nothing goes as one statement of several VALUES rows instead.
_PG_ONE_BY_ONE = 4


class Returned:
    """What a ``DriverWrite`` returned, one value per row: known at once, or (inside a
    pipeline) read from the statements' cursors once the pipeline has ended."""

    def __init__(
        self, prepared: _Prepared, values: list[Any] | None, cursors: Sequence[Any] = ()
    ) -> None:
        self._prepared = prepared
        self._values = values
        self._cursors = cursors

    async def values(self) -> list[Any]:
        if self._values is None:
            self._values = [
                self._prepared.row((await cursor.fetchall())[0])[0] for cursor in self._cursors
            ]
        return self._values


class DriverWrite:
    """An INSERT or UPDATE with named parameters, run once per row of values; it may
    return one column (``returns``: its type)."""

    def __init__(
        self,
        statement: UpdateBase,
        *,
        column_keys: Sequence[str] | None = None,
        returns: TypeEngine[Any] | None = None,
    ) -> None:
        self._statement = statement
        self._column_keys = list(column_keys) if column_keys is not None else None
        self._result_types = (returns,) if returns is not None else ()
        self._by_dialect: dict[str, _Prepared] = {}

    def _prepared(self, dialect: Dialect) -> _Prepared:
        prepared = self._by_dialect.get(dialect.name)
        if prepared is None:
            compiled = self._statement.compile(dialect=dialect, column_keys=self._column_keys)
            prepared = _prepare(compiled, dialect, self._result_types)
            self._by_dialect[dialect.name] = prepared
        return prepared

    def _prepared_values(self, dialect: Dialect, count: int) -> _Prepared:
        """One INSERT of ``count`` VALUES rows; row ``i``'s column ``c`` is ``c__i``."""
        key = f"{dialect.name}/{count}"
        prepared = self._by_dialect.get(key)
        if prepared is None:
            statement = self._statement
            if not isinstance(statement, Insert) or self._column_keys is None:
                raise TypeError("several VALUES rows need an INSERT with its column keys")
            columns = statement.table.c
            rows = [
                {c: bindparam(f"{c}__{i}", type_=columns[c].type) for c in self._column_keys}
                for i in range(count)
            ]
            compiled = statement.values(rows).compile(dialect=dialect)
            prepared = _prepare(compiled, dialect, ())
            self._by_dialect[key] = prepared
        return prepared

    async def execute(self, db: DriverCursor, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Run the statement for each of ``rows``; the returned values, in order."""
        return await (await self.start(db, rows)).values()

    async def start(self, db: DriverCursor, rows: Sequence[Mapping[str, Any]]) -> Returned:
        """Run the statement for each of ``rows`` (queued, in a pipeline); what they
        return, in order, when it is known."""
        prepared = self._prepared(db.dialect)
        if not rows:
            return Returned(prepared, [])
        cursor = await db.get()
        if (
            db.dialect.name == "postgresql"
            and 1 < len(rows) <= _PG_ONE_BY_ONE
            and not self._result_types
            and isinstance(self._statement, Insert)
            and self._column_keys is not None
        ):
            several = self._prepared_values(db.dialect, len(rows))
            values = {f"{c}__{i}": row[c] for i, row in enumerate(rows) for c in self._column_keys}
            await cursor.execute(several.sql, several.params(values))
            return Returned(prepared, [])
        one_by_one = len(rows) == 1 or (
            db.dialect.name == "postgresql" and len(rows) <= _PG_ONE_BY_ONE
        )
        if not self._result_types:
            if one_by_one:
                for row in rows:
                    await cursor.execute(prepared.sql, prepared.params(row))
            else:
                await cursor.executemany(prepared.sql, [prepared.params(r) for r in rows])
            return Returned(prepared, [])
        if db.pipelined:
            # Each on a cursor of its own, read when the pipeline has its results.
            cursors = []
            for row in rows:
                cursors.append(own := await db.another())
                await own.execute(prepared.sql, prepared.params(row))
            return Returned(prepared, None, cursors)
        out = []
        for row in rows:
            await cursor.execute(prepared.sql, prepared.params(row))
            out.append(prepared.row((await cursor.fetchall())[0])[0])
        return Returned(prepared, out)


def insert_rows(
    table: Table, columns: Sequence[str], *, returning: str | None = None
) -> DriverWrite:
    """``INSERT INTO table (columns) VALUES (...)`` [``RETURNING`` one column]."""
    if returning is None:
        return DriverWrite(insert(table), column_keys=columns)
    column = table.c[returning]
    return DriverWrite(insert(table).returning(column), column_keys=columns, returns=column.type)


class DriverSelect:
    """A SELECT of columns with named bound parameters (``bindparam(name, None,
    required=False)``: compiled before any value is known)."""

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        self._statement = statement
        self._result_types = tuple(c.type for c in statement.selected_columns)
        self._by_dialect: dict[str, _Prepared] = {}

    def _prepared(self, dialect: Dialect) -> _Prepared:
        prepared = self._by_dialect.get(dialect.name)
        if prepared is None:
            # IN lists rendered as plain parameters, carried by the statement.
            compiled = self._statement.compile(
                dialect=dialect, compile_kwargs={"render_postcompile": True}
            )
            prepared = _prepare(compiled, dialect, self._result_types)
            self._by_dialect[dialect.name] = prepared
        return prepared

    async def all(self, db: DriverCursor, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row, with the columns' Python values."""
        prepared = self._prepared(db.dialect)
        cursor = await db.get()
        await cursor.execute(prepared.sql, prepared.params(params))
        return [prepared.row(r) for r in await cursor.fetchall()]
