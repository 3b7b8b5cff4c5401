"""SQLite specifics: inline connections never checkpoint on the loop; a worker does."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from rider_api.db.engine import checkpoint, make_async_engine
from rider_api.db.migrate import upgrade


async def test_inline_sqlite_leaves_checkpoints_to_the_worker(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    upgrade(url)
    engine = make_async_engine(url)
    try:
        async with engine.begin() as conn:
            auto = (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one()
            assert auto == 0
            for i in range(3000):  # well past SQLite's default 1,000-page checkpoint
                await conn.execute(
                    text("INSERT INTO networkmeta (key, value) VALUES (:k, :v)"),
                    {"k": f"k{i}", "v": "x" * 500},
                )
        wal = Path(f"{tmp_path / 'c.db'}-wal")
        assert wal.stat().st_size > 1_000_000  # nothing was checkpointed inline
        busy, log, done = await asyncio.to_thread(checkpoint, url)
        assert busy == 0
        assert log > 0
        assert done == log
    finally:
        await engine.dispose()
