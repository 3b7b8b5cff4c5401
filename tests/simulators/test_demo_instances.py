"""``bushail-sim demo --instances 2``: two API instances on one PostgreSQL database serve
the demo city. It refuses to start without PostgreSQL; with it, both instances answer,
one leads, and a booking made through the second reaches the driver display the demo
serves, and is seen through the first."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

from simulators.cli import main
from simulators.faults.database import scratch_database
from tests.simulators.conftest import write_feed
from tests.support.demo_process import alive, drain, read_until
from tests.support.waiting import eventually


def test_several_instances_without_postgresql_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for extra in ([], ["--database-url", f"sqlite:///{tmp_path / 'demo.db'}"]):
        with pytest.raises(SystemExit) as exited:
            main(["demo", "--instances", "2", "--state-dir", str(tmp_path / "state"), *extra])
        assert exited.value.code == 2
        err = capsys.readouterr().err
        assert "2 API instances need one PostgreSQL database" in err, err
        assert "--database-url postgresql://" in err, err
    assert not (tmp_path / "state").exists(), "nothing may start before the refusal"


@pytest.mark.e2e
@pytest.mark.postgres
@pytest.mark.timeout(120)
async def test_two_instance_demo_serves_a_booking_through_the_second(
    tmp_path: Path, postgres_url: str
) -> None:
    feed = write_feed(tmp_path / "feed")
    async with scratch_database("postgresql", tmp_path, postgres_url) as database_url:
        proc = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "bushail-sim"),
            "demo",
            "--instances",
            "2",
            "--database-url",
            database_url,
            "--feed",
            str(feed),
            "--vehicles",
            "1",
            "--riders-per-hour",
            "0",
            "--speed",
            "20",
            "--port",
            "0",
            "--duration",
            "100",
            "--refresh",
            "60",
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
                urls = {}
                for name in ("api1", "api2"):
                    m = await read_until(proc.stdout, seen, rf"instance {name}: (\S+)/")
                    urls[name] = m.group(1)
                m = await read_until(proc.stdout, seen, r"driver display:\s+(\S+)/")
                screen = m.group(1)
            reader = asyncio.create_task(drain(proc.stdout, seen))
            assert urls["api1"] != urls["api2"]
            async with httpx.AsyncClient(timeout=10) as client:

                async def healths() -> list[dict[str, object]]:
                    return [(await client.get(f"{u}/healthz")).json() for u in urls.values()]

                ready = await eventually(
                    healths,
                    lambda hs: (
                        sum(1 for h in hs if h["leader"] is True) == 1
                        and all(h["broker_connected"] for h in hs)
                    ),
                    timeout=15,
                    what="both instances connected, one leading",
                )
                assert [h["instance"] for h in ready] == ["api1", "api2"]

                second = urls["api2"]
                r = await client.post(f"{second}/v1/riders", json={"display_name": "two"})
                assert r.status_code == 201, r.text
                rider = {"Authorization": f"Bearer {r.json()['token']}"}
                booked = []
                for stop_id in ("S2", "S3", "S4"):
                    body = {"stop_id": stop_id, "route_id": "R1", "direction_id": 0}
                    r = await client.post(f"{second}/v1/reservations", json=body, headers=rider)
                    assert r.status_code == 201, r.text
                    booked.append(r.json()["id"])

                async def shown() -> list[str]:
                    page = (await client.get(f"{screen}/")).text
                    return [rid for rid in booked if f'data-reservation="{rid}"' in page]

                on_screen = await eventually(
                    shown, bool, timeout=45, interval=0.2, what="a booking on the driver screen"
                )
                r = await client.get(
                    f"{urls['api1']}/v1/reservations/{on_screen[0]}", headers=rider
                )
                assert r.status_code == 200, r.text
                assert r.json()["vehicle_id"] == "SIM-001", r.text
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
