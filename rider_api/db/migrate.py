"""Bring a database to the newest schema with Alembic (run by the app at start)."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlmodel import SQLModel

from rider_api import models  # noqa: F401 - registers every table
from rider_api.db.engine import make_sync_engine, sync_url

__all__ = ["SchemaDriftError", "alembic_config", "upgrade"]

logger = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class SchemaDriftError(RuntimeError):
    """The database has tables but no migration history, and they differ from the models."""


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = sync_url(url)
    return cfg


def upgrade(url: str) -> None:
    """Migrate to head; a schema made by ``create_all`` that matches the models is adopted.

    A database already at a revision this release does not know (a newer release
    migrated it: a rolling upgrade, or going back to the previous release) is left as it
    is: migrations only add (docs/deploy.md), so the older code still finds what it uses.
    """
    cfg = alembic_config(url)
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            insp = inspect(conn)
            versioned = insp.has_table("alembic_version")
            populated = insp.has_table("reservation")
            diff = []
            if populated and not versioned:
                diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
            current = MigrationContext.configure(conn).get_current_heads() if versioned else ()
    finally:
        engine.dispose()
    known = {rev.revision for rev in ScriptDirectory.from_config(cfg).walk_revisions()}
    newer = [rev for rev in current if rev not in known]
    if newer:
        logger.warning(
            "the database is at revision %s, newer than this release knows; starting "
            "without migrating (migrations only add: docs/deploy.md)",
            ", ".join(newer),
        )
        return
    if populated and not versioned:
        if diff:
            raise SchemaDriftError(
                f"the database has tables without migration history that differ from the "
                f"models ({len(diff)} differences, first: {diff[0]!r}); migrate it by hand"
            )
        logger.info("adopting an existing schema that matches the models")
        command.stamp(cfg, "head")
        return
    command.upgrade(cfg, "head")
