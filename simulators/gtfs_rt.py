"""The simulated buses as an agency's GTFS-Realtime VehiclePositions feed, over HTTP.

For the demo's "agency feed" mode (``bushail-sim demo --positions gtfs-rt``): a city
whose buses carry a driver display but no GPS of BusHail's. Each :class:`FeedVehicle`
puts its positions on a shared :class:`PositionBoard` instead of (``--positions both``:
besides) publishing them over MQTT, and :class:`FeedServer` serves the board on
127.0.0.1 as ``/vehicle-positions.pb`` (GTFS-Realtime 2.0, FULL_DATASET, with an ETag),
which the API polls like any agency's feed.

Entity timestamps are the wall-clock time each position was produced, as an agency's
AVL stamps them: the simulated clock (faster than real time, maybe another date) only
drives the timetable, and the API judges a feed's staleness by the real clock.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from types import TracebackType
from typing import Annotated, Any, Literal, Self

from fastapi import FastAPI, Header
from fastapi.responses import Response
from google.transit import gtfs_realtime_pb2

from broker_config.messages import VehiclePosition, VehicleStopStatus
from rider_api.serve import InProcessServer
from simulators.devices import SimVehicle
from simulators.motion import Fix
from simulators.network import SimTrip

__all__ = ["PATH", "FeedServer", "FeedVehicle", "PositionBoard", "PositionsMode"]

PATH = "/vehicle-positions.pb"
#: Where the demo's buses send their positions.
PositionsMode = Literal["mqtt", "gtfs-rt", "both"]
_STATUS = {
    VehicleStopStatus.INCOMING_AT: 0,
    VehicleStopStatus.STOPPED_AT: 1,
    VehicleStopStatus.IN_TRANSIT_TO: 2,
}


class PositionBoard:
    """The latest position of every bus, and the feed made of them (built on change)."""

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._latest: dict[str, tuple[VehiclePosition, int]] = {}
        self._bytes: bytes | None = None
        self.recorded = 0

    def record(self, vehicle_id: str, position: VehiclePosition) -> None:
        self._latest[vehicle_id] = (position, int(self._wall()))
        self._bytes = None
        self.recorded += 1

    def vehicles(self) -> set[str]:
        return set(self._latest)

    def feed(self) -> Any:
        feed = gtfs_realtime_pb2.FeedMessage()
        feed.header.gtfs_realtime_version = "2.0"
        feed.header.incrementality = gtfs_realtime_pb2.FeedHeader.FULL_DATASET
        feed.header.timestamp = max((ts for _p, ts in self._latest.values()), default=0) or int(
            self._wall()
        )
        for vehicle_id, (pos, ts) in sorted(self._latest.items()):
            entity = feed.entity.add()
            entity.id = vehicle_id
            vp = entity.vehicle
            if pos.trip_id:
                vp.trip.trip_id = pos.trip_id
            vp.trip.route_id = pos.route_id
            vp.trip.direction_id = pos.direction_id
            vp.vehicle.id = vehicle_id
            vp.position.latitude = pos.lat
            vp.position.longitude = pos.lon
            vp.stop_id = pos.stop_id
            vp.current_stop_sequence = pos.current_stop_sequence
            vp.current_status = _STATUS[pos.current_status]
            vp.timestamp = ts
        return feed

    def feed_bytes(self) -> bytes:
        if self._bytes is None:
            self._bytes = self.feed().SerializeToString()
        return self._bytes


def feed_app(board: PositionBoard) -> FastAPI:
    """The agency's feed server: one URL, an ETag, 304 when unchanged."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get(PATH)
    async def vehicle_positions(
        if_none_match: Annotated[str | None, Header()] = None,
    ) -> Response:
        body = board.feed_bytes()
        etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
        if if_none_match == etag:
            return Response(status_code=304, headers={"ETag": etag})
        return Response(body, media_type="application/x-protobuf", headers={"ETag": etag})

    return app


class FeedServer:
    """``async with FeedServer(board) as server:`` serves the board at ``server.url``."""

    def __init__(self, board: PositionBoard, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = InProcessServer(
            feed_app(board), host=host, port=port, log_config=None, access_log=False
        )

    @property
    def url(self) -> str:
        """The feed's full URL."""
        return self._server.url + PATH

    async def __aenter__(self) -> Self:
        await self._server.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._server.__aexit__(exc_type, exc, tb)


class FeedVehicle(SimVehicle):
    """A simulated bus whose positions go to the agency's feed (``board``), and over MQTT
    only when ``mqtt_positions``; its driver display is the real one, as ever."""

    def __init__(
        self, *args: Any, board: PositionBoard, mqtt_positions: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.board = board
        self.mqtt_positions = mqtt_positions
        #: Positions this bus published over MQTT itself.
        self.mqtt_published = 0

    async def _publish(self, trip: SimTrip, fix: Fix, t: float) -> None:
        self.board.record(
            self.vehicle_id,
            VehiclePosition(
                route_id=trip.route_id,
                direction_id=1 if trip.direction_id else 0,
                trip_id=trip.trip_id,
                lat=fix.lat,
                lon=fix.lon,
                stop_id=fix.stop_id,
                current_stop_sequence=fix.stop_sequence,
                current_status=fix.status,
                timestamp=self.clock.epoch(t),
            ),
        )
        if self.mqtt_positions:
            self.mqtt_published += 1
            await super()._publish(trip, fix, t)
            return
        if fix.status is VehicleStopStatus.INCOMING_AT:
            self.stats.incoming(self.vehicle_id, fix.stop_id)
        self.stats.positions += 1
