"""Writing an import's rows into the database fast, inside one transaction.

The large tables (shape points, trips, stop times) bypass SQLAlchemy's per-row work: on
SQLite one prepared INSERT run by ``executemany`` over the rows as they are read, on
PostgreSQL ``COPY ... FROM STDIN`` fed row by row (``cursor.copy().write_row``). Either
way the rows are consumed as they are produced, so nothing grows with the feed. The
small tables go through SQLAlchemy.

Everything happens in one transaction, so readers see the old network or the new one,
never a mixture, and a failed import (a bad feed, a refused row) leaves the old one.

SQLite: the transaction deletes the previous network and inserts the new one. The import
holds the write lock from its first delete to its commit (readers, in WAL mode, keep
reading the old network meanwhile and are never blocked); for the time of the import
(see :func:`bulk_load`) it leaves the foreign keys to the reader, which checks every
reference in memory with file and line, and rebuilds a streamed table's secondary
indexes after its rows are in (inside the transaction: readers keep the old ones).

PostgreSQL (:class:`PostgresSink`): the new network is built beside the old one, in a
staging table per network table with no key, index or foreign key while its rows go in
(``COPY`` into a bare table, as "Populating a Database" in PostgreSQL's manual advises).
Then each table's keys and indexes are built (one sort each), its foreign keys added
(one set-based check each instead of a trigger per row: the COPY into the live tables
ran at ~24k rows/s with them, ~125k/s without), statistics gathered, privileges copied;
last comes the swap: lock the live tables, drop them, and give their names and the
names of their indexes to the staging tables. The live tables are only read (by
``CREATE TABLE ... LIKE``) until the swap, so readers go on reading the old network
for the whole import; only the swap, from its lock to the commit, keeps them waiting
(tens to a few hundred milliseconds: ``ImportReport.readers_locked_out_s``). The
schema after an import is the migrated one, names included: the definitions of the
keys, indexes and foreign keys are read from the catalog, not written here, so a later
migration's changes are carried over too.
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, MetaData, Table, bindparam, delete, insert, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel

from rider_api.models import Trip
from rider_api.network.sink import NETWORK_TABLES, columns

if TYPE_CHECKING:
    from psycopg.sql import SQL, Composed, Identifier

    #: A statement built with psycopg.sql (identifiers quoted by it).
    _Statement = SQL | Composed

__all__ = ["PostgresSink", "SqliteSink", "bulk_load", "database_sink"]

#: Rows per statement for the small tables and the headsign updates.
_CHUNK = 5000
#: SQLite page cache during an import, in KiB (the default is 2 MiB): the tables' and
#: indexes' pages being filled stay in memory instead of being read back.
_SQLITE_CACHE_KIB = 65536
#: PostgreSQL: a staging table is named after its live table with this suffix; its
#: indexes get temporary names with this prefix until the swap.
_STAGING_SUFFIX = "__import"
_STAGING_PREFIX = "bushail_import_"
#: pg_advisory_xact_lock key that lets one import run at a time.
_IMPORT_LOCK_KEY = 0x6275736861696C  # "bushail"
#: The swap asks for the live tables' lock this long at a time, up to this many times
#: (then it waits as long as the session's lock_timeout says), pausing in between.
_SWAP_LOCK_TIMEOUT_MS = 200
_SWAP_ATTEMPTS = 50
_SWAP_RETRY_PAUSE_S = 0.1


@contextmanager
def bulk_load(conn: Connection) -> Iterator[None]:
    """Settings for an import on ``conn``, which must not be in a transaction yet: begin
    the transaction inside this block, so that it has ended when they are put back.

    SQLite: foreign keys off (they cannot change inside a transaction) and a larger page
    cache, both for this connection only. Nothing for PostgreSQL.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = _sqlite(conn)
    if raw.in_transaction:
        raise RuntimeError("bulk_load needs a connection outside a transaction")
    (cache_size,) = raw.execute("PRAGMA cache_size").fetchone()
    (foreign_keys,) = raw.execute("PRAGMA foreign_keys").fetchone()
    raw.execute(f"PRAGMA cache_size=-{_SQLITE_CACHE_KIB}")
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        raw.execute(f"PRAGMA cache_size={int(cache_size)}")


def database_sink(conn: Connection) -> PostgresSink | SqliteSink:
    """The fastest sink for ``conn``'s database; ``conn`` is in a transaction. Call its
    ``finish`` after the last row, before the commit."""
    if conn.dialect.name == "postgresql":
        return PostgresSink(conn)
    if conn.dialect.name == "sqlite":
        return SqliteSink(conn)
    raise ValueError(f"unsupported database {conn.dialect.name!r}")


