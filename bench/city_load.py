"""One load shard of ``bench/bench_city.py``: a slice of the city's devices in a process.

Each device is a light stand-in: one MQTT 5 connection with the device's own login
(``vehicle.{id}`` for a bus and its driver display, ``stop.{id}`` for a stop gateway)
that writes the protocol's bytes itself (an asyncio Protocol, no paho, no thread, a few
KB per device), so that thousands fit in one process. What the broker and the server
receive is what the real device sends (``broker_config.session`` and
``broker_config.device.runtime``), built with ``broker_config.topics`` and
``broker_config.messages``:

- CONNECT as ``MqttSession`` sends it: MQTT 5, clean start off, session expiry and
  maximum packet size properties, keepalive 15 s, the retained OFFLINE ``DeviceStatus``
  as the will (QoS 1); the client id is the login.
- After CONNACK one SUBSCRIBE with the device's filters at QoS 1 (a gateway: its calls,
  announcements, receipts and every server's status; a display: its alerts, receipts
  and every server's status), then the retained ONLINE ``DeviceStatus`` birth (QoS 1).
- A bus: ``VehiclePosition`` at QoS 0 every 10 s, driving its route one stop a minute
  (see ``bus_fix``). Every device: ``DeviceHealth`` at QoS 0 right after connecting and
  every 30 s (buses from the ``devices`` command on: the bench measures positions
  alone first). Sends are staggered evenly over each period across the whole city.
- PINGREQ when nothing was sent for a keepalive, as paho does; every QoS 1 message
  received (calls, alerts, receipts, server status) is acknowledged.

Left out: speech, chimes, taps and button presses (no driver acknowledges an alert),
and reconnecting (a lost connection is counted, not made again).

Talks to its parent in JSON lines. stdin: ``{"cmd": "buses" | "devices" | "stats" |
"stop"}``. stdout: ``{"ev": "ready", "what": ..., "connected": n, "failed": n}``,
``{"ev": "alert", "rid": ..., "t": monotonic}`` (the first arrival of each reservation's
DriverAlert, stamped as it was read off the socket) and ``{"ev": "stats", ...}``.

    python -m bench.city_load CONFIG.json
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import json
import socket
import struct
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from broker_config.aio import cancel_and_wait
from broker_config.const import DEFAULT_KEEPALIVE_S, DEVICE_SESSION_EXPIRY_S, MAX_PAYLOAD_BYTES
from broker_config.messages import (
    DeviceHealth,
    DeviceState,
    DeviceStatus,
    VehiclePosition,
    VehicleStopStatus,
    encode,
    utcnow,
)
from broker_config.registry import Credentials
from broker_config.topics import Owner, TopicKind, Topics, login_for

__all__ = ["DWELL_S", "SEGMENT_S", "Route", "bus_fix", "position"]

#: Seconds a bus takes from one stop to the next (the feed's stop_times agree), and how
#: long of that it stands at the stop.
SEGMENT_S = 60.0
DWELL_S = 10.0
#: What the session adds to a payload at most (``broker_config.paho_loop``).
_PACKET_OVERHEAD = 4096
_PINGREQ = b"\xc0\x00"
_DISCONNECT = b"\xe0\x00"


# -- the buses' motion (shared with the parent, which books ahead of them) ---------------
@dataclass(frozen=True, slots=True)
class Route:
    """One route of the synthetic feed, direction 0 only."""

    route_id: str
    stop_ids: tuple[str, ...]
    coords: tuple[tuple[float, float], ...]
    trip_id: str


def bus_fix(
    route: Route, slot: int, on_route: int, now: float, epoch: float
) -> tuple[int, VehicleStopStatus, float, float]:
    """Where bus ``slot`` of the ``on_route`` buses of ``route`` is at wall time ``now``:
    (stop index, status, lat, lon). Buses run the route end to end, evenly spaced, and
    start again at its first stop."""
    cycle = (len(route.stop_ids) - 1) * SEGMENT_S
    s = (now - epoch + slot / on_route * cycle) % cycle
    seg = int(s // SEGMENT_S)
    within = s - seg * SEGMENT_S
    if within < DWELL_S:
        lat, lon = route.coords[seg]
        return seg, VehicleStopStatus.STOPPED_AT, lat, lon
    frac = (within - DWELL_S) / (SEGMENT_S - DWELL_S)
    (lat0, lon0), (lat1, lon1) = route.coords[seg], route.coords[seg + 1]
    return (
        seg + 1,
        VehicleStopStatus.IN_TRANSIT_TO,
        lat0 + (lat1 - lat0) * frac,
        lon0 + (lon1 - lon0) * frac,
    )


def position(route: Route, slot: int, on_route: int, epoch: float) -> VehiclePosition:
    now = time.time()
    index, status, lat, lon = bus_fix(route, slot, on_route, now, epoch)
    return VehiclePosition(
        route_id=route.route_id,
        direction_id=0,
        trip_id=route.trip_id,
        lat=lat,
        lon=lon,
        stop_id=route.stop_ids[index],
        current_stop_sequence=index + 1,
        current_status=status,
        timestamp=now,
    )


# -- MQTT 5 packets ----------------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return struct.pack("!H", len(data)) + data


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + _varint(len(body)) + body


def connect_packet(login: str, password: str, will_topic: str, will: bytes) -> bytes:
    """CONNECT as MqttSession's first one: MQTT 5, clean start off, a retained QoS 1 will."""
    flags = 0x80 | 0x40 | 0x20 | (1 << 3) | 0x04  # user, password, will retain/QoS 1/flag
    props = (
        b"\x11"
        + struct.pack("!I", DEVICE_SESSION_EXPIRY_S)
        + b"\x27"
        + struct.pack("!I", MAX_PAYLOAD_BYTES + _PACKET_OVERHEAD)
    )
    head = _str("MQTT") + bytes([5, flags]) + struct.pack("!H", DEFAULT_KEEPALIVE_S)
    body = head + _varint(len(props)) + props
    body += _str(login) + b"\x00" + _str(will_topic) + _str(will) + _str(login) + _str(password)
    return _packet(0x10, body)


