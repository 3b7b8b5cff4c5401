"""Simulated riders: book through the HTTP API as the rider app does, then follow the
reservation until it ends: by polling ``GET /v1/reservations/{id}`` (default) or over
its Server-Sent Events (``follow="sse"``; note that the API currently keeps a database
connection per open stream, so hundreds of streams exhaust a SQLite pool).

A rider waits at the stop (on the :class:`~simulators.devices.Curb`) so the driver can
board them; a rider who does not show up stays away."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass

import httpx

from broker_config.messages import ReservationStatus
from simulators.devices import Curb
from simulators.stats import CityStats

__all__ = ["RideRequest", "SimRider"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RideRequest:
    stop_id: str
    route_id: str
    direction_id: int
    destination_stop_id: str | None = None
    language: str = "zh-TW"
    shows_up: bool = True


class SimRider:
    """One rider's booking and wait, over a shared ``httpx.AsyncClient``."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        request: RideRequest,
        *,
        stats: CityStats,
        curb: Curb,
        follow: str = "poll",
        poll_s: float = 1.0,
    ) -> None:
        self.client = client
        self.follow = follow
        self.poll_s = poll_s
        self.request = request
        self.stats = stats
        self.curb = curb
        self.reservation_id: uuid.UUID | None = None
        self.status: ReservationStatus | None = None

    async def run(self) -> ReservationStatus | None:
        """Register, book, wait at the stop and follow the reservation to its end."""
        req = self.request
        try:
            r = await self.client.post(
                "/v1/riders", json={"display_name": "Sim rider", "language": req.language}
            )
            r.raise_for_status()
            headers = {"Authorization": f"Bearer {r.json()['token']}"}
            body: dict[str, object] = {
                "stop_id": req.stop_id,
                "route_id": req.route_id,
                "direction_id": req.direction_id,
            }
            if req.destination_stop_id:
                body["destination_stop_id"] = req.destination_stop_id
            sent = time.monotonic()
            self.stats.bookings_sent += 1
            r = await self.client.post(
                "/v1/reservations",
                json=body,
                headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
            )
            if r.status_code != 201:
                self.stats.errors[f"booking_{r.status_code}"] += 1
                logger.warning("booking refused (%d): %s", r.status_code, r.text[:200])
                return None
            data = r.json()
            rid = uuid.UUID(data["id"])
            self.reservation_id = rid
            if req.shows_up:
                self.curb.wait(rid, req.stop_id)
            self.stats.booked(rid, sent)
            self._saw(ReservationStatus(data["status"]))
            if self.follow == "sse":
                await self._follow(rid, headers)
            else:
                await self._poll(rid, headers)
        except httpx.HTTPError as exc:
            self.stats.errors["http"] += 1
            logger.warning("rider: %s", exc)
        finally:
            if self.reservation_id is not None and (self.status is None or self.status.is_final):
                self.curb.leave(self.reservation_id)
        return self.status

    def _saw(self, status: ReservationStatus) -> None:
        self.status = status
        if self.reservation_id is not None:
            self.stats.saw_status(self.reservation_id, status)

    async def _poll(self, rid: uuid.UUID, headers: dict[str, str]) -> None:
        while self.status is None or not self.status.is_final:
            await asyncio.sleep(self.poll_s)
            r = await self.client.get(f"/v1/reservations/{rid}", headers=headers)
            if r.status_code != 200:
                self.stats.errors[f"poll_{r.status_code}"] += 1
                continue
            data = r.json()
            if any(h.get("status") == "missed" for h in data.get("history", [])):
                self.stats.missed.add(rid)
            self._saw(ReservationStatus(data["status"]))

    async def _follow(self, rid: uuid.UUID, headers: dict[str, str]) -> None:
        url = f"/v1/reservations/{rid}/events"
        while self.status is None or not self.status.is_final:
            async with self.client.stream(
                "GET", url, headers=headers, timeout=httpx.Timeout(10, read=None)
            ) as response:
                if response.status_code != 200:
                    self.stats.errors[f"events_{response.status_code}"] += 1
                    return
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    try:
                        status = ReservationStatus(json.loads(line[5:])["status"])
                    except (ValueError, KeyError):
                        continue
                    self._saw(status)
                    if status.is_final:
                        return
            await asyncio.sleep(0.5)
