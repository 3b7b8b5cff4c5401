"""A fresh database for one scenario (SQLite file or scratch PostgreSQL), migrated and fed."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from rider_api.db.migrate import upgrade
from rider_api.network.importer import import_feed
from simulators.faults.const import DatabaseKind
from simulators.faults.feed import write_feed


@contextlib.asynccontextmanager
async def scratch_database(
    kind: DatabaseKind, workdir: Path, postgres_url: str | None
) -> AsyncIterator[str]:
    """A fresh, empty database for one scenario (a PostgreSQL one is dropped after)."""
    if kind == "sqlite":
        yield f"sqlite:///{(workdir / 'api.db').resolve()}"
        return
    if not postgres_url:
        raise ValueError("a PostgreSQL run needs a server URL (--postgres-url)")
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    name = f"bushail_faults_{uuid.uuid4().hex[:10]}"
    admin = make_url(postgres_url).set(drivername="postgresql")
    dsn = admin.render_as_string(hide_password=False)

    def execute(statement: sql.Composed) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(statement)

    await asyncio.to_thread(execute, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        await asyncio.to_thread(execute, drop)


def prepare_database(url: str, feed_dir: Path) -> None:
    """The tables and the network, in a worker thread (files and a blocking driver)."""
    upgrade(url)
    import_feed(url, write_feed(feed_dir))
