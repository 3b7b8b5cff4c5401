"""What the server shows and leaves readable: /metrics for operators only, the API docs
switchable off (and a warning when they are on beyond loopback), the state owner-only."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rider_api import cli
from rider_api.app import create_app
from rider_api.cli import docs_exposure_warning
from rider_api.db.engine import make_async_engine, make_sync_engine
from rider_api.serve import InProcessServer
from rider_api.settings import ApiSettings
from tests.rider_api.conftest import OPERATOR_TOKEN, ApiFactory, ApiServer

pytestmark = pytest.mark.timeout(60)

DOCS = ("/docs", "/redoc", "/openapi.json")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most machines run with (files 0644, folders 0755 unless told)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


# -- /metrics -------------------------------------------------------------------------------


async def test_metrics_refuse_anyone_without_the_operator_credential(api: ApiServer) -> None:
    anonymous = await api.client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert "bushail_" not in anonymous.text
    rider = await api.rider()
    for headers in (rider["headers"], {"Authorization": "Bearer not-a-token"}):
        refused = await api.client.get("/metrics", headers=headers)
        assert refused.status_code == 403
        assert "bushail_" not in refused.text


async def test_metrics_answer_a_scrape_with_the_operator_token(api: ApiServer) -> None:
    """What Prometheus sends with ``authorization: {credentials: <operator token>}``."""
    r = await api.client.get("/metrics", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "bushail_reservations{" in r.text
    assert "bushail_broker_connected 1.0" in r.text


# -- the API docs --------------------------------------------------------------------------


async def test_the_api_docs_are_on_by_default_for_development(api: ApiServer) -> None:
    for path in DOCS:
        assert (await api.client.get(path)).status_code == 200, path


async def test_the_api_docs_are_off_with_the_setting(make_api: ApiFactory) -> None:
    api = await make_api(mqtt=False, api_docs=False)
    for path in DOCS:
        r = await api.client.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"] == "application/problem+json", path
        assert "/v1/riders" not in r.text, path
    # The API itself is unchanged.
    assert (await api.client.post("/v1/riders", json={"display_name": "Mei"})).status_code == 201


def test_the_docs_setting_reads_the_documented_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ApiSettings().api_docs is True
    monkeypatch.setenv("BUSHAIL_API_API_DOCS", "false")
    assert ApiSettings().api_docs is False


@pytest.mark.parametrize(
    ("host", "docs", "warned"),
    [
        ("0.0.0.0", True, True),  # noqa: S104 - the case warned about
        ("192.0.2.10", True, True),
        ("::", True, True),
        ("api.example", True, True),
        ("127.0.0.1", True, False),
        ("127.0.1.1", True, False),
        ("::1", True, False),
        ("[::1]", True, False),
        ("localhost", True, False),
        ("0.0.0.0", False, False),  # noqa: S104
    ],
)
def test_docs_on_beyond_loopback_are_warned_about(host: str, docs: bool, warned: bool) -> None:
    warning = docs_exposure_warning(ApiSettings(api_docs=docs), host)
    assert (warning is not None) == warned
    if warning is not None:
        assert "BUSHAIL_API_API_DOCS=false" in warning
        assert host in warning


@pytest.mark.parametrize(("docs", "warned"), [("true", True), ("false", False)])
def test_bushail_api_serve_warns_at_start(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    docs: str,
    warned: bool,
) -> None:
    import uvicorn

    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.update(kw))
    monkeypatch.setenv("BUSHAIL_API_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("BUSHAIL_API_API_DOCS", docs)
    with caplog.at_level(logging.WARNING, logger="rider_api.cli"):
        assert cli.main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 0  # noqa: S104
    assert served["host"] == "0.0.0.0"  # noqa: S104
    messages = [r.getMessage() for r in caplog.records if r.name == "rider_api.cli"]
    assert any("API docs" in m for m in messages) == warned


# -- files on disk --------------------------------------------------------------------------


@pytest.mark.usefixtures("usual_umask")
async def test_a_fresh_state_folder_and_database_are_owner_only(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    settings = ApiSettings(state_dir=state_dir, mqtt_enabled=False)
    async with (
        InProcessServer(create_app(settings)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as client,
    ):
        r = await client.post("/v1/riders", json={"display_name": "Mei"})  # a write: the WAL
        assert r.status_code == 201
        files = {p.name: mode(p) for p in state_dir.iterdir()}
        assert mode(state_dir) == 0o700
        assert files == {
            "bushail.db": 0o600,
            "bushail.db-wal": 0o600,
            "bushail.db-shm": 0o600,
            "bushail.db.instance.lock": 0o600,  # one instance per SQLite file
            "vapid_private_key.pem": 0o600,  # Web Push signing key
        }


@pytest.mark.usefixtures("usual_umask")
async def test_state_made_readable_before_is_narrowed_at_start(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    settings = ApiSettings(state_dir=state_dir, mqtt_enabled=False)
    async with InProcessServer(create_app(settings)):
        pass  # leaves a database behind
    state_dir.chmod(0o755)
    for path in state_dir.iterdir():
        path.chmod(0o644)
    (state_dir / "bushail.db-wal").touch(mode=0o644)
    async with InProcessServer(create_app(settings)):
        assert mode(state_dir) == 0o700
        assert {p.name: mode(p) for p in state_dir.iterdir()} == {
            "bushail.db": 0o600,
            "bushail.db-wal": 0o600,
            "bushail.db-shm": 0o600,
            "bushail.db.instance.lock": 0o600,
            "vapid_private_key.pem": 0o600,
        }


@pytest.mark.usefixtures("usual_umask")
async def test_every_engine_creates_its_sqlite_file_owner_only(tmp_path: Path) -> None:
    """Migrations and ``bushail-api network import`` open the database synchronously;
    the server, asynchronously (the inline SQLite connection)."""
    from sqlalchemy import text

    sync_db, async_db = tmp_path / "sync.db", tmp_path / "async.db"
    engine = make_sync_engine(f"sqlite:///{sync_db}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    engine.dispose()
    async_engine = make_async_engine(f"sqlite:///{async_db}")
    async with async_engine.begin() as aconn:
        await aconn.execute(text("CREATE TABLE t (x INTEGER)"))
    await async_engine.dispose()
    assert {p.name: mode(p) for p in tmp_path.iterdir()} == {"sync.db": 0o600, "async.db": 0o600}


def test_a_folder_not_ours_to_narrow_is_left_alone_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from rider_api.core.private_files import private_dir

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # a sticky, shared folder like /tmp
    with caplog.at_level(logging.WARNING, logger="rider_api.core.private_files"):
        private_dir(shared)
    assert mode(shared) == 0o1777
    assert "readable by others" in caplog.text
