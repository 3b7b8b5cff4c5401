"""Schemathesis generates requests from /openapi.json: no request may cause a 5xx.

The rider runs every operation but the operators'; the operator runs those (the rest
answer an operator 403 before any input is read, which the rider's run covers).
"""

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


#: The operators' operations.
OPS_PATHS = r"^/(v1/ops/|metrics$)"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("who", ["rider", "operator"])
async def test_no_5xx_from_generated_requests(api: ApiServer, who: str) -> None:
    if who == "rider":
        token = (await api.rider())["token"]
        paths = ["--exclude-path-regex", f"/events$|{OPS_PATHS}"]
    else:
        token = OPERATOR_TOKEN
        paths = ["--include-path-regex", OPS_PATHS, "--exclude-path-regex", "/events$"]
    spec = (await api.client.get("/openapi.json")).json()
    operations = sum(
        len(methods)
        for path, methods in spec["paths"].items()
        if not path.endswith("/events") and bool(re.search(OPS_PATHS, path)) == (who != "rider")
    )
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
        *paths,
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
    assert int(tested.group(1)) == operations, text[-2000:]  # every one was exercised
