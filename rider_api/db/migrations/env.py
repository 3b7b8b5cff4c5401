"""Alembic environment: the models' metadata, the URL handed over by rider_api.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from rider_api import models  # noqa: F401 - registers every table
from rider_api.db.engine import make_sync_engine

config = context.config
url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
if not url:
    raise RuntimeError("no database URL: run migrations through rider_api.db.migrate")

engine = make_sync_engine(url)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
