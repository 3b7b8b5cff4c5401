"""The booking workload: riders booking (some cancelling) over HTTP, retrying until answered."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from simulators.faults.const import COMBOS, TAP_COMBOS
from simulators.faults.processes import ApiProcess
from simulators.faults.waiting import Progress


@dataclass
class Booking:
    index: int
    rider_id: uuid.UUID
    headers: dict[str, str]
    stop_id: str
    direction_id: int
    cancel: bool
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    reservation_id: uuid.UUID | None = None
    cancelled: bool = False
    error: str | None = None

    @property
    def tap_target(self) -> bool:
        return (self.stop_id, self.direction_id) in TAP_COMBOS and not self.cancel


class Riders:
    """Riders booking (and some cancelling) through the HTTP API, retrying until answered."""

    def __init__(self, api: ApiProcess, *, answer_within_s: float) -> None:
        self.api = api
        self.answer_within_s = answer_within_s
        self.bookings: list[Booking] = []
        self.progress = Progress()
        self.client = httpx.AsyncClient(base_url=api.url, timeout=10.0)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _retrying(
        self,
        what: str,
        request: Callable[[], Awaitable[httpx.Response]],
        done: Callable[[httpx.Response], bool],
    ) -> httpx.Response:
        """Send ``request`` until ``done`` says the answer is final (errors and 5xx retry)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.answer_within_s
        delay = 0.05
        last = "no attempt"
        while loop.time() < deadline:
            try:
                response = await request()
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 500 and done(response):
                    return response
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            await asyncio.sleep(delay)
            delay = min(0.5, delay * 2)
        raise TimeoutError(f"{what}: no answer within {self.answer_within_s:g} s ({last})")

    async def sign_up(self, count: int) -> list[tuple[uuid.UUID, dict[str, str]]]:
        riders = []
        for i in range(count):
            body = {"display_name": f"rider {i}"}

            async def post(body: dict[str, str] = body) -> httpx.Response:
                return await self.client.post("/v1/riders", json=body)

            response = await self._retrying("sign-up", post, lambda r: r.status_code == 201)
            data = response.json()
            riders.append(
                (uuid.UUID(data["rider_id"]), {"Authorization": f"Bearer {data['token']}"})
            )
        return riders

    def plan(self, n: int, riders: list[tuple[uuid.UUID, dict[str, str]]]) -> None:
        per_rider = len(COMBOS)
        for i in range(n):
            stop_id, direction_id = COMBOS[i % per_rider]
            rider_id, headers = riders[i // per_rider]
            # Calls end too: waiting ones, and "arriving" ones (their alert ends with them).
            cancel = direction_id == 1 or (stop_id == "S2" and (i // per_rider) % 2 == 1)
            self.bookings.append(Booking(i, rider_id, headers, stop_id, direction_id, cancel))

    async def run(self, concurrency: int) -> None:
        queue: asyncio.Queue[Booking] = asyncio.Queue()
        for booking in self.bookings:
            queue.put_nowait(booking)

        async def worker() -> None:
            while not queue.empty():
                booking = queue.get_nowait()
                try:
                    await self._book(booking)
                    if booking.cancel and booking.reservation_id is not None:
                        await self._cancel(booking)
                except TimeoutError as exc:
                    booking.error = str(exc)
                self.progress.bump()

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def _book(self, booking: Booking) -> None:
        body = {"stop_id": booking.stop_id, "route_id": "R1", "direction_id": booking.direction_id}
        headers = {**booking.headers, "Idempotency-Key": booking.key}
        response = await self._retrying(
            f"booking {booking.index}",
            lambda: self.client.post("/v1/reservations", json=body, headers=headers),
            lambda r: True,
        )
        if response.status_code not in (200, 201):
            booking.error = f"refused: HTTP {response.status_code}: {response.text[:200]}"
            return
        booking.reservation_id = uuid.UUID(response.json()["id"])

    async def _cancel(self, booking: Booking) -> None:
        path = f"/v1/reservations/{booking.reservation_id}"

        def final(r: httpx.Response) -> bool:
            # A retry after a cancel whose answer was lost finds it final already.
            return r.status_code == 200 or (
                r.status_code == 409 and r.json().get("current_status") == "cancelled"
            )

        response = await self._retrying(
            f"cancel {booking.index}",
            lambda: self.client.delete(path, headers=booking.headers),
            lambda r: r.status_code in (200, 409),
        )
        booking.cancelled = final(response)
        if not booking.cancelled:
            booking.error = f"cancel refused: HTTP {response.status_code}: {response.text[:200]}"
