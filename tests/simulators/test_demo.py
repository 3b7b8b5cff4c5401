"""``bushail-sim demo`` as a newcomer runs it: starts, serves the pages, completes a
reservation at --speed 20, and stops cleanly on SIGTERM leaving no process behind."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

from broker_config.broker import free_port
from tests.support.demo_process import alive, drain, read_until
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


async def test_demo_starts_serves_completes_a_ride_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    bin_dir = Path(sys.executable).parent
    proc = await asyncio.create_subprocess_exec(
        str(bin_dir / "bushail-sim"),
        "demo",
        "--speed",
        "20",
        # The morning peak whatever the hour here: the default start follows the wall
        # clock (tests/simulators/test_demo_start.py), and a late evening has few buses.
        "--start",
        "07:30",
        "--duration",
        "200",
        "--refresh",
        "2",
        "--port",
        str(port),
        "--vehicles",
        "10",
        "--riders-per-hour",
        "120",
        "--state-dir",
        str(tmp_path / "state"),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    mosquitto_pid: int | None = None
    try:
        async with asyncio.timeout(60):
            m = await read_until(proc.stdout, seen, r"mosquitto pid (\d+)")
            mosquitto_pid = int(m.group(1))
            token = (await read_until(proc.stdout, seen, r"operator token:\s+(\S+)")).group(1)
            base = (await read_until(proc.stdout, seen, r"rider app:\s+(http://\S+)/")).group(1)
        assert base == f"http://127.0.0.1:{port}"
        assert alive(mosquitto_pid)
        reader = asyncio.create_task(drain(proc.stdout, seen))
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for path in ("/healthz", "/", "/ops"):
                r = await client.get(path, headers={"Authorization": f"Bearer {token}"})
                assert r.status_code == 200, (path, r.status_code, r.text[:300])
            assert (await client.get("/healthz")).json()["broker_connected"] is True

            async def completed() -> list[object]:
                r = await client.get(
                    "/v1/ops/reservations",
                    params={"status": "completed"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert r.status_code == 200, r.text
                found: list[object] = r.json()
                return found

            await eventually(completed, timeout=150, interval=1, what="a completed reservation")
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            rc = await proc.wait()
            await reader
        output = "".join(seen)
        assert rc == 0, output
        assert "stopped" in output
        assert not alive(mosquitto_pid), "mosquitto outlived the demo"
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        if mosquitto_pid is not None and alive(mosquitto_pid):
            os.kill(mosquitto_pid, signal.SIGKILL)
