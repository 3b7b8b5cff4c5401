"""Watching a ``bushail-sim demo`` process from a test: read its output until a line
matches, keep reading in the background, and tell a live process from a gone one."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie is not: /proc tells them apart)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and ") Z " not in stat.read_text()


async def read_until(stream: asyncio.StreamReader, seen: list[str], pattern: str) -> re.Match[str]:
    """The first line read so far or from now on that matches ``pattern`` (lines read are
    kept in ``seen``; the output ending first fails with all of it)."""
    while True:
        for line in seen:
            if m := re.search(pattern, line):
                return m
        raw = await stream.readline()
        if not raw:
            raise AssertionError("demo ended early:\n" + "".join(seen))
        seen.append(raw.decode())


async def drain(stream: asyncio.StreamReader, seen: list[str]) -> None:
    """Read the rest of the output into ``seen`` (so the process never blocks writing)."""
    while raw := await stream.readline():
        seen.append(raw.decode())
