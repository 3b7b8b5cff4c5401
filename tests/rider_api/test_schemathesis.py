"""Schemathesis generates requests from /openapi.json: no request may cause a 5xx."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.rider_api.conftest import OPERATOR_TOKEN, ApiServer


def _schemathesis() -> str:
    found = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    if not Path(found).exists():
        pytest.fail("schemathesis is not installed: ./dev.sh test installs the dev extras")
    return found


@pytest.mark.timeout(600)
@pytest.mark.parametrize("who", ["rider", "operator"])
async def test_no_5xx_from_generated_requests(api: ApiServer, who: str) -> None:
    if who == "rider":
        token = (await api.rider())["token"]
    else:
        token = OPERATOR_TOKEN
    proc = await asyncio.create_subprocess_exec(
        _schemathesis(),
        "run",
        f"{api.base_url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        "30",
        "--seed",
        "1",
        "--header",
        f"Authorization: Bearer {token}",
        "--exclude-path-regex",
        "/events$",
        "--request-timeout",
        "10",
        "--no-color",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 540)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-4000:]
    tested = re.search(r"Tested:\s+(\d+)", text)
    assert tested is not None, text[-2000:]
    assert int(tested.group(1)) >= 15, text[-2000:]  # every API operation was exercised
