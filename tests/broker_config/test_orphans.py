"""A managed Mosquitto does not outlive a parent that is killed hard."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.waiting import eventually

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from broker_config.broker import BrokerSettings, ManagedBroker

    async def main() -> None:
        async with ManagedBroker(BrokerSettings(state_dir=Path(sys.argv[1]), port=0)) as b:
            print(b.pid, flush=True)
            await asyncio.Event().wait()

    asyncio.run(main())
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs util-linux setpriv")
async def test_broker_exits_when_its_parent_is_killed(tmp_path: Path) -> None:
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SCRIPT, str(tmp_path / "state"), stdout=asyncio.subprocess.PIPE
    )
    assert parent.stdout is not None
    line = await asyncio.wait_for(parent.stdout.readline(), 15)
    broker_pid = int(line)
    assert _alive(broker_pid)
    parent.send_signal(signal.SIGKILL)  # no chance to clean up
    await parent.wait()
    await eventually(lambda: not _alive(broker_pid), what="mosquitto exits with its parent")