class _Sink:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        #: perf_counter() when the import began keeping readers out (PostgreSQL: the
        #: swap's lock, held to the commit); None if it never does.
        self.locked_at: float | None = None

    def _target(self, model: type[SQLModel]) -> Table:
        """The table that receives ``model``'s rows."""
        return _table(model)

    def begin(self) -> None:
        for model in reversed(NETWORK_TABLES):
            self.conn.execute(delete(model))

    def add(self, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> None:
        target = self._target(model)
        for start in range(0, len(rows), _CHUNK):
            self.conn.execute(insert(target), list(rows[start : start + _CHUNK]))

    def set_headsigns(self, rows: Sequence[tuple[str, str, str]]) -> None:
        trips = self._target(Trip)
        statement = (
            update(trips)
            .where(trips.c.trip_id == bindparam("b_trip_id"))
            .values(headsign_zh=bindparam("b_zh"), headsign_en=bindparam("b_en"))
        )
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            self.conn.execute(
                statement, [{"b_trip_id": t, "b_zh": zh, "b_en": en} for t, zh, en in chunk]
            )

    def finish(self) -> None:
        """After the last row, before the commit."""


class SqliteSink(_Sink):
    """executemany of one prepared INSERT over the rows as they come; the table's own
    indexes (CREATE INDEX, not unique) are dropped first and built again after."""

    def stream(self, model: type[SQLModel], rows: Iterable[tuple[Any, ...]]) -> None:
        table = _table(model)
        statement = str(insert(table).compile(dialect=self.conn.dialect))
        raw = _sqlite(self.conn)
        cursor = raw.cursor()
        try:
            indexes: list[tuple[str, str]] = []
            if raw.in_transaction:  # DDL outside a transaction would be committed at once
                indexes = cursor.execute(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
                    " AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%'",
                    (table.name,),
                ).fetchall()
            for name, _sql in indexes:
                quoted = name.replace('"', '""')
                cursor.execute(f'DROP INDEX "{quoted}"')
            cursor.executemany(statement, rows)
            for _name, sql in indexes:
                cursor.execute(sql)
        except sqlite3.Error as exc:
            raise _wrapped(statement, exc, sqlite3.Error) from exc
        finally:
            cursor.close()


class PostgresSink(_Sink):
    """Builds the new network in staging tables beside the live ones and swaps them in.

    :meth:`begin` makes, for each network table, a staging table like it (columns,
    defaults, checks, storage, comments) but without keys, indexes or foreign keys, and
    notes the live table's indexes, keys and foreign keys from the catalog. Rows go in by
    ``COPY`` (small tables by INSERT); a table's keys and indexes are built once its rows
    are in (one sort each), and in :meth:`finish` its foreign keys are added (one
    set-based check each, not a trigger per row), its statistics gathered and its
    privileges copied; then the swap: lock the live tables, drop them, rename the staging
    tables and their indexes to the live names. Only the swap keeps readers out.

    A reader that has read a network table holds it until its transaction ends, so the
    swap waits for it and no transaction reads some old tables and some new ones. The
    API reads in READ COMMITTED, each statement with a fresh snapshot; a REPEATABLE READ
    transaction begun before the commit that first reads the network after it would
    find the new tables empty (a dropped-and-replaced table is not MVCC-safe in
    PostgreSQL), so nothing that reads the network should use that level.
    """

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        import psycopg

        self._raw = cast(psycopg.Connection[Any], conn.connection.dbapi_connection)
        self._staged: dict[str, _Staged] = {}

    def begin(self) -> None:
        from psycopg import sql

        # One import at a time: two would each hold the live tables (LIKE reads them)
        # while waiting for the other's swap.
        self._execute(sql.SQL("SELECT pg_advisory_xact_lock(%s)"), (_IMPORT_LOCK_KEY,))
        names = (f"{_STAGING_PREFIX}{n}" for n in itertools.count())
        for model in NETWORK_TABLES:
            staged = self._stage(model, names)
            self._staged[staged.live] = staged
        for staged in self._staged.values():
            staged.foreign_keys = self._foreign_keys(staged)

    def _target(self, model: type[SQLModel]) -> Table:
        return self._staged[_table(model).name].table

    def stream(self, model: type[SQLModel], rows: Iterable[tuple[Any, ...]]) -> None:
        from psycopg import sql

        staged = self._staged[_table(model).name]
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            staged.qualified(staged.staging),
            sql.SQL(", ").join(sql.Identifier(name) for name in columns(model)),
        )
        with self._errors(statement):
            with self._raw.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        # The keys now, while the table is fresh in the cache (the trips' headsigns are
        # updated by trip_id next).
        self._build(staged)

    def finish(self) -> None:
        from psycopg import sql

        for staged in self._staged.values():
            self._build(staged)
        for staged in self._staged.values():
            for statement in staged.foreign_keys:
                self._execute(statement)
        # The new tables' statistics, so the API's first queries on them are planned well
        # (the live tables had theirs; autovacuum would come only later).
        self._execute(
            sql.SQL("ANALYZE {}").format(
                sql.SQL(", ").join(s.qualified(s.staging) for s in self._staged.values())
            )
        )
        for staged in self._staged.values():
            for statement in staged.privileges:
                self._execute(statement)
        self._swap()

    def _stage(self, model: type[SQLModel], names: Iterator[str]) -> _Staged:
        """The staging table of ``model``'s live table, created, and what it will need."""
        from psycopg import sql

        name = _table(model).name
        found = self._fetch(
            sql.SQL(
                "SELECT c.oid, n.nspname, pg_get_userbyid(c.relowner), current_user"
                " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.oid = to_regclass(%s)"
            ),
            (sql.Identifier(name).as_string(self._raw),),
        )
        if not found:
            raise RuntimeError(f"table {name!r} not found: is the database migrated?")
        oid, schema, owner, user = found[0]
        staged = _Staged(
            live=name,
            staging=f"{name}{_STAGING_SUFFIX}",
            schema=schema,
            oid=oid,
            table=_table(model).to_metadata(
                MetaData(), schema=schema, name=f"{name}{_STAGING_SUFFIX}"
            ),
        )
        live, new = staged.qualified(name), staged.qualified(staged.staging)
        self._execute(
            sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL EXCLUDING INDEXES)").format(new, live)
        )
        # Keys and indexes: built under a temporary name (the live one is taken until the
        # swap), renamed at the swap. A key's index is renamed with its constraint.
        for index, unique, constraint, index_sql, constraint_sql in self._fetch(
            sql.SQL(
                "SELECT i.relname, x.indisunique, c.conname, pg_get_indexdef(x.indexrelid),"
                " pg_get_constraintdef(c.oid)"
                " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
                " LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid"
                " AND c.conrelid = x.indrelid AND c.contype IN ('p', 'u', 'x')"
                " WHERE x.indrelid = %s ORDER BY x.indisprimary DESC, i.relname"
            ),
            (oid,),
        ):
            temporary = next(names)
            if constraint is not None:
                staged.keys.append(
                    sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                        new, sql.Identifier(temporary), sql.SQL(constraint_sql)
                    )
                )
                staged.renames.append(
                    sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                        staged.qualified(name), sql.Identifier(temporary), sql.Identifier(index)
                    )
                )
            else:
                _create, using = index_sql.split(" USING ", 1)
                staged.keys.append(
                    sql.SQL("CREATE {}INDEX {} ON {} USING {}").format(
                        sql.SQL("UNIQUE " if unique else ""),
                        sql.Identifier(temporary),
                        new,
                        sql.SQL(using),
                    )
                )
                staged.renames.append(
                    sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                        staged.qualified(temporary), sql.Identifier(index)
                    )
                )
        # The live table's owner and grants (the importer may be a member of the owner).
        if owner != user:
            staged.privileges.append(
                sql.SQL("ALTER TABLE {} OWNER TO {}").format(new, sql.Identifier(owner))
            )
        for grantee, privilege, grantable in self._fetch(
            sql.SQL(
                "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,"
                " a.privilege_type, a.is_grantable"
                " FROM pg_class c, aclexplode(c.relacl) a"
                " WHERE c.oid = %s AND a.grantee <> c.relowner ORDER BY 1, 2"
            ),
            (oid,),
        ):
            staged.privileges.append(
                sql.SQL("GRANT {} ON {} TO {}{}").format(
                    sql.SQL(privilege),
                    new,
                    sql.SQL("PUBLIC") if grantee == "PUBLIC" else sql.Identifier(grantee),
                    sql.SQL(" WITH GRANT OPTION" if grantable else ""),
                )
            )
        return staged

    def _foreign_keys(self, staged: _Staged) -> list[Composed]:
        """The live table's foreign keys, for the staging table: under their own names
        (a constraint's name is its table's), pointing at the staging tables of the
        network tables they reference (which become the live ones at the swap)."""
        from psycopg import sql

        by_oid = {s.oid: s for s in self._staged.values()}
        statements = []
        for constraint, definition, parent_oid, parent_shown in self._fetch(
            sql.SQL(
                "SELECT conname, pg_get_constraintdef(oid), confrelid, confrelid::regclass::text"
                " FROM pg_constraint WHERE conrelid = %s AND contype = 'f' ORDER BY conname"
            ),
            (staged.oid,),
        ):
            parent = by_oid.get(parent_oid)
            if parent is not None:
                # The definition names the parent as regclass shows it (qualified only
                # when it is not on the search path).
                before = f"REFERENCES {parent_shown}("
                if definition.count(before) != 1:
                    raise RuntimeError(f"cannot read foreign key {constraint!r}: {definition}")
                shown = parent.qualified(parent.staging).as_string(self._raw)
                definition = definition.replace(before, f"REFERENCES {shown}(")
            statements.append(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                    staged.qualified(staged.staging),
                    sql.Identifier(constraint),
                    sql.SQL(definition),
                )
            )
        return statements

    def _build(self, staged: _Staged) -> None:
        if not staged.built:
            for statement in staged.keys:
                self._execute(statement)
            staged.built = True

    def _swap(self) -> None:
        """Lock the live tables, drop them and give their names to the staging tables.

        Readers wait for the lock from the moment it is asked for to the commit; the ask
        gives up after a moment (and is made again) so that a long read already holding a
        table never makes the readers queued behind the swap wait long, nor deadlocks
        with it (lock_timeout is below deadlock_timeout).
        """
        import psycopg
        from psycopg import sql

        live = sql.SQL(", ").join(s.qualified(s.live) for s in self._staged.values())
        ((previous,),) = self._fetch(sql.SQL("SELECT current_setting('lock_timeout')"))
        for attempt in range(_SWAP_ATTEMPTS + 1):
            last = attempt == _SWAP_ATTEMPTS
            self._execute(sql.SQL("SAVEPOINT bushail_swap"))
            self._execute(
                sql.SQL("SELECT set_config('lock_timeout', %s, true)"),
                (previous if last else f"{_SWAP_LOCK_TIMEOUT_MS}ms",),
            )
            try:
                with self._raw.cursor() as cursor:
                    cursor.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(live))
            except psycopg.errors.LockNotAvailable:
                if last:
                    raise
                self._execute(sql.SQL("ROLLBACK TO SAVEPOINT bushail_swap"))
                time.sleep(_SWAP_RETRY_PAUSE_S)
                continue
            self._execute(sql.SQL("RELEASE SAVEPOINT bushail_swap"))
            break
        self.locked_at = time.perf_counter()
        self._execute(sql.SQL("SELECT set_config('lock_timeout', %s, true)"), (previous,))
        self._execute(sql.SQL("DROP TABLE {}").format(live))
        for staged in self._staged.values():
            self._execute(
                sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                    staged.qualified(staged.staging), sql.Identifier(staged.live)
                )
            )
            for statement in staged.renames:
                self._execute(statement)

    def _execute(self, statement: _Statement, params: Sequence[Any] | None = None) -> None:
        with self._errors(statement), self._raw.cursor() as cursor:
            cursor.execute(statement, params)

    def _fetch(
        self, statement: _Statement, params: Sequence[Any] | None = None
    ) -> list[tuple[Any, ...]]:
        with self._errors(statement), self._raw.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall()

    @contextmanager
    def _errors(self, statement: _Statement) -> Iterator[None]:
        """psycopg's errors as SQLAlchemy raises them (IntegrityError, ...)."""
        import psycopg

        try:
            yield
        except psycopg.Error as exc:
            raise _wrapped(statement.as_string(self._raw), exc, psycopg.Error) from exc


@dataclass(eq=False)
class _Staged:
    """A network table's staging table, and the statements that finish it."""

    live: str
    staging: str
    schema: str
    #: The staging table, for SQLAlchemy's INSERT and UPDATE.
    oid: int
    table: Table
    #: Its primary key, unique constraints and indexes, under temporary names.
    keys: list[Composed] = field(default_factory=list)
    foreign_keys: list[Composed] = field(default_factory=list)
    privileges: list[Composed] = field(default_factory=list)
    #: Run at the swap: the temporary names become the live table's.
    renames: list[Composed] = field(default_factory=list)
    built: bool = False

    def qualified(self, name: str) -> Identifier:
        from psycopg import sql

        return sql.Identifier(self.schema, name)


def _table(model: type[SQLModel]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


def _sqlite(conn: Connection) -> sqlite3.Connection:
    return cast(sqlite3.Connection, conn.connection.dbapi_connection)


def _wrapped(statement: str, exc: Exception, base: type[Exception]) -> BaseException:
    """The driver's error as SQLAlchemy raises it elsewhere (IntegrityError, ...)."""
    return cast(BaseException, DBAPIError.instance(statement, None, exc, base))