def publish_packet(topic: str, payload: bytes, *, qos: int, retain: bool, pid: int = 0) -> bytes:
    first = 0x30 | (qos << 1) | (1 if retain else 0)
    pid_bytes = struct.pack("!H", pid) if qos else b""
    return _packet(first, _str(topic) + pid_bytes + b"\x00" + payload)


def subscribe_packet(pid: int, filters: list[str]) -> bytes:
    body = struct.pack("!H", pid) + b"\x00" + b"".join(_str(f) + b"\x01" for f in filters)
    return _packet(0x82, body)


# -- one device --------------------------------------------------------------------------
class Device(asyncio.Protocol):
    """A device's connection; see the module docstring."""

    def __init__(
        self,
        shard: Shard,
        *,
        owner: Owner,
        device_id: str,
        filters: list[str],
        status_topic: str,
        health_topic: str,
    ) -> None:
        self.shard = shard
        self.owner = owner
        self.device_id = device_id
        self.login = login_for(owner, device_id)
        self.filters = filters
        self.status_topic = status_topic
        self.health_topic = health_topic
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.connected = False
        self.health_on = False
        self.started = time.monotonic()
        self.started_at = utcnow()
        self.session = 0
        self.last_out = 0.0
        self._buf = bytearray()

    def status(self, state: DeviceState) -> bytes:
        return encode(
            DeviceStatus(
                state=state,
                session=self.session,
                version=self.shard.version,
                started_at=self.started_at,
            )
        )

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
            self.last_out = time.monotonic()

    def send_health(self) -> None:
        health = DeviceHealth(
            uptime_s=round(time.monotonic() - self.started, 3),
            queue_depth=0,
            speaker_ok=True,
            at=utcnow(),
        )
        self.send(publish_packet(self.health_topic, encode(health), qos=0, retain=False))
        self.shard.sent["health"] += 1

    # -- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.session = max(self.session + 1, time.time_ns() // 1_000_000)
        password = self.shard.credentials.password(self.login)
        will = self.status(DeviceState.OFFLINE)
        self.send(connect_packet(self.login, password, self.status_topic, will))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.connected and not self.shard.stopping:
            self.shard.lost += 1
        self.connected = False
        if not self.ready.done():
            self.ready.set_result(False)

    def data_received(self, data: bytes) -> None:
        stamp = time.monotonic()
        buf = self._buf
        buf += data
        while len(buf) >= 2:
            length, shift, i = 0, 0, 1
            while True:
                if i >= len(buf):
                    return
                byte = buf[i]
                length |= (byte & 0x7F) << shift
                shift += 7
                i += 1
                if not byte & 0x80:
                    break
            if len(buf) < i + length:
                return
            first, body = buf[0], bytes(buf[i : i + length])
            del buf[: i + length]
            self._handle(first, body, stamp)

    def _handle(self, first: int, body: bytes, stamp: float) -> None:
        kind = first >> 4
        if kind == 2:  # CONNACK
            if body[1] != 0:
                self._fail()
                return
            self.send(subscribe_packet(1, self.filters))
        elif kind == 9:  # SUBACK: the reason codes follow the packet id and properties
            props_len = body[2]  # our properties are short: one byte of length
            if any(code >= 0x80 for code in body[3 + props_len :]):
                self._fail()
                return
            retained = self.status(DeviceState.ONLINE)
            self.send(publish_packet(self.status_topic, retained, qos=1, retain=True, pid=2))
        elif kind == 4:  # PUBACK (the birth's)
            if not self.connected:
                self.connected = True
                if self.health_on:
                    self.send_health()
                if not self.ready.done():
                    self.ready.set_result(True)
        elif kind == 3:  # PUBLISH
            self._on_publish(first, body, stamp)

    def _on_publish(self, first: int, body: bytes, stamp: float) -> None:
        qos = (first >> 1) & 3
        (tlen,) = struct.unpack_from("!H", body)
        topic = body[2 : 2 + tlen].decode()
        pos = 2 + tlen
        if qos:
            (pid,) = struct.unpack_from("!H", body, pos)
            pos += 2
            self.send(b"\x40\x02" + struct.pack("!H", pid))
        props_len, shift = 0, 0
        while True:
            byte = body[pos]
            pos += 1
            props_len |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        payload = body[pos + props_len :]
        self.shard.received += 1
        if self.owner is Owner.VEHICLE and payload:
            parsed = self.shard.topics.parse(topic)
            if parsed.kind is TopicKind.VEHICLE_ALERT and parsed.reservation_id is not None:
                self.shard.on_alert(parsed.reservation_id, stamp)

    def _fail(self) -> None:
        self.shard.refused += 1
        if not self.ready.done():
            self.ready.set_result(False)
        if self.transport is not None:
            self.transport.close()


