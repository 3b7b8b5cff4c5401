"""Headless Debian Chromium through Playwright, and axe-core checks (WCAG 2.2 AA).

Never ``playwright install``: we drive the system's /usr/bin/chromium.

One Chromium serves the whole test session (``SharedChromium``, the ``browser`` fixture of
tests/conftest.py). Playwright's own ``launch`` would tie the browser to the event loop it
ran on, and every test runs on a loop of its own (pytest-asyncio's function loop, which the
API, broker and display fixtures run on too); so Chromium is a plain child process with a
DevTools port, and each test connects to it (``connected``) and works in contexts of its
own, closed after the test.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
#: What Playwright's ``chromium.launch(headless=True)`` adds (playwright-core's
#: chromiumSwitches), so pages behave as they did when each test launched its own.
PLAYWRIGHT_ARGS = [
    "--headless",
    "--hide-scrollbars",
    "--mute-audio",
    "--blink-settings=primaryHoverType=2,availableHoverTypes=2,"
    "primaryPointerType=4,availablePointerTypes=4",
    "--disable-field-trial-config",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
    "--disable-back-forward-cache",
    "--disable-breakpad",
    "--disable-component-extensions-with-background-pages",
    "--no-default-browser-check",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--disable-features=AvoidUnnecessaryBeforeUnloadCheckSync,DestroyProfileOnBrowserClose,"
    "HttpsUpgrades,HttpsFirstBalancedModeAutoEnable,LensOverlay,MediaRouter,PaintHolding,"
    "ThirdPartyStoragePartitioning,OptimizationHints,NetworkTimeServiceQuerying",
    "--allow-pre-commit-input",
    "--disable-hang-monitor",
    "--disable-ipc-flooding-protection",
    "--disable-popup-blocking",
    "--disable-prompt-on-repost",
    "--force-color-profile=srgb",
    "--metrics-recording-only",
    "--password-store=basic",
    "--use-mock-keychain",
    "--no-service-autorun",
    "--disable-search-engine-choice-screen",
]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def chromium_path() -> str:
    path = os.environ.get("BUSHAIL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("Chromium is missing: 'sudo apt-get install chromium' (./dev.sh test does it)")
    return path


def _die_with_parent() -> list[str]:
    """Make Chromium exit when pytest dies, however it dies (as the broker does)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


class SharedChromium:
    """One headless Chromium for the test session, reached over its DevTools port.

    Launched on first use; launched again if it has died (a crash fails one test, not
    every later one). Its stderr goes to ``chromium-N.log`` in ``workdir``.
    """

    STARTUP_S = 30.0

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.launches = 0
        self._proc: subprocess.Popen[str] | None = None
        self._pump: threading.Thread | None = None
        self._endpoint: str | None = None

    def endpoint(self) -> str:
        """The DevTools WebSocket URL of a running Chromium."""
        if self._proc is None or self._proc.poll() is not None:
            self._launch()
        assert self._endpoint is not None
        return self._endpoint

    def _launch(self) -> None:
        self.stop()
        self.launches += 1
        log = self.workdir / f"chromium-{self.launches}.log"
        command = [
            *_die_with_parent(),
            chromium_path(),
            *PLAYWRIGHT_ARGS,
            *CHROMIUM_ARGS,
            f"--user-data-dir={self.workdir / f'profile-{self.launches}'}",
            "--remote-debugging-port=0",
            "--no-startup-window",
        ]
        self._proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        assert self._proc.stderr is not None
        listening = threading.Event()
        self._pump = threading.Thread(
            target=self._copy_log,
            args=(self._proc.stderr, log, listening),
            name="chromium-stderr",
            daemon=True,
        )
        self._pump.start()
        # Set when Chromium prints its endpoint, or when its stderr ends (it died).
        listening.wait(self.STARTUP_S)
        if self._endpoint is None:
            self.stop()
            pytest.fail(f"Chromium gave no DevTools endpoint; its log ({log}):\n{log.read_text()}")

    def _copy_log(self, stream: IO[str], log: Path, listening: threading.Event) -> None:
        """Drain Chromium's stderr into ``log`` (a full pipe would block it)."""
        with log.open("w") as out, contextlib.suppress(ValueError, OSError):
            for line in stream:
                out.write(line)
                out.flush()
                found = re.search(r"DevTools listening on (ws://\S+)", line)
                if found:
                    self._endpoint = found.group(1)
                    listening.set()
        listening.set()

    def stop(self) -> None:
        proc, self._proc, self._endpoint = self._proc, None, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._pump is not None:
            self._pump.join(10)
            self._pump = None
        if proc is not None and proc.stderr is not None:
            proc.stderr.close()


@asynccontextmanager
async def connected(endpoint: str) -> AsyncIterator[Browser]:
    """This test's connection to the shared Chromium.

    Open pages in contexts of the test's own (``browser.new_context(...)``, or
    ``browser.new_page(...)``): cookies and storage do not leak between tests. Every
    context opened through the connection is closed on leaving; Chromium runs on.
    """
    async with async_playwright() as pw:
        browser = await pw.chromium.connect_over_cdp(endpoint)
        default = list(browser.contexts)  # Chromium's own profile: not ours to close
        try:
            yield browser
        finally:
            for context in browser.contexts:
                if context not in default:
                    await context.close()
            await browser.close()  # only disconnects


def _axe_source() -> str:
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Run axe-core with the WCAG 2.2 AA rule tags; return the violations (empty is good)."""
    await page.evaluate(_axe_source())
    result: dict[str, Any] = await page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']})",
        AXE_TAGS,
    )
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} -> "
        + "; ".join(
            n["target"][0] if isinstance(n["target"][0], str) else str(n["target"])
            for n in v["nodes"][:3]
        )
        for v in violations
    )
