"""The API and a stop gateway as child processes, ended by PID (SIGTERM or kill -9)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from broker_config.broker import ManagedBroker, free_port
from broker_config.errors import MalformedPayloadError
from broker_config.messages import DeviceState, DeviceStatus, EventReceipt, decode
from broker_config.session import MqttSession, ReceivedMessage, SessionOptions
from broker_config.topics import monitor_login
from simulators.faults.const import GATEWAY_WATCH
from simulators.faults.waiting import until


def _die_with_parent() -> list[str]:
    """A prefix that ends the child when this process dies (util-linux ``setpriv``)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


class ApiProcess:
    """``bushail-api serve`` as a child process, so that it can be killed with SIGKILL."""

    def __init__(self, *, env: dict[str, str], log_path: Path, log_level: str = "info") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = env
        self._log_path = log_path
        self._log_level = log_level
        self._proc: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self, *, timeout: float = 60.0) -> None:
        """Start it and return once it answers and its broker session is up."""
        with self._log_path.open("ab") as log:
            self._proc = await asyncio.create_subprocess_exec(
                *_die_with_parent(),
                sys.executable,
                "-m",
                "rider_api.cli",
                "serve",
                "--port",
                str(self.port),
                "--log-level",
                self._log_level,
                env=self._env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        self.starts += 1
        proc = self._proc
        async with httpx.AsyncClient(base_url=self.url, timeout=2.0) as client:

            async def ready() -> bool | None:
                if proc.returncode is not None:
                    raise RuntimeError(
                        f"the API exited at start ({proc.returncode}): see {self._log_path}"
                    )
                try:
                    health = (await client.get("/healthz")).json()
                except (httpx.HTTPError, ValueError):
                    return None
                return True if health.get("broker_connected") else None

            await until(ready, timeout=timeout, what="the API to answer with its broker connected")

    async def kill(self) -> None:
        """``kill -9``: no shutdown, no goodbye to the broker."""
        await self._end(signal.SIGKILL)

    async def stop(self) -> None:
        """SIGTERM: uvicorn's graceful shutdown."""
        await self._end(signal.SIGTERM)

    async def _end(self, sig: signal.Signals) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(sig)
        try:
            await asyncio.wait_for(proc.wait(), 20.0)
        except TimeoutError:
            proc.kill()
            await proc.wait()


class GatewayProcess:
    """``bushail-gateway --keyboard`` of one stop as a child process; its keypad is stdin.

    ``async with`` opens a watch on the stop's status and receipts (to know when a run is
    online and which presses the server has answered) and starts the gateway; leaving
    stops it.
    """

    def __init__(self, *, stop_id: str, broker: ManagedBroker, log_dir: Path) -> None:
        self.stop_id = stop_id
        self._broker = broker
        self._log_dir = log_dir
        self._proc: asyncio.subprocess.Process | None = None
        self._logs: list[Path] = []
        #: Keys written to each run's stdin (the rider pressed; the device may not have read).
        self._typed: list[int] = []
        #: Ids of the presses the server has answered (a receipt on the stop's topic).
        self.receipted: set[uuid.UUID] = set()
        self._online_since: datetime | None = None
        self._online = asyncio.Event()
        self._watch: MqttSession | None = None

    async def __aenter__(self) -> GatewayProcess:
        topics = self._broker.topics
        options = SessionOptions(clean_start=True, session_expiry_s=0)
        self._watch = MqttSession(self._broker.endpoint(monitor_login(GATEWAY_WATCH)), options)
        await self._watch.__aenter__()
        await self._watch.wait_connected(10)
        await self._watch.subscribe(topics.stop_status(self.stop_id), self._on_status)
        await self._watch.subscribe(topics.stop_receipts(self.stop_id), self._on_receipt)
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        if self._watch is not None:
            await self._watch.close()

    async def _on_status(self, msg: ReceivedMessage) -> None:
        with contextlib.suppress(MalformedPayloadError):
            status = decode(DeviceStatus, msg.payload)
            since = self._online_since
            if status.state is DeviceState.ONLINE and since and status.started_at >= since:
                self._online.set()

    async def _on_receipt(self, msg: ReceivedMessage) -> None:
        with contextlib.suppress(MalformedPayloadError):
            self.receipted.add(decode(EventReceipt, msg.payload).event_id)

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self, *, timeout: float = 30.0) -> None:
        """Start a run and return once its session is up (its retained status: online)."""
        log_path = self._log_dir / f"gateway-{self.stop_id}-{len(self._logs) + 1}.log"
        self._logs.append(log_path)
        self._typed.append(0)
        self._online_since = datetime.now(UTC)
        self._online.clear()
        with log_path.open("ab") as log:
            self._proc = await asyncio.create_subprocess_exec(
                *_die_with_parent(),
                sys.executable,
                "-m",
                "stop_gateway.cli",
                "--stop",
                self.stop_id,
                "--keyboard",
                "--audio-sink",
                "text",
                "--no-self-test",
                "--broker-port",
                str(self._broker.port),
                "--credentials-file",
                str(self._broker.state_dir / "credentials.json"),
                # Presses not yet answered are kept on disk, across a kill -9.
                "--state-dir",
                str(self._log_dir / "gateway-state"),
                "--log-level",
                "INFO",
                stdin=asyncio.subprocess.PIPE,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        await asyncio.wait_for(self._online.wait(), timeout)

    async def press_help(self, times: int = 1) -> None:
        """Type ``h`` on its keypad (nothing happens while the process is not running)."""
        proc = self._proc
        if proc is None or proc.returncode is not None or proc.stdin is None:
            return
        try:
            proc.stdin.write(b"h" * times)
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            return
        self._typed[-1] += times

    def _taken(self, path: Path) -> int:
        marker = f"stop {self.stop_id}: button help"
        with contextlib.suppress(FileNotFoundError):
            return path.read_text(errors="replace").count(marker)
        return 0

    def presses_taken(self) -> int:
        """Presses the gateway took (it logs each button), over all its runs."""
        return sum(self._taken(p) for p in self._logs)

    async def wait_taken(self, timeout: float = 10.0) -> None:
        """Until the running gateway has read every key typed to it."""
        if not self._logs or not self.alive:
            return

        async def all_read() -> bool | None:
            return True if self._taken(self._logs[-1]) >= self._typed[-1] else None

        await until(all_read, timeout=timeout, what=f"gateway {self.stop_id} to read its keys")

    async def wait_answered(self, timeout: float = 30.0) -> None:
        """Until the server has answered as many presses as the gateway has taken now."""
        taken = self.presses_taken()

        async def answered() -> bool | None:
            return True if len(self.receipted) >= taken else None

        await until(answered, timeout=timeout, what=f"receipts for gateway {self.stop_id}")

    async def kill(self) -> None:
        await self._end(signal.SIGKILL)

    async def stop(self) -> None:
        await self._end(signal.SIGTERM)

    async def _end(self, sig: signal.Signals) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None:
            proc.send_signal(sig)
            try:
                await asyncio.wait_for(proc.wait(), 10.0)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if proc.stdin is not None:
            proc.stdin.close()
