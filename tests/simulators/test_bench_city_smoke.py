"""``bench/bench_city.py`` at a tiny size: it runs every step, prints every row and the
per-unit costs, and loses no driver alert. No timing is asserted: the figures of so
small a city say nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
STEPS = ("idle", "buses", "devices", "bookings")


@pytest.mark.timeout(90)
def test_bench_city_runs_every_step_and_loses_no_alert() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.bench_city",
            "--buses",
            "5",
            "--gateways",
            "5",
            "--rate",
            "1",
            "--duration",
            "3",
            "--settle",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=80,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr[-3000:]
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    for step in STEPS:
        assert any(row.startswith(f"| {step} |") for row in rows), out
    assert "bookings: 3 sent, 0 refused, 0 unassigned, lost alerts: 0" in out, out
    assert "the API counts online with a health: 5 of 5 gateways" in out, out
    for unit in ("per 1,000 buses", "per 1,000 devices", "per booking/s"):
        assert f"| {unit}" in out, out
    assert "Taipei size" in out, out
