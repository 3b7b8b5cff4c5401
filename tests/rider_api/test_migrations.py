"""Alembic migrations produce exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from rider_api.db.engine import make_sync_engine
from rider_api.db.migrate import SchemaDriftError, alembic_config, upgrade

#: The newest migration (one line of history: a second head would fail here).
HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def _diff(url: str) -> list[object]:
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), SQLModel.metadata))
    finally:
        engine.dispose()


def _version(url: str) -> str:
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())
    finally:
        engine.dispose()


def test_upgrade_matches_models_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    assert _diff(url) == []
    upgrade(url)  # idempotent
    assert _version(url) == HEAD


@pytest.mark.postgres
def test_upgrade_matches_models_on_postgres(fresh_postgres_url: str) -> None:
    upgrade(fresh_postgres_url)
    assert _diff(fresh_postgres_url) == []
    assert _version(fresh_postgres_url) == HEAD


def test_schema_from_create_all_is_adopted_and_drift_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'adopt.db'}"
    engine = make_sync_engine(url)
    SQLModel.metadata.create_all(engine)
    engine.dispose()
    upgrade(url)
    assert _version(url) == HEAD

    drifted = f"sqlite:///{tmp_path / 'drift.db'}"
    engine = make_sync_engine(drifted)
    SQLModel.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE reservation ADD COLUMN surprise INTEGER"))
    engine.dispose()
    with pytest.raises(SchemaDriftError, match="differ from the models"):
        upgrade(drifted)
    engine = make_sync_engine(drifted)
    assert not inspect(engine).has_table("alembic_version")
    engine.dispose()


def test_a_database_migrated_by_a_newer_release_is_left_as_it_is(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """During a rolling upgrade (or going back a release) an older instance starts on a
    database a newer one migrated: migrations only add, so it runs on it unchanged."""
    url = f"sqlite:///{tmp_path / 'ahead.db'}"
    upgrade(url)
    engine = make_sync_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'from_the_future'"))
    engine.dispose()
    upgrade(url)  # no "Can't locate revision"
    assert _version(url) == "from_the_future"
    assert "newer than this release knows" in caplog.text
    assert _diff(url) == []