def _same(device: Device) -> Device:
    return device


# -- the shard ---------------------------------------------------------------------------
class Shard:
    """The devices of one process, their schedule, and the parent's commands."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.topics = Topics()
        self.credentials = Credentials(Path(config["credentials"]))
        try:
            self.version = metadata.version("bushail")
        except metadata.PackageNotFoundError:
            self.version = "0"
        self.routes = {
            r["route_id"]: Route(
                r["route_id"],
                tuple(r["stop_ids"]),
                tuple((float(a), float(b)) for a, b in r["coords"]),
                r["trip_id"],
            )
            for r in config["routes"]
        }
        self.buses: list[tuple[Device, Route, int, int, int]] = []
        self.gateways: list[tuple[Device, int]] = []
        self.sent = {"position": 0, "health": 0, "ping": 0}
        self.received = 0
        self.lost = self.refused = 0
        self.stopping = False
        self.seen: set[str] = set()
        self.lag: list[float] = []
        #: (due monotonic, tie-breaker, what, index)
        self._heap: list[tuple[float, int, str, int]] = []
        self._seq = 0
        self._wake = asyncio.Event()
        self._origin = time.monotonic()

    def emit(self, event: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()

    def on_alert(self, rid: str, stamp: float) -> None:
        if rid not in self.seen:
            self.seen.add(rid)
            self.emit({"ev": "alert", "rid": rid, "t": stamp})

    def _schedule(self, what: str, index: int, phase: float, period: float) -> None:
        now = time.monotonic()
        periods = max(0.0, (now - self._origin - phase) // period + 1)
        due = self._origin + phase + periods * period
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, what, index))
        self._wake.set()

    async def _connect_all(self, devices: list[Device], what: str) -> None:
        """Connect ``devices`` at the shard's share of the ramp rate, then report."""
        loop = asyncio.get_running_loop()
        cfg = self.config
        gap = 1.0 / cfg["ramp_rate"]
        start = time.monotonic()
        failed = 0
        pending = []
        for k, device in enumerate(devices):
            delay = start + k * gap - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(
                loop.create_task(
                    loop.create_connection(
                        functools.partial(_same, device), cfg["host"], cfg["port"]
                    )
                )
            )
        for task in pending:
            with contextlib.suppress(OSError):
                await task
        for device in devices:
            try:
                ok = await asyncio.wait_for(asyncio.shield(device.ready), 30)
            except TimeoutError:
                ok = False
            failed += not ok
        self.emit(
            {"ev": "ready", "what": what, "connected": len(devices) - failed, "failed": failed}
        )

    async def buses_on(self) -> None:
        cfg = self.config
        devices = []
        for vid, route_id, slot, on_route, index in cfg["buses"]:
            device = Device(
                self,
                owner=Owner.VEHICLE,
                device_id=vid,
                filters=[
                    self.topics.vehicle_alerts_filter(vid),
                    self.topics.vehicle_receipts(vid),
                    self.topics.all_of(TopicKind.SERVER_STATUS),
                ],
                status_topic=self.topics.vehicle_status(vid),
                health_topic=self.topics.vehicle_health(vid),
            )
            self.buses.append((device, self.routes[route_id], slot, on_route, index))
            devices.append(device)
        for n, (_d, _r, _s, _o, index) in enumerate(self.buses):
            self._schedule(
                "position", n, index / cfg["total_buses"] * cfg["position_s"], cfg["position_s"]
            )
        await self._connect_all(devices, "buses")

    async def devices_on(self) -> None:
        cfg = self.config
        period = cfg["health_s"]
        total = cfg["total_devices"]
        for n, (device, _r, _s, _o, index) in enumerate(self.buses):
            # No health at once: that would be every bus in one burst. Each display's
            # first health comes at its slot of the period.
            device.health_on = True
            self._schedule("bus-health", n, index / total * period, period)
        devices = []
        for stop_id, index in cfg["gateways"]:
            device = Device(
                self,
                owner=Owner.STOP,
                device_id=stop_id,
                filters=[
                    self.topics.stop_calls_filter(stop_id),
                    self.topics.stop_announce(stop_id),
                    self.topics.stop_receipts(stop_id),
                    self.topics.all_of(TopicKind.SERVER_STATUS),
                ],
                status_topic=self.topics.stop_status(stop_id),
                health_topic=self.topics.stop_health(stop_id),
            )
            device.health_on = True
            self.gateways.append((device, index))
            devices.append(device)
        for n, (_d, index) in enumerate(self.gateways):
            self._schedule("stop-health", n, (cfg["total_buses"] + index) / total * period, period)
        await self._connect_all(devices, "devices")

    async def run_schedule(self) -> None:
        cfg = self.config
        while True:
            now = time.monotonic()
            heap = self._heap
            while heap and heap[0][0] <= now:
                due, _seq, what, n = heapq.heappop(heap)
                self.lag.append(now - due)
                if what == "position":
                    device, route, slot, on_route, _i = self.buses[n]
                    if device.connected:
                        pos = position(route, slot, on_route, cfg["epoch"])
                        topic = self.topics.vehicle_position(device.device_id)
                        device.send(publish_packet(topic, encode(pos), qos=0, retain=False))
                        self.sent["position"] += 1
                    period = cfg["position_s"]
                else:
                    device = self.buses[n][0] if what == "bus-health" else self.gateways[n][0]
                    if device.connected:
                        device.send_health()
                    period = cfg["health_s"]
                self._seq += 1
                heapq.heappush(heap, (due + period, self._seq, what, n))
            self._wake.clear()
            wait = min(0.5, heap[0][0] - time.monotonic()) if heap else 0.5
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, wait))

    async def keepalive(self) -> None:
        """PINGREQ from every connection that sent nothing for a keepalive (as paho)."""
        while True:
            await asyncio.sleep(1.0)
            limit = time.monotonic() - DEFAULT_KEEPALIVE_S
            for device in [b[0] for b in self.buses] + [g[0] for g in self.gateways]:
                if device.connected and device.last_out <= limit:
                    device.send(_PINGREQ)
                    self.sent["ping"] += 1

    def stats(self) -> dict[str, Any]:
        lag = sorted(self.lag)
        self.lag = []
        p99 = lag[min(len(lag) - 1, int(0.99 * len(lag)))] if lag else 0.0
        return {
            "ev": "stats",
            "sent": dict(self.sent),
            "received": self.received,
            "lost": self.lost,
            "refused": self.refused,
            "lag_p99_s": p99,
            "lag_max_s": lag[-1] if lag else 0.0,
        }

    def close(self) -> None:
        self.stopping = True
        for device in [b[0] for b in self.buses] + [g[0] for g in self.gateways]:
            if device.transport is not None and not device.transport.is_closing():
                device.transport.write(_DISCONNECT)
                device.transport.close()


async def run(config: dict[str, Any]) -> None:
    shard = Shard(config)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    background = [
        asyncio.create_task(shard.run_schedule()),
        asyncio.create_task(shard.keepalive()),
    ]
    commands: set[asyncio.Task[None]] = set()
    try:
        while line := await reader.readline():
            cmd = json.loads(line)["cmd"]
            if cmd == "stop":
                break
            if cmd == "stats":
                shard.emit(shard.stats())
                continue
            task = asyncio.create_task(shard.buses_on() if cmd == "buses" else shard.devices_on())
            commands.add(task)
            task.add_done_callback(commands.discard)
    finally:
        shard.close()
        await cancel_and_wait(*background, *commands)
        await asyncio.sleep(0.2)  # let the DISCONNECTs go out


def main() -> None:
    config = json.loads(Path(sys.argv[1]).read_text())
    asyncio.run(run(config))


if __name__ == "__main__":
    main()
